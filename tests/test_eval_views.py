"""The evaluation views show the metrics' report: placeholders before a run, grids that fit the page,
one notice, legible numbers (tiny real models)."""
import ipywidgets as W
import numpy as np
import pytest
import torch
import traitlets

from diffviz.metrics import ClassifierFeatures
from diffviz.models.builders import DIGITS_CLASSIFIER_CONFIG, build_classifier
from diffviz.data.shapes import ATTRIBUTES, COLOURS, named_colour
from diffviz.widgets import ClipSimilarity, FidExplorer, tr
from diffviz.widgets.charts import SET_COLOURS, near_hue


def all_widgets(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from all_widgets(c)


@pytest.fixture
def digits_extractor():
    torch.manual_seed(0)
    return ClassifierFeatures(build_classifier(DIGITS_CLASSIFIER_CONFIG))


def test_fid_explorer_placeholder_grids_and_one_notice(class_model, digits_extractor):
    f = FidExplorer(class_model, extractor=digits_extractor)
    assert not [w for w in all_widgets(f) if isinstance(w, W.Image)], "no empty picture (a broken-image icon)"
    assert tr("fid.placeholder") in f.grids.children[0].value
    assert any(tr("fid.notice") in getattr(w, "value", "") for w in all_widgets(f)), "the what-to-notice line is shown"
    assert f.w_go.layout.width == "auto", "the button is as wide as its label"
    f.n, f.batch_size, f.steps = 32, 16, 2
    assert f.run() == f.report.fid > 0
    r = f.report
    assert r.floor >= 0 and r.floor_sets >= 2 and r.kid.std > 0 and r.kid.subset_size == 16 and f.kid.subsets == 20
    assert f.fid_curve.n[-1] == 32 and f.fid == r.fid and f.floor == r.floor
    assert f.banner.value.count("ℹ") == 1 and "32" in f.banner.value, "N ≤ dim is said once"
    assert f"{r.floor:.2f}" in f.result.value and f"{r.fid:.2f}" in f.result.value
    real, fake = f.grids.children
    for box, key in ((real, "fid.real_title"), (fake, "fid.generated_title")):
        label, image = box.children
        assert label.value == f"<b>{tr(key, k=32, n=32)}</b>", "each grid has its own label above it"
        assert isinstance(image, W.Image) and image.layout.max_width == "100%" and image.layout.height == "auto"
    assert [d.name for d in f.space.data if d.mode == "markers"] == [tr("fid.real"), tr("fid.generated")]
    assert len(f.curve.data) == 4, "generated and real-vs-real curves, each with its band"
    assert all(isinstance(v, float) for d in f.curve.data for v in d.y if v is not None)
    with pytest.raises(traitlets.TraitError, match="at least 16"):
        f.n = 2
    assert f.n == 32 and f.w_n.value == 32, "a refused N leaves the last one"


def set_colours(curve, space) -> dict:
    """{series name: colour} of an FID curve chart (lines and their bands) and feature-space chart (points, outlines)."""
    lines = {d.name: d.line.color for d in curve.data if d.mode == "lines+markers"}
    bands = [d.fillcolor for d in curve.data if d.fill == "toself"]
    points = {d.name: d.marker.color for d in space.data if d.mode == "markers"}
    outlines = [d.line.color for d in space.data if d.mode == "lines"]
    assert bands == list(lines.values()) and outlines == list(points.values()), "bands and outlines in their set's colour"
    return {**lines, **points}


def test_fid_charts_give_each_set_one_colour(class_model, digits_extractor):
    f = FidExplorer(class_model, extractor=digits_extractor)
    f.n, f.batch_size, f.steps = 32, 16, 2
    f.run()
    colours = set_colours(f.curve, f.space)
    assert colours == {tr("fid.generated_curve"): SET_COLOURS["generated"], tr("fid.floor_curve"): SET_COLOURS["floor"],
                       tr("fid.generated"): SET_COLOURS["generated"], tr("fid.real"): SET_COLOURS["real"]}, colours
    assert len(set(SET_COLOURS.values())) == 3, "generated, real and the real-vs-real floor never share a colour"


def test_clip_per_step_lines_take_the_colour_their_prompt_names_and_the_picture_shows():
    import diffviz

    model = diffviz.load("shapes")
    prompts = ["a red circle", "a big blue square at the top left", "a circle", "a small red square"]
    c = ClipSimilarity(model, prompts=prompts, run=False)
    c.steps = 12
    c.run()
    lines = {d.name: d.line for d in c.per_step.data}
    drawn = model.classify(c.trajectory.final_images())["colour"]
    for i, prompt in enumerate(prompts):
        if named_colour(prompt):
            picture = "#{:02x}{:02x}{:02x}".format(*COLOURS[ATTRIBUTES["colour"][int(drawn[i])]])
            assert lines[prompt].color == named_colour(prompt) == picture, (prompt, lines[prompt].color, picture)
    assert not any(near_hue(lines["a circle"].color, lines[p].color) for p in prompts[:2]), "no second red or blue"
    assert lines["a red circle"].dash != lines["a small red square"].dash, "two red lines told apart"


def test_fid_explorer_refuses_n_beyond_the_data(class_model, digits_extractor):
    f = FidExplorer(class_model, extractor=digits_extractor)
    assert f.w_n.max == 896, "digits has 1797 images: two disjoint sets of at most 898"
    with pytest.raises(traitlets.TraitError, match="N ≤ 898"):
        f.n = 900
    f.w_n.value = 2  # from the page: the slider clamps to its minimum
    assert f.n == 16


def test_clip_numbers_legible_and_caption(text_model):
    c = ClipSimilarity(text_model, prompts=["a red circle", "a blue square"], run=False)
    assert c.images_view is None and tr("clip.placeholder") in c.images_box.children[0].value
    assert tr("clip.per_step_caption") in c.per_step_caption.value
    assert any(tr("clip.notice") in getattr(w, "value", "") for w in all_widgets(c))
    c.steps = 3
    c.run()
    assert c.matrix.shape == (2, 2) and c.scores.shape == (3, 2) and len(c.per_step.data) == 2
    heat = c.heatmap.data[0]
    assert heat.texttemplate == "%{z:.2f}" and ":.2f" in heat.hovertemplate
    assert all(type(v) is float for row in heat.z for v in row), "Python floats, not float32 noise"
    assert np.allclose(np.asarray(heat.z), c.matrix, atol=1e-6)
    assert c.images_box.children == (c.images_view,) and c.images_view.layout.max_width == "100%"
    c.w_prompts.value = "  \n "
    c.run()
    assert "at least one prompt" in c.banner.value
