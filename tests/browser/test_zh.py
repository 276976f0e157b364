"""The Chinese UI in a real browser on a machine with no CJK font: glyphs, not boxes.

`diffviz dashboard explainer --lang zh` serves the lecture in Chinese; the Voila template serves the
shipped CJK subset font. A missing font draws every Chinese character as the same empty box, so two
different characters rendered in the page's own font must differ in their pixels. The same holds
for the static export, where the font is inlined.
"""
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from .conftest import SHOTS, free_port, screenshot

PAIRS = [("前", "后"), ("噪", "声")]


def glyph_pixels(page, text: str, selector: str, name: str) -> np.ndarray:
    """`text` drawn in the font of the first `selector` element, 48 px, black on white, as a grey array."""
    page.evaluate("""([text, selector]) => {
        const ref = document.querySelector(selector);
        const span = document.createElement('span');
        span.id = 'dv-glyph';
        span.textContent = text;
        span.style.cssText = 'position:fixed;left:0;top:0;z-index:99999;background:#fff;color:#000;' +
            'font-size:48px;line-height:64px;padding:0 4px;font-family:' + getComputedStyle(ref).fontFamily;
        document.getElementById('dv-glyph')?.remove();
        document.body.appendChild(span);
    }""", [text, selector])
    page.evaluate("() => document.fonts.ready")
    path = SHOTS / f"zh_glyph_{name}.png"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#dv-glyph").screenshot(path=str(path))
    page.evaluate("() => document.getElementById('dv-glyph').remove()")
    return np.asarray(Image.open(path).convert("L"), dtype=np.int16)


def assert_glyphs_differ(page, selector: str, where: str) -> None:
    for a, b in PAIRS:
        pa = glyph_pixels(page, a, selector, f"{where}_{ord(a):x}")
        pb = glyph_pixels(page, b, selector, f"{where}_{ord(b):x}")
        assert pa.shape == pb.shape
        ink = (pa < 128).sum()
        assert ink > 40, f"{where}: {a!r} drew almost nothing"
        differing = (np.abs(pa - pb) > 64).sum()
        assert differing > 0.2 * ink, f"{where}: {a!r} and {b!r} render the same (boxes: no CJK font reached the page)"


def assert_drawn_with_the_font(page, selector: str, name: str) -> None:
    """The first `selector` element, drawn when the page loaded, looks like a fresh copy drawn now: no boxes
    left from before the CJK font arrived."""
    first = page.locator(selector).first
    first.evaluate("e => { const c = e.cloneNode(true); c.id = 'dv-fresh'; e.after(c); }")
    page.wait_for_timeout(500)
    shots = [np.asarray(Image.open(io.BytesIO(loc.screenshot(path=str(SHOTS / f"zh_{name}_{i}.png")))).convert("L"),
                        dtype=np.int16) for i, loc in enumerate([first, page.locator("#dv-fresh")])]
    page.evaluate("() => document.getElementById('dv-fresh').remove()")
    assert shots[0].shape == shots[1].shape and (np.abs(shots[0] - shots[1]) > 64).sum() < 0.02 * (shots[1] < 128).sum(), \
        f"{name}: drawn before the CJK font and never redrawn (boxes)"


def no_system_cjk_font() -> bool:
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout if os.path.exists(
        "/usr/bin/fc-list") else ""
    return not out.strip()


@pytest.mark.slow
def test_zh_explainer_renders_chinese_glyphs(page):
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("DIFFVIZ_LANG", None)  # the flag alone must switch the kernels to Chinese
    proc = subprocess.Popen([sys.executable, "-m", "diffviz.cli", "dashboard", "explainer", "--lang", "zh",
                             "--port", str(port), "--no-preheat"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "voila/templates/diffviz/static/fonts/diffviz-cjk.woff2", timeout=10).read()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, proc.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        page.goto(url, timeout=300_000)
        page.wait_for_selector(".dv-overview", timeout=300_000, state="visible")  # the explainer opens on the overview
        assert page.get_by_text("文字编码器").count() > 0, "the overview's boxes are Chinese"
        page.locator(".lm-TabBar-tab", has_text="前向过程").click()
        page.wait_for_selector(".diffviz-view", timeout=300_000, state="visible")
        page.wait_for_selector("canvas.dv-cell", timeout=300_000)
        page.wait_for_timeout(1500)
        tabs = page.locator(".lm-TabBar-tab").all_inner_texts()
        assert any("前向过程" in x for x in tabs) and any("反向过程" in x for x in tabs), tabs
        assert page.get_by_text("前向过程（Forward Process）").count() > 0, "the view's heading is Chinese"
        assert any(u.endswith("/static/fonts/diffviz-cjk.woff2") for u in page.log.urls), "the template serves the font"
        loaded = page.evaluate("""async () => { await document.fonts.load('16px "diffviz CJK"', '前后');
                                              return document.fonts.check('16px "diffviz CJK"', '前后'); }""")
        assert loaded, "the CJK subset font loaded"
        path = screenshot(page, "zh_explainer")
        print(f"screenshot: {path}; machine has {'no' if no_system_cjk_font() else 'a'} system CJK font")
        assert_glyphs_differ(page, ".lm-TabBar-tabLabel", "tab")
        assert_glyphs_differ(page, ".dv-player", "player")
        assert_drawn_with_the_font(page, ".diffviz-view h3", "explainer_title")
        page.locator(".lm-TabBar-tab", has_text="反向过程").click()  # the reverse process: a generated trajectory
        page.wait_for_function("() => Array.from(document.querySelectorAll('.dv-step-label'))"
                               ".some(e => e.offsetParent && e.textContent.startsWith('第'))", timeout=300_000)
        screenshot(page, "zh_explainer_reverse")
        assert not page.log.foreign, f"requests off the machine: {page.log.foreign}"
        assert not page.log.page_errors, page.log.page_errors
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_zh_export_renders_chinese_glyphs_offline(page, tmp_path):
    from diffviz.export import Section, export_html

    frames = np.random.default_rng(0).integers(0, 256, (3, 2, 8, 8, 3), dtype=np.uint8)
    path = export_html(tmp_path / "zh.html", [Section("前向过程", "噪声预测器的训练资料", players=[{
        "rows": {"x_t": frames}, "step_labels": ["第 1/3 步", "第 2/3 步", "第 3/3 步"]}])], lang="zh",
        title="扩散模型")
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1'] canvas.dv-cell")
    assert_glyphs_differ(page, "h2", "export_heading")
    assert_glyphs_differ(page, ".dv-player", "export_player")
    assert not page.log.foreign


@pytest.mark.slow
def test_zh_chapter_in_jupyterlab_renders_chinese_glyphs(browser, tmp_path, monkeypatch):
    """JupyterLab serves no diffviz font: the views' own style sheet carries it (inlined), so a zh chapter's
    widgets, and its Markdown once a view is shown, draw Chinese glyphs, not boxes."""
    import shutil

    from .test_chapters import NOTEBOOKS, JupyterServer, open_chapter, outputs_ok, run_all

    monkeypatch.setenv("DIFFVIZ_LANG", "zh")
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    server = JupyterServer("lab", root)
    lec = None
    try:
        lec = open_chapter(browser, server, "zh/01_forward_process.ipynb", "lab")
        page = lec.page
        run_all(lec, timeout=300)
        problems = outputs_ok(page)
        assert not problems, problems
        page.wait_for_selector(".diffviz-view h3", timeout=120_000)
        assert page.locator(".dv-cjk-font").count() > 0, "the view carries the CJK font's style sheet"
        loaded = page.evaluate("""async () => { await document.fonts.load('16px "diffviz CJK inline"', '前后');
                                              return document.fonts.check('16px "diffviz CJK inline"', '前后'); }""")
        assert loaded, "the CJK subset font loaded from the view's style sheet"
        page.locator(".diffviz-view").first.scroll_into_view_if_needed()
        screenshot(page, "zh_jupyterlab_chapter1")
        print(f"machine has {'no' if no_system_cjk_font() else 'a'} system CJK font")
        assert_glyphs_differ(page, ".diffviz-view h3", "lab_view")
        assert_drawn_with_the_font(page, ".diffviz-view h3", "lab_title")
        assert_glyphs_differ(page, ".jp-RenderedMarkdown", "lab_markdown")
        assert not page.log.foreign, f"requests off the machine: {page.log.foreign}"
    finally:
        if lec is not None:
            lec.ctx.close()
        server.shutdown_kernels()
        server.stop()


@pytest.mark.slow
def test_zh_latent_parts_shows_the_bilingual_tokens(voila, page, tmp_path):
    """LatentParts on the bilingual encoder, in Chinese: the token row and the chart's rows are the characters
    of the prompt (byte-level tokens joined), drawn as glyphs, never "�" or boxes."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import diffviz\nfrom diffviz.widgets import LatentParts, set_language\nset_language('zh')\n"
        "view = LatentParts(diffviz.load('shapes', text_encoder='bilingual'))\nview.prompt = '一个红色的圆'\nview")])
    path = tmp_path / "latent_zh.ipynb"
    nbformat.write(nb, path)
    server = voila(path)
    page.goto(server.url, timeout=300_000)
    page.wait_for_selector(".diffviz-view .js-plotly-plot .ytick", timeout=300_000)
    page.wait_for_timeout(1000)
    text = page.locator(".diffviz-view").first.inner_text()
    assert "一 | 个 | 红 | 色 | 的 | 圆" in text and "\ufffd" not in text, text[:500]
    ticks = page.evaluate("() => Array.from(document.querySelectorAll('.diffviz-view .ytick text')).map(e => e.textContent)")
    assert sorted(ticks) == sorted(["<start_of_text>", *"一个红色的圆", "<end_of_text>"]), ticks  # one row per character
    screenshot(page, "zh_latent_bilingual")
    assert_glyphs_differ(page, ".diffviz-view .ytick text", "latent_rows")
    assert_drawn_with_the_font(page, ".diffviz-view h3", "latent_title")
    assert not page.log.page_errors, page.log.page_errors


LEGEND_BOXES = """() => Array.from(document.querySelectorAll('.js-plotly-plot .legend')).map(legend => {
    const bg = legend.querySelector('.bg').getBoundingClientRect();
    const items = Array.from(legend.querySelectorAll('.traces')).map(t => {
        const text = t.querySelector('text.legendtext'), r = text.getBoundingClientRect();
        return {text: text.textContent, left: r.left, right: r.right,
                next: t.getBoundingClientRect().left};  // where the item (its line sample) starts
    });
    return {bg: {left: bg.left, right: bg.right}, items};
})"""


def test_zh_chart_legends_show_every_character(voila, page, tmp_path):
    """Chinese legend entries (prompts, their last character the shape word) are laid out for the width
    the CJK font draws them at: no entry overlaps the next one or runs out of the legend's box."""
    import nbformat

    names = ["一个红色的圆", "一个蓝色的正方形", "一个绿色的三角形"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from diffviz.widgets import set_language\nset_language('zh')\n"
        "from diffviz.widgets.charts import line_figure\n"
        f"fig = line_figure([1, 2, 3], {{n: [0.1 * i, 0.2, 0.3] for i, n in enumerate({names!r})}}, '图', '步数', "
        "'CLIP', width=640, legend_below=True)\nfig")])
    path = tmp_path / "legend_zh.ipynb"
    nbformat.write(nb, path)
    server = voila(path)
    page.goto(server.url, timeout=300_000)
    page.wait_for_selector(".js-plotly-plot .legend .traces", timeout=300_000)
    page.evaluate("() => document.fonts.ready")
    page.wait_for_timeout(1000)
    legends = page.evaluate(LEGEND_BOXES)
    screenshot(page, "zh_legend")
    assert len(legends) == 1 and [i["text"] for i in legends[0]["items"]] == names
    bg, items = legends[0]["bg"], sorted(legends[0]["items"], key=lambda i: i["left"])
    for item, after in zip(items, items[1:] + [None]):
        assert bg["left"] - 1 <= item["left"] and item["right"] <= bg["right"] + 1, f"{item['text']!r} runs out of the legend"
        if after is not None:
            assert item["right"] <= after["next"] + 1, f"{after['text']!r} is drawn over the end of {item['text']!r}"
    assert_glyphs_differ(page, ".js-plotly-plot .legendtext", "legend")
    assert not page.log.page_errors, page.log.page_errors
