"""A model folder records its data set; FID, the guidance sweep, `evaluate` and the example views ask the
data-set registry by that name (never by the model's kind), and a model with no known data set is refused
with a short specific message (tiny real models)."""
import json

import numpy as np
import pytest

from diffviz.data.datasets import DATASETS, get_dataset
from diffviz.data.domain import data_image, domain_conditions, real_pool_size, real_set
from diffviz.errors import DiffvizError
from diffviz.metrics import model_fid
from diffviz.models.registry import BUNDLED_DIR
from diffviz.models.tiny import tiny_class_model, tiny_text_model


def without_dataset(model, dataset=None):
    """The model's own copy, recording `dataset` (None: no data set) — the session fixtures stay as they are."""
    import copy

    other = copy.copy(model)  # the same parts; only what the model states about itself differs
    other.info = model.info.replace(dataset=dataset)
    return other


def test_bundled_and_tiny_models_record_their_data_set(text_model, class_model, uncond_model):
    for name in ("shapes", "digits"):
        assert json.loads((BUNDLED_DIR / name / "model_index.json").read_text())["dataset"] == name
    assert (text_model.meta["dataset"], class_model.meta["dataset"], uncond_model.meta["dataset"]) == \
        ("shapes", "digits", "shapes")
    assert sorted(DATASETS) == ["digits", "shapes"]


def test_the_data_set_survives_save_and_load(tmp_path, class_model):
    from diffviz.models.pipeline import DiffusionModel

    class_model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "model_index.json").read_text())["dataset"] == "digits"
    assert DiffusionModel.from_pretrained(tmp_path / "m").meta["dataset"] == "digits"


def test_registry_answers_by_name():
    shapes, digits = get_dataset("shapes"), get_dataset("digits")
    a, b = shapes.real(6, kind="text"), shapes.real(6, part=1, kind="text")
    assert a.images.dtype == np.uint8 and a.images.shape == (6, 32, 32, 3) and len(a.conditions) == 6
    assert not np.array_equal(a.images, b.images) and a.name != b.name
    d = digits.real(5, kind="class")
    assert d.images.shape == (5, 16, 16, 3) and all(0 <= c < 10 for c in d.conditions)
    assert digits.real(5).conditions is None, "an unconditional model takes no conditions"
    x, label = digits.example(3, 16, 1)
    assert x.shape == (1, 16, 16) and isinstance(label, int)
    assert digits.training_conditions(0, num_classes=4) == [0, 1, 2, 3]
    with pytest.raises(DiffvizError, match="no captions for a text model"):
        digits.real(4, kind="text")
    with pytest.raises(DiffvizError, match="no data set 'cifar10'; known: digits, shapes"):
        get_dataset("cifar10")


def test_a_class_model_is_compared_with_its_recorded_data_set_not_its_kind(class_model):
    """A class model trained on the shapes colours would once have been compared with the digits."""
    on_shapes = without_dataset(class_model, "shapes")
    assert real_pool_size(class_model) == 1797 and real_pool_size(on_shapes) is None
    with pytest.raises(DiffvizError, match="labelled by captions, so it has no classes for a class model"):
        real_set(on_shapes, 4)
    assert real_set(without_dataset(tiny_text_model(), "shapes"), 3).images.shape == (3, 32, 32, 3)


def test_no_data_set_is_a_short_specific_error(class_model):
    bare = without_dataset(tiny_class_model(classifier=True))
    for call in (lambda: real_set(bare, 8), lambda: model_fid(bare, 8, steps=2),
                 lambda: domain_conditions(bare, 4)):
        with pytest.raises(DiffvizError, match="model 'tiny-class' records no data set") as err:
            call()
        assert "\n" not in str(err.value) and len(str(err.value)) < 200
    with pytest.raises(DiffvizError, match="FID needs real images"):
        real_set(bare, 8)
    x, cond = data_image(bare, 0)  # the views' example picture: a neutral one (shapes), class 0
    assert x.shape == (1, 16, 16) and cond == 0 and float(x.min()) >= -1 and float(x.max()) <= 1
    with pytest.raises(DiffvizError, match="records the data set 'cifar10', which diffviz does not have"):
        real_set(without_dataset(class_model, "cifar10"), 8)


def test_evaluate_and_fid_views_refuse_a_model_without_data_set(tmp_path):
    from diffviz.cli import main
    from diffviz.metrics.quality import model_quality
    from diffviz.widgets import FidExplorer, GuidanceSweep

    bare = without_dataset(tiny_class_model(classifier=True))
    with pytest.raises(DiffvizError, match="records no data set; evaluate measures"):
        model_quality(bare)
    f = FidExplorer(bare)
    assert f.w_go.disabled and "records no data set" in f.banner.value
    g = GuidanceSweep(bare, run=False, fid_n=16)
    assert g.w_fid.disabled
    g.scales = [1.0]
    g.run()
    assert "records no data set" in g.banner.value
    bare.save_pretrained(tmp_path / "bare")
    assert main(["fid", "--model", str(tmp_path / "bare"), "-n", "4", "--reference-n", "8", "--steps", "2"]) == 2


def test_evaluate_measures_a_tiny_model_by_its_recorded_data_set():
    """The model-quality path (`diffviz evaluate`, benchmarks/model_quality.py) end to end on a tiny model
    with a tiny digits classifier: the digits measures are picked because the model records "digits"."""
    from diffviz.metrics.quality import QualitySettings, model_quality

    report = model_quality(tiny_class_model(classifier=True),
                           QualitySettings(per_class=1, fid_n=16, steps=2, digits_guidance=(2.0,)))
    assert report["images"] == 10 and report["fid_n"] == 16
    assert 0 <= report["class_accuracy"] <= 1 and 0 <= report["class_accuracy_w2"] <= 1
    assert np.isfinite(report["fid"]) and report["fid"] >= 0 and report["fid_floor"] >= 0


def test_evaluate_shows_progress_with_time_left_and_takes_threads(tmp_path, capsys):
    """`diffviz evaluate` (issue 23: 40 min and one line) counts the images it generates on a progress bar with
    the time left, whose total is the images the measures then generate; --threads sets torch's threads."""
    import re

    import torch

    from diffviz.cli import main
    from diffviz.metrics.quality import QualitySettings

    folder = tiny_class_model(classifier=True).save_pretrained(tmp_path / "tiny-digits")
    quick = QualitySettings.quick()
    planned = 10 * quick.per_class + quick.fid_n  # class accuracy + FID; --quick sweeps no other guidance
    threads = torch.get_num_threads()
    try:
        assert main(["evaluate", str(folder), "--quick", "--threads", "1", "--json", str(tmp_path / "q.json")]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    assert f"({quick.steps} steps per image; progress and time left below)" in captured.out
    assert re.search(rf"evaluate tiny-class: 100%.*\b{planned}/{planned} \[[\d:]+<00:00", captured.err), captured.err[-300:]
    assert json.loads((tmp_path / "q.json").read_text())[str(folder)]["images"] == 10 * quick.per_class
    assert main(["evaluate", "digits", "--threads", "0"]) == 2
