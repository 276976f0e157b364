"""Static export: one self-contained HTML file that carries plotly.js, the player and the frames."""
import base64
import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from diffviz.export import Section, export_html
from diffviz.widgets.player import STATIC


def test_page_is_self_contained_with_frames_and_chart(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8, 3), dtype=np.uint8)
    fig = go.Figure(go.Scatter(y=[1.0, 0.5, 0.1], name="ᾱ_t"))
    path = export_html(tmp_path / "lecture.html", [
        Section("Forward", "noise <b>added</b>", players=[{"rows": {"x_t": frames}, "step_labels": list("abcd"),
                                                          "zoom": 5, "step": 2}], figures=[fig]),
        Section("Empty section")], title="Lecture <1>")
    page = path.read_text(encoding="utf-8")
    assert "<title>Lecture &lt;1&gt;</title>" in page
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page), "no script or stylesheet is fetched"
    assert "Plotly" in page and len(page) > 3_000_000, "plotly.js is inlined"
    assert json.dumps((STATIC / "player.js").read_text()) in page, "the same player module is inlined"
    state = json.loads(re.search(r'<div class="dv-export-player"><script type="application/json">(.*?)</script>',
                                 page).group(1))
    assert state["step"] == 2 and state["zoom"] == 5 and state["step_labels"] == list("abcd")
    got = np.frombuffer(base64.b64decode(state["frames_b64"]), np.uint8).reshape(frames.shape)
    np.testing.assert_array_equal(got, frames)
    assert page.count("<section>") == 2 and page.count("Plotly.newPlot(") == 1, "one chart, two sections"


def test_labels_follow_the_language(tmp_path):
    frames = np.zeros((2, 1, 4, 4, 3), np.uint8)
    page = export_html(tmp_path / "zh.html", [Section("前向", players=[{"rows": {"x_t": frames}}])],
                       lang="zh").read_text(encoding="utf-8")
    assert '<html lang="zh">' in page
    from diffviz.widgets.i18n import labels_for
    assert json.dumps(labels_for("player", "zh")["step"]) in page


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        export_html(tmp_path / "x.html", [Section("x", players=[{"rows": {"x": np.zeros((2, 1, 4, 4, 3))}}])])
    with pytest.raises(TypeError, match="Section"):
        export_html(tmp_path / "x.html", ["not a section"])
    assert not (tmp_path / "x.html").exists()
