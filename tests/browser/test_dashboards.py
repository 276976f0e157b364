"""Every dashboard, served by a real Voila on 127.0.0.1, renders its widgets offline with no errors."""
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import screenshot

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "diffviz" / "dashboards").glob("*.ipynb"))
READY = ".diffviz-view, .widget-tab, .dv-player"


def visible_plots_and_canvases(page) -> dict:
    return page.evaluate("""() => ({
        canvases: Array.from(document.querySelectorAll('canvas.dv-cell')).filter(c => c.width > 0).length,
        plots: document.querySelectorAll('.js-plotly-plot, .plotly').length,
        images: Array.from(document.querySelectorAll('.widget-image')).filter(i => i.naturalWidth > 0).length,
        errors: document.querySelectorAll('.dv-error').length,
        stderr: document.querySelectorAll("[data-mime-type='application/vnd.jupyter.stderr']").length,
    })""")


@pytest.mark.parametrize("notebook", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_renders_offline(notebook, voila, page):
    server = voila(notebook)
    raw = urllib.request.urlopen(server.url, timeout=300).read().decode()
    assert "from diffviz.widgets import" not in raw, "the served HTML holds no notebook source"
    t0 = time.time()
    page.goto(server.url, timeout=300_000)
    page.wait_for_selector(READY, timeout=300_000, state="visible")
    ready = time.time() - t0
    # views compute their first result on the kernel's worker thread after they are on screen
    page.wait_for_function("() => !document.querySelector('.dv-busy')", timeout=300_000)
    page.wait_for_timeout(1500)
    seen = visible_plots_and_canvases(page)
    print(f"{notebook.stem}: ready in {ready:.1f} s, {seen}")
    screenshot(page, f"dashboard_{notebook.stem}")
    assert seen["errors"] == 0 and seen["stderr"] == 0, seen
    assert seen["canvases"] + seen["plots"] + seen["images"] > 0, "the dashboard shows pictures or charts"
    assert not page.log.page_errors and not page.log.console_errors, (page.log.page_errors, page.log.console_errors)
    assert not page.log.foreign, f"requests off the machine: {page.log.foreign}"
    if page.log.slow_init:  # a widget module was slow to start: it must still have rendered
        page.wait_for_timeout(5000)
    assert page.get_by_text("Error displaying widget").count() == 0


def test_generate_then_scrub(voila, page):
    server = voila(Path(__file__).resolve().parents[2] / "diffviz" / "dashboards" / "02_reverse.ipynb")
    page.goto(server.url, timeout=300_000)
    page.wait_for_selector("canvas.dv-cell", timeout=300_000)
    button = page.locator(".jupyter-button.mod-primary", has_text="Generate").first
    label = page.locator(".dv-step-label").first
    page.locator(".widget-text input").first.fill("a blue square")
    button.click()
    page.wait_for_function("() => !document.querySelector('.jupyter-button.mod-primary').disabled", timeout=120_000)
    page.wait_for_timeout(1500)
    before = len(page.log.frames_sent)
    page.locator(".dv-player").first.focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    assert "step 40/50" in label.inner_text()
    assert len(page.log.frames_sent) == before, "scrubbing sends no kernel messages"
    screenshot(page, "generate_then_scrub")


def test_charts_share_one_served_plotly_bundle(voila, page):
    """Charts load plotly's 5 MB front end once, as a cached file, not inside every chart's state."""
    server = voila(Path(__file__).resolve().parents[2] / "diffviz" / "dashboards" / "01_forward.ipynb")
    page.goto(server.url, timeout=300_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=300_000)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    bundles = [u for u in page.log.urls if "plotly-widgetbundle" in u]
    assert len(bundles) == 1, f"plotly's bundle is fetched once per page, got {bundles}"
    assert max(page.log.received_sizes) < 1_000_000, "no chart carries the plotly bundle over the websocket"
    plots = page.locator(".js-plotly-plot").count()
    assert plots >= 2 and not page.log.page_errors, page.log.page_errors
