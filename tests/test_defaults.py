"""The default model and the example prompts have one home (`diffviz.models.defaults`): views, commands,
the lecture export and the dashboards ask it instead of naming "shapes" or "a red circle" themselves."""
import json
from pathlib import Path

import pytest

import diffviz
from diffviz.models import registry
from diffviz.models.defaults import (DEFAULT_MODEL, EXAMPLE_PROMPTS, example_conditions, example_prompts,
                                     model_name)

PACKAGE = Path(diffviz.__file__).parent


def test_model_name_prefers_the_bundled_model_then_a_tiny_stand_in(tmp_path, monkeypatch):
    assert DEFAULT_MODEL == "shapes" and model_name() == "shapes" and model_name("digits") == "digits"
    assert model_name("faces") == registry.bundled_names()[0], "another bundled model where the one asked is missing"
    monkeypatch.setattr(registry, "BUNDLED_DIR", tmp_path)  # a checkout without bundled weights
    assert (model_name(), model_name("digits")) == ("tiny-text", "tiny-class")


def test_example_prompts_and_conditions(text_model, class_model, uncond_model):
    bundled = json.loads((registry.BUNDLED_DIR / "shapes" / "model_index.json").read_text())["prompt_examples"]
    assert bundled == list(EXAMPLE_PROMPTS), "the shapes model folder records the same examples"
    assert example_prompts(text_model) == ["a red circle", "a blue square"], "a tiny model's own, in its few words"
    assert example_prompts(class_model, 2) == list(EXAMPLE_PROMPTS[:2]), "a model with none: the shared examples"
    assert example_conditions(text_model, 1) == ["a red circle"]
    assert example_conditions(class_model, 9) == [0, 1, 2, 3, 4] and example_conditions(class_model, 2) == [0, 1]
    assert example_conditions(uncond_model, 3) is None


def test_views_start_from_the_defaults(text_model):
    from diffviz.widgets import ClipSimilarity, ReverseProcess

    view = ReverseProcess(text_model, generate=False)
    assert view.w_cond.value == view.prompt == example_prompts(text_model)[0]
    assert ClipSimilarity(text_model, run=False).prompts == example_prompts(text_model, 4)


@pytest.mark.parametrize("part", ["widgets", "commands", "export", "servers", "dashboards"])
def test_no_other_home_names_the_default_model_or_prompts(part):
    folder = (PACKAGE.parent if part == "dashboards" else PACKAGE) / part  # the dashboards sit at the top
    assert folder.is_dir(), folder
    for f in sorted(folder.rglob("*")):
        if f.suffix not in (".py", ".ipynb"):
            continue
        text = f.read_text(encoding="utf-8")
        assert "a red circle" not in text, f"{f.relative_to(PACKAGE)} names an example prompt: use models.defaults"
        assert "tiny-text" not in text and "tiny-class" not in text, \
            f"{f.relative_to(PACKAGE)} picks a stand-in model: use models.defaults.model_name"
        assert "bundled_names()[0]" not in text and "bundled_names() or" not in text
