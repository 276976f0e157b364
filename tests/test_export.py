"""Static export: one self-contained HTML file that carries plotly.js, the player and the frames."""
import base64
import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from diffviz.data.shapes import named_colour
from diffviz.export import Section, export_html
from diffviz.i18n import tr
from diffviz.models.defaults import example_prompts
from diffviz.widgets.charts import SET_COLOURS
from diffviz.widgets.player import player_module
from test_eval_views import set_colours


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
    assert json.dumps(player_module()) in page, "the same player module (with its key guard) is inlined"
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


# ---- the whole lecture ------------------------------------------------------------------------
def _own_html(page: str) -> str:
    """The page without the inlined plotly.js and player module (their code names URLs it never fetches)."""
    page = re.sub(r"<script>/\*\*\s*\n\* plotly\.js.*?</script>", "<script></script>", page, count=1, flags=re.S)
    return re.sub(r"const code = .*?;\nconst url", "const url", page, count=1, flags=re.S)


def _assert_fetches_nothing(page: str) -> None:
    own = _own_html(page)
    assert len(own) < len(page) - 3_000_000, "the plotly bundle was found and set aside"
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=(?![\"']?data:)|<iframe|@import",
                         own), "no script, stylesheet, picture or frame is fetched"
    assert not re.search(r"url\((?!\s*[\"']?data:)", own), "fonts and pictures are inlined (data: URLs)"
    assert not re.search(r"(src|href)=[\"']?https?:", own), "no http(s) address in an attribute that loads"
    assert "fetch(" not in own and "XMLHttpRequest" not in own


def test_lecture_holds_every_chapter_the_text_model_can_show(tmp_path, text_model):
    from diffviz.export.lecture import available, lecture_sections

    timings = []
    sections = lecture_sections(text_model, steps=6, quick=True, log=lambda name, s: timings.append(name))
    keys = [s.key for s in sections]
    assert keys == ["forward", "reverse", "noise", "guidance", "prompts", "schedulers", "clip", "latent",
                    "wordmaps"] == available(text_model)
    assert timings == keys
    assert all(s.title and s.text and s.notice for s in sections), "each chapter has its explanation and what to notice"
    by = {s.key: s for s in sections}
    noise = by["noise"].players[0]
    rows = {k: v.shape for k, v in noise["rows"].items()}
    assert len({s[:2] for s in rows.values()}) == 1 and len(noise["step_labels"]) == next(iter(rows.values()))[0]
    assert any("ε" in k for k in rows) and any("x̂0" in k for k in rows), rows
    assert all(s.startswith("t = ") and "MSE" in s for s in noise["step_labels"])
    assert by["guidance"].figures and by["clip"].figures, "CLIP score per w; CLIP matrix, projection and per-step score"
    assert [f.data[0].type for f in by["clip"].figures][:2] == ["heatmap", "scatter"]
    for chart in (by["clip"].figures[2], by["guidance"].figures[0]):  # CLIP score per step, per w: one line a prompt
        assert {d.name: d.line.color for d in chart.data} == {p: named_colour(p) for p in example_prompts(text_model, 4)}
    conds = min(2, len(by["reverse"].players[0]["column_labels"]))
    assert sum(isinstance(p, str) and "dv-pictures" in p for p in by["schedulers"].parts) == 4 * conds, \
        "one grid per scheduler for each of (up to) two conditions"
    prompts = by["prompts"].players[0]
    assert prompts["column_labels"][:2] == ["A", "B"] and next(iter(prompts["rows"].values())).shape[1] == 3
    a, b = next(iter(prompts["rows"].values()))[-1, :2]
    assert (a != b).any(), "two prompts, one seed: different pictures"
    words = by["wordmaps"].players[0]
    pictures, maps = words["rows"].values()
    assert pictures.shape == maps.shape and pictures.shape[1] == len(words["column_labels"]) >= 3
    assert words["column_labels"][0] == "<start>" and words["column_labels"][-1] == "<end>"
    assert not (pictures == maps).all(), "the maps are laid over the pictures"
    assert by["wordmaps"].figures and by["prompts"].figures, "share of attention per word; |Δx̂0| per step"
    page = export_html(tmp_path / "all.html", sections, intro="intro").read_text(encoding="utf-8")
    for key in keys:
        assert f'<section id="{key}">' in page and f'href="#{key}"' in page
    assert page.count('class="dv-notice-box"') == len(keys)
    assert page.count('class="dv-export-player"') == 5, "forward, reverse, the noise pairs, two prompts, word maps"
    assert page.count("Plotly.newPlot(") >= 6
    assert "data:font/woff2" not in page, "English pages carry no CJK font"
    _assert_fetches_nothing(page)


def test_chinese_lecture_for_a_class_model(tmp_path, class_model):
    from diffviz.i18n import set_language
    from diffviz.i18n.fonts import is_cjk
    from diffviz.export.lecture import lecture_sections

    set_language("zh")
    try:
        sections = lecture_sections(class_model, prompts=["3", "7"], steps=4, quick=True)
        page = export_html(tmp_path / "zh.html", sections, lang="zh").read_text(encoding="utf-8")
    finally:
        set_language("en")
    assert [s.key for s in sections] == ["forward", "reverse", "noise", "guidance", "schedulers"]
    assert '<html lang="zh">' in page and "data:font/woff2;base64," in page, "the CJK subset font is inlined"
    assert "<b>章节</b>" in page and page.count("注意看") >= len(sections)
    assert all(any(map(is_cjk, h)) for h in re.findall(r"<h2>(.*?)</h2>", page))
    reverse = json.loads(re.findall(r'<div class="dv-export-player"><script type="application/json">(.*?)</script>',
                                    page)[1])
    assert reverse["column_labels"] == ["3", "7"] and reverse["zoom"] * 16 >= 128, "16-px digits shown ≥ 128 px"
    _assert_fetches_nothing(page)


def test_fid_chapter_on_the_digits_model(tmp_path):
    import diffviz
    from diffviz.export.lecture import lecture_sections

    (fid,) = lecture_sections(diffviz.load("digits"), sections=["fid"], quick=True)
    assert fid.key == "fid" and "FID = <b>" in fid.parts[0] and "dv-pictures" in fid.parts[1]
    curve, space = fid.figures
    assert curve.layout.xaxis.title.text == "N" and len(curve.data) >= 4, "generated and floor curves with bands"
    assert list(curve.data[1].x)[-1] == 64 and space.data[0].type == "scatter"
    assert set_colours(curve, space) == {  # the same colour per set as the FID view's charts
        tr("fid.generated_curve"): SET_COLOURS["generated"], tr("fid.floor_curve"): SET_COLOURS["floor"],
        tr("fid.generated"): SET_COLOURS["generated"], tr("fid.real"): SET_COLOURS["real"]}


def test_sections_are_checked_before_any_work(text_model, class_model):
    from diffviz.errors import DiffvizError
    from diffviz.export.lecture import check_sections

    assert check_sections(text_model, ["latent", "forward"]) == ["forward", "latent"], "lecture order"
    with pytest.raises(DiffvizError, match=r"unknown section 'noize'; allowed: forward, reverse, noise"):
        check_sections(text_model, ["noize"])
    with pytest.raises(DiffvizError, match=r"cannot show section 'clip'.*it can show: forward"):
        check_sections(class_model, ["clip"])


def test_cli_sections_and_refusals(tmp_path, capsys):
    from diffviz.cli import main

    out = tmp_path / "l.html"
    assert main(["export", "-o", str(out), "--model", "tiny-class", "--sections", "clip"]) == 2
    assert "cannot show section 'clip'" in capsys.readouterr().err and not out.exists()
    assert main(["export", "-o", str(out), "--model", "tiny-class", "--sections", ","]) == 2
    assert "--sections needs at least one of" in capsys.readouterr().err
    threads = torch.get_num_threads()
    try:
        assert main(["export", "-o", str(out), "--model", "tiny-class", "--steps", "3", "--quick",
                     "--sections", "reverse,forward", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1, "--threads sets torch's CPU threads"
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "exporting 2 chapters of tiny-class (forward, reverse)" in printed and "2 chapters" in printed
    assert re.search(r"\[1/2\] forward: [\d.]+ s · about \d+ s left\n", printed), "progress with the time left"
    assert re.search(r"\[2/2\] reverse: [\d.]+ s\n", printed), "the last chapter: nothing left"
    assert main(["export", "-o", str(out), "--model", "tiny-class", "--threads", "0"]) == 2
    page = out.read_text(encoding="utf-8")
    assert page.index('id="forward"') < page.index('id="reverse"') and 'id="noise"' not in page


def test_the_file_is_written_atomically(tmp_path):
    from diffviz.utils import TMP_PREFIX

    path = tmp_path / "lecture.html"
    frames = np.zeros((2, 1, 4, 4, 3), np.uint8)
    export_html(path, [Section("first", players=[{"rows": {"x": frames}}])])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="uint8"):  # a failing export leaves the old page whole
        export_html(path, [Section("second", players=[{"rows": {"x": frames.astype(float)}}])])
    assert path.read_bytes() == before
    export_html(path, [Section("third", players=[{"rows": {"x": frames}}])])
    assert b"third" in path.read_bytes()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)], "no temp file left behind"


def test_unconditional_model_gets_the_chapters_without_conditions(tmp_path, uncond_model):
    from diffviz.export.lecture import lecture_sections

    sections = lecture_sections(uncond_model, steps=3, quick=True)
    assert [s.key for s in sections] == ["forward", "reverse", "noise", "schedulers"]
    assert sections[1].players[0]["column_labels"] == [] and len(sections[3].parts) == 4, "one grid per scheduler"


def test_the_chinese_lectures_default_model_still_exports_word_maps():
    """In zh the export's default model reads Chinese (the bilingual encoder); its word maps come from the same
    bundled model's English encoder, as the WordMaps view's do."""
    import diffviz
    from diffviz.export.lecture import available, word_map_model
    from diffviz.models.bilingual import BilingualConditioner

    both = diffviz.load("shapes", text_encoder="bilingual")
    assert "wordmaps" in available(both) and isinstance(both.conditioner, BilingualConditioner)
    english = word_map_model(both)
    assert type(english.conditioner).__name__ == "TextConditioner" and english.name == both.name
    traj = english.sample("a big blue square at the top left", steps=2, seed=0, record_attention=True)
    assert traj.attention is not None and "square" in traj.tokens[0]
