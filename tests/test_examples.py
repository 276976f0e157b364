"""The examples the chapters and views start from show what their text says, computed on the bundled models
(not hoped): the word maps' default seed draws the square its prompt names, and chapter 6's quoted FIDs are the
ones it prints."""
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

import diffviz
from diffviz.data.shapes import ATTRIBUTES
from diffviz.metrics.word_maps import object_mask
from diffviz.models.defaults import WORD_MAP_SEED, WORD_MAP_STEPS, word_map_prompt

CHAPTERS = Path(diffviz.__file__).resolve().parents[1] / "notebooks"  # the top of the source tree


@pytest.fixture(scope="module")
def shapes():
    return diffviz.load("shapes")


def test_the_word_maps_default_draws_what_its_prompt_says(shapes):
    from diffviz.widgets import WordMaps

    view = WordMaps(shapes, generate=False)
    assert (view.prompt, view.seed, view.steps) == (word_map_prompt(shapes), WORD_MAP_SEED, WORD_MAP_STEPS)
    assert view.prompt == "a big blue square at the top left"
    image = shapes.sample(view.prompt, steps=view.steps, guidance=view.guidance, seed=view.seed).final_images()
    judged = shapes.classify(image)
    assert ATTRIBUTES["shape"][judged["shape"][0]] == "square" and ATTRIBUTES["colour"][judged["colour"][0]] == "blue"
    mask = object_mask(image)[0]
    ys, xs = np.nonzero(mask)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert mask.sum() / box >= 0.9, f"a clean square fills its bounding box, not a U or a blob: {mask.sum() / box:.2f}"
    assert ys.mean() < 16 and xs.mean() < 16, "at the top left"


@pytest.mark.slow  # 256 images and the floor's real sets (~50 s of CPU)
def test_chapter_6_quotes_the_fid_it_prints(shapes):
    from diffviz.widgets import FidExplorer

    nb = nbformat.read(CHAPTERS / "06_evaluation.ipynb", as_version=4)
    code = next(c.source for c in nb.cells if "fid.n, fid.steps =" in c.source)
    n, steps = map(int, re.search(r"fid\.n, fid\.steps = (\d+), (\d+)", code).groups())
    fid = FidExplorer(shapes)
    fid.n, fid.steps = n, steps
    fid.run()
    r = fid.report
    assert r.n > r.dim, "no singular covariance at the chapter's N"
    assert r.above_floor, "the text says the generated FID stands above the floor's spread"
    text = next(c.source for c in nb.cells if c.cell_type == "markdown" and "FID depends strongly" in c.source)
    curve = dict(zip(map(int, r.curve.n), r.curve.mean))
    quoted = [(float(v), int(k)) for v, k in re.findall(r"≈ (\d+) at N = (\d+)", text)]
    assert quoted and all(k in curve for _, k in quoted), quoted
    for value, k in quoted:
        assert abs(value - curve[k]) <= 0.1 * curve[k], f"the text quotes ≈ {value:g} at N = {k}, the chapter prints {curve[k]:.1f}"
    assert f"≈ {r.floor:.0f}, spread ± {r.floor_std:.1f}" in text, f"floor {r.floor:.1f} ± {r.floor_std:.1f}"
    assert f"FID (≈ {r.fid:.0f})" in text
