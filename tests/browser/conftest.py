"""Real-browser fixtures: Debian's Chromium driven by Playwright, and a real Voila server on 127.0.0.1.

Each page records console errors, page errors, websocket frames sent to the kernel and any
request to a host other than the local server — the checks lecture halls without internet need.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LOCAL = {"127.0.0.1", "localhost", "[::1]", "::1"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("Debian chromium not installed (make browsers)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


MAX_FRAMES = 20_000     # kernel messages kept per page
MAX_FRAME_TEXT = 4_000   # characters of each message's JSON kept (buffers are never kept) …
MAX_ERROR_TEXT = 20_000  # … and of error and stream messages, which carry tracebacks


def parse_frame(payload) -> dict:
    """One Jupyter websocket frame (JSON text, or the binary v1 protocol: offsets, channel, header,
    parent header, metadata, content, buffers) → {channel, msg_type, msg_id, parent_id, state, text}."""
    import json
    import re
    import struct

    channel, parts = "", []
    try:
        if isinstance(payload, (bytes, bytearray)):
            n = struct.unpack_from("<Q", payload, 0)[0]
            offsets = list(struct.unpack_from(f"<{n}Q", payload, 8))
            offsets.append(len(payload))
            chunks = [payload[offsets[i]:offsets[i + 1]] for i in range(min(n, 5))]
            channel = chunks[0].decode("utf-8", "replace")
            parts = [c.decode("utf-8", "replace") for c in chunks[1:5]]
        else:
            msg = json.loads(payload)
            channel = msg.get("channel", "")
            parts = [json.dumps(msg.get(k, {})) for k in ("header", "parent_header", "metadata", "content")]
    except Exception:  # not a kernel message: keep its text for the traceback search
        text = payload.decode("utf-8", "replace") if isinstance(payload, (bytes, bytearray)) else str(payload)
        return {"channel": "", "msg_type": "", "msg_id": "", "parent_id": "", "state": "", "text": text[:MAX_FRAME_TEXT]}
    header = parts[0] if parts else ""
    parent = parts[1] if len(parts) > 1 else ""
    content = parts[3] if len(parts) > 3 else ""

    def field(text, name):
        m = re.search(r'"%s":\s*"([^"]*)"' % name, text)
        return m.group(1) if m else ""

    msg_type = field(header, "msg_type")
    keep = MAX_ERROR_TEXT if msg_type in ("error", "stream") else MAX_FRAME_TEXT
    return {"channel": channel, "msg_type": msg_type, "msg_id": field(header, "msg_id"),
            "parent_id": field(parent, "msg_id"), "state": field(content, "execution_state"),
            "text": (header + content)[:keep], "json_bytes": sum(len(x) for x in parts)}


class PageLog:
    def __init__(self, page):
        self.console_errors, self.page_errors, self.frames_sent, self.foreign, self.urls = [], [], [], [], []
        self.slow_init: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", self._page_error)
        self.received_sizes: list[int] = []
        self.received_json_sizes: list[int] = []  # the JSON part only (binary buffers, e.g. player frames, apart)
        # Kernel messages, parsed (channel, msg_type, msg_id, parent msg_id, the JSON text without buffers,
        # bounded): the lecture scenarios wait on them ("the kernel finished") and look in them for tracebacks.
        self.sent_msgs: list[dict] = []
        self.received: list[dict] = []
        self.last_received = time.time()

        def websocket(ws):
            def sent(payload):
                self.frames_sent.append(payload)
                self.sent_msgs.append(parse_frame(payload))

            def received(payload):
                self.last_received = time.time()
                self.received_sizes.append(len(payload))
                msg = parse_frame(payload)
                self.received_json_sizes.append(msg.get("json_bytes", len(payload)))
                if len(self.received) < MAX_FRAMES:
                    self.received.append(msg)

            ws.on("framesent", sent)
            ws.on("framereceived", received)

        page.on("websocket", websocket)

        def request(req):
            host = urlparse(req.url).hostname
            self.urls.append(req.url)
            if req.url.startswith(("http", "ws")) and host not in LOCAL:
                self.foreign.append(req.url)

        page.on("request", request)

    def _page_error(self, err) -> None:
        # anywidget rejects a model's `ready` promise when its ES module takes over 2 s to load and
        # initialise (plotly's FigureWidget module is ~5 MB); the widget still renders moments later.
        # The tests check that every widget did render, so this timer is recorded apart, not ignored.
        text = str(err)
        (self.slow_init if text == "[anywidget] Failed to initialize model." else self.page_errors).append(text)


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.log = PageLog(pg)
    yield pg
    ctx.close()


def labextensions(urls: list[str]) -> set[str]:
    """Names of the JupyterLab extensions whose code the page fetched."""
    names = set()
    for url in urls:
        path = urlparse(url).path
        if "/labextensions/" in path:
            parts = path.split("/labextensions/", 1)[1].split("/")
            names.add("/".join(parts[:2]) if parts[0].startswith("@") else parts[0])
    return names


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(proc: subprocess.Popen, port: int, log: Path, name: str, timeout: float) -> None:
    """Wait until a server we started listens on `port`; say why if it exits or never does."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    raise RuntimeError(f"{name} did not start within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


class VoilaServer:
    """`voila <notebook>` on 127.0.0.1 with diffviz's offline template and settings."""

    def __init__(self, notebook: Path, preheat: bool = False, settings: dict | None = None):
        from diffviz.voila import voila_command, voila_environment

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = voila_environment()
        env.setdefault("OMP_NUM_THREADS", "1")
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"voila-{self.port}.log"
        self.proc = subprocess.Popen(voila_command(notebook.name, port=self.port, preheat=preheat, settings=settings),
                                     cwd=notebook.parent, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        wait_for_port(self.proc, self.port, self.log, "voila", 90)

    def stop(self):
        stop_process(self.proc)


class SolaraServer:
    """`diffviz dashboard NAME --server solara` (its `solara run` command) on 127.0.0.1."""

    def __init__(self, dashboard: str, workers: int):
        from diffviz.servers import solara_command, solara_environment

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"solara-{self.port}.log"
        env = solara_environment(dashboard, workers=workers)
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(solara_command(port=self.port), env=env, stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT)
        wait_for_port(self.proc, self.port, self.log, "solara", 120)

    def stop(self):
        stop_process(self.proc)


@pytest.fixture
def voila():
    servers = []

    def start(notebook: Path, preheat: bool = False) -> VoilaServer:
        s = VoilaServer(notebook, preheat)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def open_exported(browser, path, viewport: dict, timeout: int = 60_000):
    """An exported lecture page opened from file:// with the network blocked: (context, page, errors,
    requests off the machine). Waits for the page's players and plotly's first resize."""
    ctx = browser.new_context(viewport=viewport, offline=True)
    page = ctx.new_page()
    errors, external = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "blob:", "data:"))
               else (external.append(route.request.url), route.abort()))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=timeout)
    page.wait_for_selector("canvas.dv-cell")
    page.wait_for_timeout(500)  # plotly's responsive resize and the players' arrange settle
    return ctx, page, errors, external


def scrub(page, player, slider, stride: int) -> None:
    """What a student does to a frame player: five ArrowLeft presses with it focused, then drag its
    slider across with the mouse (a move every `stride` pixels)."""
    player.focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    box = slider.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.mouse.down()
    for x in range(5, int(box["width"]) - 5, stride):
        page.mouse.move(box["x"] + x, box["y"] + box["height"] / 2)
    page.mouse.up()
