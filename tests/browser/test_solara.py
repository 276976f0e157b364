"""`diffviz dashboard 02_reverse --server solara` in headless Chromium: the dashboard renders offline,
Generate works, scrubbing sends nothing to the server, and two viewers keep their own state."""
from __future__ import annotations

import pytest

from .conftest import SolaraServer, screenshot, scrub

CANVAS_STATS = """() => Array.from(document.querySelectorAll('canvas.dv-cell')).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let min = 255, max = 0;
  for (let i = 0; i < d.length; i += 4) { min = Math.min(min, d[i], d[i+1], d[i+2]); max = Math.max(max, d[i], d[i+1], d[i+2]); }
  return max - min; })"""
FIRST_CELL = "() => document.querySelector('canvas.dv-cell').toDataURL()"
SEED = ".diffviz-view .widget-inline-hbox:has(label:text-is('Seed')) input"


@pytest.fixture(scope="module")
def solara_server():
    server = SolaraServer("02_reverse", workers=2)
    yield server
    server.stop()


def open_dashboard(page, server):
    page.goto(server.url, timeout=120_000)
    page.wait_for_selector("canvas.dv-cell", timeout=120_000, state="visible")
    page.wait_for_timeout(300)


def summary_has(page, seed: int, timeout: int = 120_000):
    page.wait_for_function(f"document.body.innerText.includes('seed {seed}')", timeout=timeout)


def generate(page, seed: int):
    box = page.locator(SEED).first
    box.fill(str(seed))
    box.press("Enter")
    page.wait_for_timeout(300)
    page.get_by_role("button", name="Generate").first.click()
    summary_has(page, seed)
    page.wait_for_timeout(300)


def test_solara_dashboard_renders_offline(solara_server, page):
    open_dashboard(page, solara_server)
    spreads = page.evaluate(CANVAS_STATS)
    assert len(spreads) == 12 and min(spreads) > 0, f"4 images × 3 rows, none blank: {spreads}"
    summary_has(page, 0)
    assert page.get_by_text("Error displaying widget").count() == 0
    assert page.locator(".dv-error").count() == 0
    assert page.locator(".diffviz-view").count() == 2, "ReverseProcess and NoiseInspector"
    assert not page.log.foreign, f"requests off the machine: {page.log.foreign}"
    assert not page.log.page_errors and not page.log.console_errors, (page.log.page_errors, page.log.console_errors)
    screenshot(page, "solara_02_reverse")


def test_solara_generate_then_scrub_without_server_messages(solara_server, page):
    open_dashboard(page, solara_server)
    first = page.evaluate(FIRST_CELL)
    generate(page, 7)
    assert page.evaluate(FIRST_CELL) != first, "a new seed draws new pictures"
    assert min(page.evaluate(CANVAS_STATS)) > 0
    before = len(page.log.frames_sent)
    label = page.locator(".dv-player").inner_text()
    player = page.locator(".dv-player").first
    scrub(page, player, page.locator(".dv-slider").first, 40)
    page.wait_for_timeout(300)
    assert page.locator(".dv-player").inner_text() != label, "scrubbing moved the step"
    sent = page.log.frames_sent[before:]
    assert not sent, f"scrubbing is drawn in the browser: no message to the server, got {[str(f)[:120] for f in sent]}"
    assert not page.log.foreign and not page.log.page_errors and not page.log.console_errors, \
        (page.log.foreign, page.log.page_errors, page.log.console_errors)


def test_two_viewers_keep_their_own_state(solara_server, browser):
    """Two students on one server: one generates with another seed; the other's page does not change."""
    a_ctx, b_ctx = (browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2))
    try:
        a, b = a_ctx.new_page(), b_ctx.new_page()
        open_dashboard(a, solara_server)
        open_dashboard(b, solara_server)
        b_before = b.evaluate(FIRST_CELL)
        generate(a, 12)
        b.wait_for_timeout(1000)
        assert b.evaluate(FIRST_CELL) == b_before
        assert "seed 12" not in b.inner_text("body") and "seed 0" in b.inner_text("body")
        assert b.locator(SEED).first.input_value() == "0"
    finally:
        a_ctx.close()
        b_ctx.close()


def free_port_run(n: int) -> int:
    """A port p with p .. p+n all free on 127.0.0.1 (the proxy and its processes)."""
    import socket

    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        try:
            for p in range(base + 1, base + n + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


@pytest.mark.slow
def test_two_processes_behind_the_sticky_proxy(browser, tmp_path):
    """`diffviz dashboard 02_reverse --server solara --processes 2`: two students land on different
    processes, each stays on theirs (page, assets and websocket), both render and generate, and a
    stopped command leaves no process behind."""
    import os
    import signal
    import subprocess
    import sys

    import psutil

    from .conftest import wait_for_port

    port = free_port_run(2)
    log = tmp_path / "dashboard.log"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "diffviz.cli", "dashboard", "02_reverse", "--server", "solara",
                             "--processes", "2", "--workers", "1", "--port", str(port)],
                            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    contexts = []
    try:
        wait_for_port(proc, port, log, "diffviz dashboard", 120)
        for p in (port + 1, port + 2):
            wait_for_port(proc, p, log, f"solara on {p}", 180)
        family = psutil.Process(proc.pid).children(recursive=True)
        url = f"http://127.0.0.1:{port}/"
        pages, pinned = [], []
        for seed in (3, 4):
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            contexts.append(ctx)
            page = ctx.new_page()
            sent: list = []
            page.on("websocket", lambda ws, sent=sent: ws.on("framesent", lambda payload: sent.append(payload)))
            errors: list = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.goto(url, timeout=180_000)
            page.wait_for_selector("canvas.dv-cell", timeout=180_000, state="visible")
            generate(page, seed)
            assert min(page.evaluate(CANVAS_STATS)) > 0, "pictures drawn, none blank"
            assert page.locator(".dv-error").count() == 0 and page.get_by_text("Error displaying widget").count() == 0
            assert sent, "the widgets talk to their process through the proxy's websocket"
            assert not errors, errors
            pinned.append([c["value"] for c in ctx.cookies() if c["name"] == "diffviz-worker"])
            pages.append(page)
        assert sorted(sum(pinned, [])) == ["0", "1"], f"two students, two processes: {pinned}"
        pages[0].reload()
        pages[0].wait_for_selector("canvas.dv-cell", timeout=180_000, state="visible")
        assert [c["value"] for c in contexts[0].cookies() if c["name"] == "diffviz-worker"] == pinned[0], \
            "a reload stays on the same process"
        screenshot(pages[1], "solara_proxy_02_reverse")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(family, timeout=15)
        assert not alive, f"left running: {[p.cmdline()[:4] for p in alive]}"
    finally:
        for ctx in contexts:
            ctx.close()
        if proc.poll() is None:
            proc.kill()


def test_solara_presenter_mode_from_the_address(solara_server, page):
    """`?presenter=1` zooms this viewer's views (views.css .dv-presenter), as in Voila; other viewers are unchanged."""
    width = "() => document.querySelector('canvas.dv-cell').getBoundingClientRect().width"
    open_dashboard(page, solara_server)
    plain = page.evaluate(width)
    assert page.locator(".dv-presenter").count() == 0
    page.goto(solara_server.url.rstrip("/") + "/?presenter=1", timeout=120_000)
    page.wait_for_selector("canvas.dv-cell", timeout=120_000, state="visible")
    page.wait_for_timeout(300)
    assert page.locator(".dv-presenter").count() >= 1
    zoom = page.evaluate("() => getComputedStyle(document.querySelector('.dv-presenter')).zoom")
    assert float(zoom) > 1.2, zoom
    # the player's pictures already fill their row's room (up to 256 px) unzoomed; zoomed they grow until the
    # row is full, so by less than the zoom itself
    assert page.evaluate(width) > plain * 1.05, "pictures drawn bigger for the projector"
    assert not page.log.foreign and not page.log.page_errors, (page.log.foreign, page.log.page_errors)
    screenshot(page, "solara_presenter")


def test_solara_serves_the_cjk_font_as_a_file(solara_server, page):
    """The dashboard's Chinese line is drawn with diffviz's CJK subset font, which the page fetches as a file
    (once per browser, compressed once per server), not inside every viewer's websocket."""
    from .test_zh import assert_drawn_with_the_font, assert_glyphs_differ, no_system_cjk_font

    fonts = []
    page.on("response", lambda r: fonts.append((r.url, r.status)) if r.url.endswith(".woff2") and "cjk" in r.url else None)
    open_dashboard(page, solara_server)
    page.evaluate("() => document.fonts.ready")
    assert [status for _, status in fonts] == [200], fonts
    styles = page.evaluate("() => Array.from(document.querySelectorAll('style')).map(s => s.textContent.length)")
    assert max(styles) < 200_000, "a style sheet still carries the font inlined"
    found = page.evaluate("""() => { const p = Array.from(document.querySelectorAll('.dv-markdown p'))
        .find(e => e.textContent.includes('反向过程')); if (p) p.id = 'dv-zh-line'; return !!p; }""")
    assert found, "the dashboard's Chinese line"
    line = "#dv-zh-line"
    if no_system_cjk_font():  # on a machine with a CJK font the browser could draw it without ours
        assert_glyphs_differ(page, line, "solara")
    assert_drawn_with_the_font(page, line, "solara_markdown")
    assert not page.log.foreign and not page.log.page_errors and not page.log.console_errors


def test_the_benchmarks_light_viewer_gets_the_page_and_generates(solara_server):
    """benchmarks/classroom.py's light viewer (the server's whole work for one viewer, without a browser's
    rendering) speaks to the real server as Solara's front end does: it gets every widget, the player's
    frames, and a new summary after Generate."""
    import asyncio
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "classroom.py"
    spec = importlib.util.spec_from_file_location("classroom_benchmark", path)
    classroom = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(classroom)
    from concurrent.futures import ThreadPoolExecutor

    def in_thread(coro_fn):  # the sync Playwright of the other tests keeps an event loop on this thread
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(lambda: asyncio.run(coro_fn())).result()

    assets = in_thread(lambda: classroom.page_assets(solara_server.url))
    assert any("solara-vuetify" in a for a in assets) and any("diffviz-cjk" in a for a in assets)
    viewer, out = classroom.LightViewer(solara_server.url, assets), {}

    async def one():
        start = asyncio.Event()
        start.set()
        await viewer.run(4242, start, out)

    in_thread(one)
    assert "error" not in out, out
    assert 0 < out["ready"] < 60 and 0 < out["generate"] < 120, out
    kinds = [s.get("_model_name") for s in viewer.comms.values()]
    assert kinds.count("ButtonModel") >= 2 and "AnyModel" in kinds, kinds
