"""The whole-lecture export (`diffviz export`) opened from file:// in Chromium with the network blocked.

A hall of students opens this one file with no server: every chapter must be there and work — the
players scrub, the charts answer the mouse — with no console error, no request off the machine,
nothing wider than a 1024×768 screen, pictures at least 128 px wide, and Chinese glyphs (not boxes)
in the Chinese export.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys

import pytest

from .conftest import open_exported, screenshot

pytestmark = pytest.mark.slow

VIEWPORT = {"width": 1024, "height": 768}

# Everything laid out wider than the viewport (the page must never scroll sideways), and every picture's width.
LAYOUT_STATS = """() => {
  const W = document.documentElement.clientWidth;
  const wide = [];
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > W + 1 && getComputedStyle(e).visibility !== "hidden") wide.push(`${e.tagName}.${e.className.baseVal ?? e.className} ${Math.round(r.right)}`);
  }
  const pics = [...document.querySelectorAll("canvas.dv-cell, .dv-pictures img")].map((e) => e.getBoundingClientRect().width);
  // a chart laid out wider than its box is drawn clipped (the page does not scroll, the chart is cut)
  const charts = [...document.querySelectorAll(".js-plotly-plot")].filter((g) => g._fullLayout.width > g.parentElement.clientWidth + 1)
    .map((g) => `${g.closest("section").id}: ${g._fullLayout.width} > ${g.parentElement.clientWidth}`);
  return {scroll: document.documentElement.scrollWidth, W, wide: wide.slice(0, 10), pics, charts};
}"""

# The pictures of a section's first player as pixel data (they change when the step changes).
FIRST_CELL = """(sel) => [...document.querySelector(sel + " .dv-player").querySelectorAll("canvas.dv-cell")]
  .map((c) => c.toDataURL()).join()"""


def export(tmp_path, name: str, *args: str):
    out = tmp_path / f"{name}.html"
    proc = subprocess.run([sys.executable, "-m", "diffviz.cli", "export", "-o", str(out), "--quick", *args],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@contextlib.contextmanager
def offline_lecture(browser, path, where: str):
    """The exported page opened from file:// with the network blocked. After the test's own steps: laid out
    within the viewport, a screenshot, no console error, no request off the machine."""
    ctx, page, errors, external = open_exported(browser, path, VIEWPORT)
    try:
        yield page
        check_layout(page, where)
        screenshot(page, "export_lecture_" + where.replace(" ", "_"))
        assert not errors, errors
        assert not external, f"requests off the machine: {external}"
    finally:
        ctx.close()


def check_layout(page, where: str) -> None:
    stats = page.evaluate(LAYOUT_STATS)
    assert stats["scroll"] <= stats["W"], f"{where}: the page scrolls sideways ({stats['scroll']} > {stats['W']}): {stats['wide']}"
    assert not stats["wide"], f"{where}: wider than the viewport: {stats['wide']}"
    assert not stats["charts"], f"{where}: charts drawn wider than their box (cut off): {stats['charts']}"
    assert stats["pics"] and min(stats["pics"]) >= 128, f"{where}: pictures narrower than 128 px: {sorted(stats['pics'])[:5]}"


def scrub(page, section: str) -> None:
    """Keys and the slider move the player of `section` and redraw its pictures (no kernel)."""
    player = page.locator(f"#{section} .dv-player").first
    player.scroll_into_view_if_needed()
    player.focus()
    page.keyboard.press("Home")
    assert player.get_attribute("data-step") == "0"
    first = page.evaluate(FIRST_CELL, f"#{section}")
    page.keyboard.press("ArrowRight")
    assert player.get_attribute("data-step") == "1"
    slider = player.locator("input.dv-slider")
    last = int(slider.get_attribute("max"))
    slider.evaluate("(s, v) => { s.value = v; s.dispatchEvent(new Event('input', {bubbles: true})); }", str(last))
    assert player.get_attribute("data-step") == str(last)
    assert page.evaluate(FIRST_CELL, f"#{section}") != first, f"{section}: scrubbing did not change the picture"


def hover_chart(page, section: str) -> None:
    """Moving the mouse onto a chart's data points shows plotly's hover label (the chart is live, not a picture)."""
    chart = page.locator(f"#{section} .js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    points = chart.locator(".scatterlayer .points path")
    spots = [points.nth(i).bounding_box() for i in range(min(points.count(), 12))]
    area = chart.locator(".nsewdrag").first.bounding_box()  # a heatmap answers anywhere on its cells
    spots += [dict(x=area["x"] + fx * area["width"], y=area["y"] + fy * area["height"], width=0, height=0)
              for fx in (0.3, 0.6) for fy in (0.3, 0.6)]
    for box in spots:
        if box is None:
            continue
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(80)
        if chart.locator(".hoverlayer .hovertext").count():
            return
    pytest.fail(f"{section}: no hover label on the chart")


def same_as_fresh_text(page, selector: str) -> None:
    """The text at `selector` looks like the same text drawn now, with the font loaded: Chromium can leave the
    first Chinese it shaped before the inlined font was decoded as empty boxes."""
    import numpy as np
    from PIL import Image
    import io

    page.evaluate("""(sel) => { const a = document.querySelector(sel); const b = a.cloneNode(true);
      b.id = "dv-fresh"; a.after(b); }""", selector)
    shots = [np.asarray(Image.open(io.BytesIO(page.locator(s).first.screenshot())).convert("L"), dtype=int)
             for s in (selector, "#dv-fresh")]
    assert shots[0].shape == shots[1].shape and np.abs(shots[0] - shots[1]).max() < 64, \
        f"{selector} is not drawn like the same text drawn again (boxes instead of glyphs?)"
    page.evaluate("() => document.getElementById('dv-fresh').remove()")


def test_shapes_lecture_export_works_offline(tmp_path, browser):
    path = export(tmp_path, "shapes-en", "--model", "shapes", "--lang", "en")
    with offline_lecture(browser, path, "shapes en") as page:
        keys = ("forward", "reverse", "noise", "guidance", "prompts", "schedulers", "clip", "fid", "latent", "wordmaps")
        for key in keys:
            assert page.locator(f"section#{key}").count() == 1, f"section {key} missing"
            assert page.locator(f"section#{key} .dv-notice-box").count() == 1, f"{key}: no what-to-notice text"
        assert page.locator("nav a").count() == len(keys)
        for key in ("forward", "reverse", "noise", "prompts", "wordmaps"):
            scrub(page, key)
        for key in ("noise", "clip", "fid", "prompts", "wordmaps"):
            hover_chart(page, key)
        check_word_maps_and_two_prompts(page)
        assert page.locator("#clip .plotly .heatmaplayer").count() == 1, "the CLIP matrix is drawn"
        assert page.locator("#fid .js-plotly-plot").count() == 2, "FID-vs-N and the feature space"


def check_word_maps_and_two_prompts(page) -> None:
    """The word maps: a column per token of the prompt; two prompts: A, B and |Δx̂0| side by side."""
    labels = page.locator("#wordmaps .dv-col-label").all_inner_texts()
    assert {"square", "blue", "top", "left"} <= set(labels), f"a column per word of the prompt: {labels}"
    assert page.locator("#prompts .dv-col-label").all_inner_texts()[:3] == ["A", "B", "|Δx̂0|"]


def test_word_maps_and_two_prompts_export_works_offline(tmp_path, browser):
    path = export(tmp_path, "shapes-words", "--model", "shapes", "--lang", "en", "--sections", "prompts,wordmaps")
    with offline_lecture(browser, path, "shapes words") as page:
        for key in ("prompts", "wordmaps"):
            assert page.locator(f"section#{key} .dv-notice-box").count() == 1, f"{key}: no what-to-notice text"
            scrub(page, key)
            hover_chart(page, key)
        check_word_maps_and_two_prompts(page)


def test_digits_lecture_export_in_chinese(tmp_path, browser):
    from .test_zh import assert_glyphs_differ

    path = export(tmp_path, "digits-zh", "--model", "digits", "--lang", "zh")
    with offline_lecture(browser, path, "digits zh") as page:
        assert page.locator("html[lang='zh']").count() == 1
        for key in ("forward", "reverse", "noise", "guidance", "schedulers", "fid"):
            assert page.locator(f"section#{key}").count() == 1, f"section {key} missing"
        assert page.locator("section#clip, section#latent").count() == 0, "digits has no CLIP or latent parts"
        assert page.get_by_text("注意看：").count() >= 6
        assert_glyphs_differ(page, "h2", "export_lecture_zh")
        same_as_fresh_text(page, "nav b")
        scrub(page, "reverse")
        hover_chart(page, "guidance" if page.locator("#guidance .js-plotly-plot").count() else "noise")
