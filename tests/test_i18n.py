"""The Chinese UI: every label in both languages, none left in English in zh mode, and a font that has them all.

A viewer in zh mode reads only Chinese, symbols (x_t, ε̂, ᾱ, N(0, 1)), numbers, code names shown beside
their Chinese name (线性（linear）), model and method names (DDIM, CLIP, FID, UNet) and the inputs
they typed (prompts). `visible_texts` collects what a viewer reads from a widget tree: HTML and labels,
control descriptions and options, tab titles, player labels and chart titles, axes and legends.
"""
import html
import json
import re
import string

import ipywidgets as W
import plotly.graph_objects as go
import pytest

from diffviz.i18n import I18N_DIR, _table, set_language, tr
from diffviz.i18n import _current as current_language
from diffviz.i18n.fonts import FAMILY, FONT_FILE, INLINE_FAMILY, is_cjk

fonttools = pytest.importorskip("fontTools", reason="fonttools is in the dev extra (pip install -e '.[dev]')")

# Names and symbols a Chinese page shows as they are.
ALLOWED = {
    "x_t", "x_0", "x0", "ε", "CLIP", "FID", "KID", "PCA", "PSNR", "dB", "RGB", "SNR", "MSE", "UNet", "VAE", "Stable",
    "Diffusion", "DDPM", "DDIM", "DPM", "Solver", "Euler", "ddpm", "ddim", "dpm", "euler", "Fréchet", "Inception",
    "UNet2DConditionModel", "start_of_text", "end_of_text", "diffviz", "max", "cos", "tiny", "open_clip", "e", "g", "N", "T", "t", "w", "x", "M", "a", "b", "extractor", "InceptionFeatures",
}


def strip_tags(s: str) -> str:
    s = re.sub(r"<style.*?</style>", " ", s, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", s))


def figure_texts(fig) -> list[str]:
    lay, out = fig.layout, []
    titles = [lay.title] + [getattr(lay, k).title for k in lay if re.match(r"^[xy]axis\d*$", k)]
    out += [ti.text for ti in titles if ti is not None and ti.text]
    out += [a.text for a in lay.annotations or [] if a.text]
    for trace in fig.data:
        if trace.name and trace.showlegend is not False:
            out.append(trace.name)
        cb = getattr(trace, "colorbar", None)
        if cb is not None and cb.title and cb.title.text:
            out.append(cb.title.text)
    return out


def visible_texts(w, seen=None) -> list[str]:
    """Everything a viewer reads in a widget tree (hidden style sheets aside)."""
    seen = set() if seen is None else seen
    if id(w) in seen:
        return []
    seen.add(id(w))
    if isinstance(w, go.FigureWidget):
        return figure_texts(w)
    out = []
    if isinstance(w, (W.HTML, W.HTMLMath, W.Label)) and w.value and "<style" not in w.value:
        out.append(strip_tags(w.value))
    for attr in ("description", "tooltip", "placeholder"):
        v = getattr(w, attr, None)
        if isinstance(v, str) and v.strip("\u200b"):
            out.append(strip_tags(v))
    out += [str(label) for label in getattr(w, "_options_labels", ())]
    if isinstance(w, (W.Tab, W.Accordion)):
        out += [x or "" for x in w.titles]
    if type(w).__name__ == "FramePlayer":
        out += list(w.labels.values()) + w.step_labels + w.column_labels + w.row_labels
    for c in getattr(w, "children", ()) or ():
        out += visible_texts(c, seen)
    return out


def english_words(text: str, inputs: set[str]) -> list[str]:
    """Words of English in a visible text, once names, symbols and the user's own inputs are left out."""
    for given in sorted((i for i in inputs if i.strip()), key=len, reverse=True):
        text = re.sub(r"(?<!\w)" + re.escape(given) + r"(?!\w)", " ", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"|‘[^’]*’", " ", text)  # quoted data (a caption, a prompt)
    text = re.sub(r"(?<=[\u3400-\u9fff])（[^）]*）", " ", text)  # an English gloss after a Chinese term: 线性（linear）
    text = re.sub(r"[A-Za-z]+\([^)]*\)", " ", text)  # code, e.g. diffviz.load('shapes')
    return [w for w in re.findall(r"[A-Za-zé][A-Za-zé_0-9]*", text) if w not in ALLOWED and not re.fullmatch(r"\d+\w*", w)]


@pytest.fixture
def zh():
    before = list(current_language)
    set_language("zh")
    yield
    current_language[:] = before


def test_both_languages_have_every_label_with_the_same_fields():
    en, zh_table = _table("en"), _table("zh")
    assert set(en) == set(zh_table), "the same sections"
    for section in en:
        assert set(en[section]) == set(zh_table[section]), f"{section}: labels in only one language: " \
            f"{set(en[section]) ^ set(zh_table[section])}"
        for key, text in en[section].items():
            fields = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)
            assert fields(text) == fields(zh_table[section][key]), f"{section}.{key}: different {{fields}}"


def test_chinese_labels_are_chinese():
    """Each zh.json label is Chinese (or a symbol / name the English label also is)."""
    en, zh_table = _table("en"), _table("zh")
    for section, labels in zh_table.items():
        for key, text in labels.items():
            if text == en[section][key]:
                assert not english_words(strip_tags(text), set()), f"{section}.{key} untranslated: {text!r}"
            elif english_words(strip_tags(text), set()):
                assert any(map(is_cjk, text)), f"{section}.{key} has English and no Chinese: {text!r}"


@pytest.mark.slow  # builds and runs every view
def test_every_view_in_zh_mode_shows_no_english(zh, text_model, class_model):
    from diffviz.widgets import (ClipSimilarity, Explainer, FidExplorer, GuidanceSweep, NoiseInspector, ReverseProcess,
                                 SchedulerCompare)

    views = [Explainer(text_model)]
    for name in views[0].tab_names:
        views[0].show_tab(name)
    views += [ReverseProcess(class_model, steps=4), NoiseInspector(class_model), GuidanceSweep(class_model),
              SchedulerCompare(class_model), ClipSimilarity(text_model), FidExplorer(text_model)]
    for v in [*views[0].views.values(), *views[1:]]:
        getattr(v, "wait", lambda *a: None)(600)
    inputs = {text_model.name, class_model.name}
    for v in [*views[0].views.values(), *views[1:]]:
        for value in (v.settings() if hasattr(v, "settings") else {}).values():
            for s in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(s, str):
                    inputs |= {s, *s.split()}
    texts = [s for v in views for s in visible_texts(v)]
    unknown = tr("notices.unknown_words", words="(.*?)").split("(.*?)")  # a notice names the prompt's own words
    inputs |= {w for s in texts for m in re.findall(re.escape(unknown[0]) + "(.*?)" + re.escape(unknown[1]), s)
               for w in m.split(", ")}
    assert len(texts) > 150, "the harvest reached every view"
    assert sum(any(map(is_cjk, s)) for s in texts) > 100
    left = {s: english_words(s, inputs) for s in texts}
    left = {s: w for s, w in left.items() if w}
    assert not left, "English left on a Chinese page:\n" + "\n".join(f"{w}: {s[:100]!r}" for s, w in left.items())


def test_notices_and_refusals_a_lecturer_meets_are_chinese_in_zh_mode(zh, text_model):
    """Unknown words, a too-long prompt, refused list boxes and seeds: in Chinese, the typed text as it was."""
    from diffviz.widgets import GuidanceSweep, SchedulerCompare

    def banner(view, kind: str) -> str:
        view.wait(600)
        assert f'class="dv-{kind}"' in view.banner.value, view.banner.value
        text = strip_tags(view.banner.value).strip(" ⚠ℹ")
        typed = view.w_cond.value
        assert any(map(is_cjk, text)) and not english_words(text, {typed, *typed.split()}), f"English left: {text!r}"
        return text

    g = GuidanceSweep(text_model, run=False)
    g.w_cond.value, g.w_scales.value = "红色的圆 zzz", "1"
    g.run_boxes()
    assert "zzz, 红色的圆" in banner(g, "notice")  # the unknown words, in any script, named as typed
    g.w_cond.value = "红色的圆" * 3
    g.run_boxes()
    assert "红色的圆红色的圆红色的圆" in banner(g, "error") and g.w_cond.value == "红色的圆" * 3
    for box, text in ((g.w_scales, "-1, 2"), (g.w_scales, "abc"), (g.w_seed, -1), (g.w_fid, -3)):
        box.value = text
        g.run_boxes()
        banner(g, "error")
    s = SchedulerCompare(text_model, run=False)
    for text in ("0, 5", "abc"):
        s.w_steps.value = text
        s.run_boxes()
        banner(s, "error")
        assert s.w_steps.value == text  # the refused list stays in the box, refused again on Run
    set_language("en")  # the English page reads as before
    g.w_cond.value = "a red circle zzz"
    g.w_scales.value = "1"
    g.run_boxes()
    g.wait(600)
    assert "words never seen in training: zzz" in g.banner.value


def test_player_step_labels_follow_the_language(zh, class_model):
    traj = class_model.sample([1], steps=3, seed=0)
    assert traj.step_labels()[0].startswith("第 1/3 步 · t=")
    set_language("en")
    assert traj.step_labels()[0].startswith("step 1/3 · t=")


def test_english_labels_unchanged(text_model):
    """The English path reads as before (option values are the code names, the step label says 'step')."""
    from diffviz.widgets import ForwardProcess

    f = ForwardProcess(schedule="cosine")
    assert tr("options.cosine", lang="en") == "cosine" and f.w_schedule.value == "cosine"
    assert list(f.w_schedule._options_labels) == ["linear", "scaled_linear", "cosine"]


# ---- the shipped CJK font -----------------------------------------------------------------------
def test_font_has_every_character_the_chinese_ui_uses():
    from diffviz.i18n.build_font import font_characters, ui_characters

    needed = ui_characters()
    assert sum(map(is_cjk, needed)) > 500, "zh.json, the chapters and the prompt words"
    missing = needed - font_characters()
    assert not missing, (f"{FONT_FILE.name} lacks {''.join(sorted(missing))!r}: rebuild it with "
                         "`python -m diffviz.i18n.build_font --source NotoSansCJK-Regular.ttc`")
    zh_chars = {c for s in json.dumps(_table("zh"), ensure_ascii=False) for c in s if is_cjk(c)}
    assert zh_chars <= needed


def test_font_covers_every_chapter_and_every_caption_character():
    """Each chapter (zh, and the English ones' Chinese prompts; chapter 5's encoder swap included) and every
    character a Chinese caption or prompt of the shapes data can hold (the bilingual encoder's token rows)."""
    from diffviz.data.shapes import vocabulary_zh
    from diffviz.i18n.build_font import _notebook_text, font_characters
    from diffviz.i18n.fonts import needs_font

    have = font_characters()
    chapters = sorted((I18N_DIR.parents[1] / "notebooks").rglob("*.ipynb"))
    assert any(p.parent.name == "zh" and p.name.startswith("05") for p in chapters)
    for path in chapters:
        text = _notebook_text(path)
        missing = {c for c in text if needs_font(c)} - have
        assert not missing, f"{path.parent.name}/{path.name}: the font lacks {''.join(sorted(missing))!r} (rebuild it)"
    ch5 = _notebook_text(I18N_DIR.parents[1] / "notebooks" / "zh" / "05_latent_diffusion.ipynb")
    assert sum(map(is_cjk, ch5)) > 300 and "左上角有一个小的蓝色正方形" in ch5
    assert set(vocabulary_zh()) <= have, "".join(sorted(set(vocabulary_zh()) - have))


def test_views_carry_the_font_in_zh_mode_once_per_kernel():
    """JupyterLab, Notebook 7 and Solara serve no diffviz font: a view's own style sheet carries it (inlined),
    in zh mode; every view shares one widget, so the font's bytes travel once."""
    from diffviz.widgets import Explainer, ForwardProcess

    def font_sheets(w):
        return [c for c in w.children[0].children if "dv-cjk-font" in c._dom_classes]

    set_language("en")
    assert not font_sheets(ForwardProcess()), "English pages with an English model: no font"
    set_language("zh")
    try:
        a, b = ForwardProcess(), ForwardProcess(schedule="linear")
        e = Explainer("tiny-text", tabs=["forward"])
        sheets = font_sheets(a) + font_sheets(b) + font_sheets(e)
        assert len(sheets) == 3 and sheets[0] is sheets[1] is sheets[2]
        css = sheets[0].value
        assert css.startswith("<style>") and f'font-family: "{INLINE_FAMILY}"; src: url("data:font/woff2;base64,' in css
        assert ".diffviz-view" in css and ".diffviz-explainer .lm-TabBar-tab" in css and ".jp-RenderedMarkdown" in css
        assert sheets[0].layout.display == "none" and not strip_tags(css).strip()
    finally:
        current_language[:] = []


def test_font_is_small_open_licensed_and_packaged():
    from fontTools.ttLib import TTFont

    assert 20_000 < FONT_FILE.stat().st_size < 400_000
    with TTFont(str(FONT_FILE)) as font:
        assert font.flavor == "woff2"
        assert "Open Font License" in font["name"].getDebugName(13)
    licence = (FONT_FILE.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and "Noto Sans CJK SC" in licence
    assert "widgets/static/fonts/*" in (I18N_DIR.parents[1] / "pyproject.toml").read_text()


def test_voila_template_serves_the_font(tmp_path):
    from diffviz.voila import TEMPLATE, install_template

    root = install_template(tmp_path) / "voila" / "templates" / TEMPLATE
    assert (root / "static" / "fonts" / FONT_FILE.name).read_bytes() == FONT_FILE.read_bytes()
    index = (root / "index.html.j2").read_text()
    assert f'font-family: "{FAMILY}"; src: url("{{{{resources.base_url}}}}voila/templates/{TEMPLATE}/static/fonts/' in index
    stack = re.search(r"--jp-ui-font-family: ([^;]+);", index).group(1)
    assert stack.index("system-ui") < stack.index("Noto Sans CJK SC") < stack.index(FAMILY), "system fonts first"


def test_chinese_export_inlines_the_font_english_does_not(tmp_path, class_model):
    from diffviz.cli import main

    for lang in ("zh", "en"):
        assert main(["export", "-o", str(tmp_path / f"{lang}.html"), "--model", "tiny-class", "--steps", "3",
                     "--lang", lang]) == 0
    zh_page = (tmp_path / "zh.html").read_text(encoding="utf-8")
    en_page = (tmp_path / "en.html").read_text(encoding="utf-8")
    assert "data:font/woff2;base64," in zh_page and "data:font/woff2;base64," not in en_page
    step = json.dumps("第 1/3 步")[1:-1]  # inside the player's JSON state
    assert "前向过程" in zh_page and step in zh_page and "step 1/3" not in zh_page
    sections = re.findall(r"<h2>(.*?)</h2>", zh_page)
    assert sections and all(any(map(is_cjk, h)) for h in sections)
    current_language[:] = []
