"""FramePlayer in a real Voila page and the static export from file://, in headless Chromium."""
import textwrap
from pathlib import Path

import nbformat

from diffviz.voila import EXTENSIONS

from .conftest import labextensions, open_exported, screenshot, scrub

CANVAS_STATS = """() => Array.from(document.querySelectorAll('canvas.dv-cell')).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let min = 255, max = 0;
  for (let i = 0; i < d.length; i += 4) { min = Math.min(min, d[i], d[i+1], d[i+2]); max = Math.max(max, d[i], d[i+1], d[i+2]); }
  return max - min; })"""


def player_notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent("""
        import diffviz
        from diffviz.widgets import FramePlayer
        from diffviz.widgets.reverse import trajectory_rows
        traj = diffviz.load("tiny-class").sample([1, 2, 3], steps=12, seed=0)
        player = FramePlayer(trajectory_rows(traj), step_labels=traj.step_labels(), zoom=6)
        player"""))]
    path = tmp_path / "player.ipynb"
    nbformat.write(nb, path)
    return path


def test_player_in_voila_scrubs_without_kernel_messages(tmp_path, voila, page):
    server = voila(player_notebook(tmp_path))
    page.goto(server.url, timeout=120_000)
    page.wait_for_selector("canvas.dv-cell", timeout=120_000)
    page.wait_for_timeout(500)
    spreads = page.evaluate(CANVAS_STATS)
    assert len(spreads) == 9 and min(spreads) > 0, "every cell shows a non-blank image"
    html = page.content()
    assert "trajectory_rows(traj)" not in html, "notebook source is stripped"
    before = len(page.log.frames_sent)
    page.evaluate("() => { window.__keys = []; document.addEventListener('keydown', (e) => window.__keys.push(e.key)); }")
    player = page.locator(".dv-player")
    scrub(page, player, page.locator(".dv-slider"), 20)
    assert len(page.log.frames_sent) == before, "scrubbing sends no kernel messages"
    player.focus()
    for key in ("Control+s", "Escape", "Shift+Enter"):  # not the player's keys: they reach the page (JupyterLab's)
        page.keyboard.press(key)
    reached = page.evaluate("() => window.__keys")
    assert "ArrowLeft" not in reached and {"s", "Escape", "Enter"} <= set(reached), \
        f"the player keeps its own keys and passes every other key on; the page saw {reached}"
    page.locator(".dv-play").click()
    page.wait_for_timeout(800)
    page.locator(".dv-play").click()
    page.wait_for_timeout(300)
    sent = [str(f) for f in page.log.frames_sent[before:]]
    assert len(sent) == 2 and all('"playing"' in f for f in sent), \
        f"play and pause each write `playing` back to the widget model (its source of truth), and nothing else: {sent}"
    frame_ms = float(player.get_attribute("data-frame-ms"))
    print(f"frame render time: {frame_ms:.2f} ms")
    assert not page.log.page_errors and not page.log.console_errors, (page.log.page_errors, page.log.console_errors)
    assert page.get_by_text("Error displaying widget").count() == 0
    assert not page.log.foreign, f"requests off the machine: {page.log.foreign}"
    loaded = labextensions(page.log.urls)
    assert "anywidget" in loaded and loaded <= set(EXTENSIONS), f"labextensions loaded: {loaded}"
    screenshot(page, "player_voila")


def test_static_export_works_offline_from_file(tmp_path, browser):
    import diffviz
    from diffviz.export import export_html, lecture_sections

    path = export_html(tmp_path / "lecture.html", lecture_sections(diffviz.load("tiny-text"), steps=8,
                                                                      sections=["forward", "reverse"]))
    ctx, page, errors, external = open_exported(browser, path, {"width": 1300, "height": 900})
    assert min(page.evaluate(CANVAS_STATS)) > 0
    assert page.locator(".plotly .main-svg").count() >= 1, "the schedule chart is drawn"
    page.locator(".dv-player").first.focus()
    page.keyboard.press("ArrowRight")
    assert page.locator(".dv-player").first.get_attribute("data-step") == "1"
    assert not errors and not external, (errors, external)
    screenshot(page, "export_offline")
    ctx.close()
