"""A lecture hall on one machine: N concurrent viewers of one dashboard, Solara (one process) vs Voila
(a kernel per viewer).

For each N, N headless-Chromium viewers (separate browser contexts: separate sessions) open the
dashboard at the same moment over loopback; each waits until its reverse-process player shows
pictures ("ready": navigation → first trajectory on screen), then types its own seed and presses
Generate once ("generate": click → its new summary shown; different seeds, so nothing is shared
from the cache). Memory is the whole server's resident set — the server process plus every kernel it
started — sampled every 0.2 s (psutil RSS; shared pages counted once per process, so Voila's sum
overstates a little); "per viewer" = (peak − the idle server's RSS) / N. "Server CPU per viewer" is the
CPU time the server (and its kernels) used during the run, / N: what the server itself pays for a
viewer, apart from the browsers' rendering on this machine.

Solara is measured warm (one page loaded and closed before the first N: imports and models in
memory). Voila starts afresh for each N with a preheated kernel, so one viewer finds a kernel ready
and the others start theirs.

    .venv/bin/python benchmarks/classroom.py [--server solara voila] [--viewers 1 5 10 20]
        [--voila-viewers 1 5] [--dashboard 02_reverse] [--workers 2] [--processes 1]
        [--clients chromium|light]

The browsers run on the same machine and take their share of the CPU. In a hall each student's laptop
renders its own page; here 20 headless Chromiums share the server's 2 cores, and one bare Solara page
(no diffviz in it) already costs Chromium ~1.9 CPU-s to load, ~2.3 with this dashboard (measured): 20
of them need ≥ 20 s of this machine before the server does anything. `--clients light` measures what
the server gives a hall instead: N − 1 light viewers (`LightViewer`: every request and websocket message a
browser makes for the page and for Generate, with no rendering) and one real Chromium viewer whose
pictures-on-screen time is what a student with their own machine sees while the server carries all N.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser.conftest import CHROMIUM, FLAGS, LOCAL, SolaraServer, VoilaServer  # noqa: E402

READY = ".dv-player img, .dv-player canvas"
TIMEOUT_MS = 600_000


def cpu_seconds(procs) -> float:
    """CPU seconds (user + system) these processes have used so far (ones that have ended count 0)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class Sampler:
    """Peak summed RSS of a process and all its children, sampled on a thread."""

    def __init__(self, pid: int, every: float = 0.2):
        self.root, self.every, self.peak, self._stop = psutil.Process(pid), every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu(self) -> float:
        """CPU seconds (user + system) the server and its live children have used so far."""
        return cpu_seconds([self.root, *self.root.children(recursive=True)])

    def total(self) -> int:
        procs = [self.root]
        try:
            procs += self.root.children(recursive=True)
        except psutil.Error:
            pass
        rss = 0
        for p in procs:
            try:
                rss += p.memory_info().rss
            except psutil.Error:
                pass
        return rss

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.total())
            time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


async def viewer(browser, url: str, seed: int, start: asyncio.Event, out: dict):
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    foreign, errors = [], []
    page.on("request", lambda r: foreign.append(r.url) if r.url.startswith(("http", "ws")) and
            __import__("urllib.parse").parse.urlparse(r.url).hostname not in LOCAL else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await start.wait()
    t0 = time.time()
    try:
        await page.goto(url, timeout=TIMEOUT_MS)
        await page.wait_for_selector(READY, timeout=TIMEOUT_MS, state="visible")
        out["ready"] = time.time() - t0
        seed_box = page.locator(".diffviz-view .widget-inline-hbox:has(label:text-is('Seed')) input").first
        await seed_box.fill(str(seed))
        await seed_box.press("Enter")
        await page.wait_for_timeout(300)
        t1 = time.time()
        await page.get_by_role("button", name="Generate").first.click()
        await page.wait_for_function(f"document.body.innerText.includes('seed {seed}')", timeout=TIMEOUT_MS)
        out["generate"] = time.time() - t1
    except Exception as err:  # noqa: BLE001 - reported in the table
        out["error"] = f"{type(err).__name__}: {str(err)[:120]}"
    out["foreign"], out["errors"] = foreign, errors
    await ctx.close()


def _decode(frame) -> tuple[dict, list[bytes]]:
    """A Jupyter websocket frame: JSON text, or binary (uint32 count, uint32 offsets, JSON, buffers)."""
    if isinstance(frame, str):
        return json.loads(frame), []
    n = struct.unpack(">I", frame[:4])[0]
    offsets = list(struct.unpack(f">{n}I", frame[4:4 + 4 * n])) + [len(frame)]
    return json.loads(frame[offsets[0]:offsets[1]]), [frame[a:b] for a, b in zip(offsets[1:-1], offsets[2:])]


class LightViewer:
    """One viewer as the SERVER sees it, without a browser's rendering: it fetches the page and every file
    a real Chromium viewer fetched (same addresses, gzip accepted, its own cookies: a new session), opens
    the kernel websocket and asks Solara to run the app as Solara's front end does, receives every widget,
    and is "ready" when its reverse-process player's frames have arrived. Generate: types its seed into the
    Seed box and clicks Generate (the messages a browser sends), done when the summary names the seed."""

    def __init__(self, url: str, assets: list[str]):
        self.url, self.assets = url, assets
        self.client = str(uuid.uuid4())
        self.comms: dict[str, dict] = {}

    def _msg(self, msg_type: str, content: dict) -> str:
        return json.dumps({"header": {"msg_id": str(uuid.uuid4()), "msg_type": msg_type, "session": self.client,
                                      "username": "", "version": "5.2", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ")},
                           "parent_header": {}, "metadata": {}, "content": content, "buffers": [], "channel": "shell"})

    def _seen(self, msg: dict, bufs: list[bytes]) -> bool:
        """Note widget models; True when this message carries the player's frames."""
        content = msg.get("content", {})
        data = content.get("data", {})
        if msg.get("msg_type") == "comm_open":
            self.comms[content["comm_id"]] = data.get("state", {})
        paths = data.get("buffer_paths", [])
        return any(p == ["frames"] and len(b) > 1000 for p, b in zip(paths, bufs))

    async def run(self, seed: int, start: asyncio.Event, out: dict) -> None:
        import httpx
        import websockets

        await start.wait()
        t0 = time.time()
        try:
            async with httpx.AsyncClient(headers={"accept-encoding": "gzip"}, timeout=TIMEOUT_MS / 1000) as http:
                page = await http.get(self.url)
                page.raise_for_status()
                limit = asyncio.Semaphore(6)  # a browser's connections per host

                async def fetch(u):
                    async with limit:
                        (await http.get(u)).raise_for_status()

                await asyncio.gather(*(fetch(u) for u in self.assets))
                cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
            kernel = str(uuid.uuid4())
            ws_url = self.url.replace("http", "ws", 1).rstrip("/") + \
                f"/jupyter/api/kernels/{kernel}/channels?session_id={self.client}"
            async with websockets.connect(ws_url, additional_headers={"Cookie": cookie}, max_size=None) as ws:
                await ws.send(self._msg("kernel_info_request", {}))
                control = str(uuid.uuid4())
                await ws.send(self._msg("comm_open", {"comm_id": control, "target_name": "solara.control", "data": {}}))
                await ws.send(self._msg("comm_msg", {"comm_id": control, "data": {
                    "method": "run", "args": {"path": "/", "dark": False, "themes": {}, "appName": None}}}))
                while True:
                    msg, bufs = _decode(await ws.recv())
                    if self._seen(msg, bufs):
                        break
                out["ready"] = time.time() - t0
                seed_box = next(c for c, s in self.comms.items()
                                if s.get("_model_name") == "IntTextModel" and s.get("description") == "Seed")
                button = next(c for c, s in self.comms.items()
                              if s.get("_model_name") == "ButtonModel" and s.get("description") == "Generate")
                await ws.send(self._msg("comm_msg", {"comm_id": seed_box, "data": {
                    "method": "update", "state": {"value": seed}, "buffer_paths": []}}))
                t1 = time.time()
                await ws.send(self._msg("comm_msg", {"comm_id": button, "data": {
                    "method": "custom", "content": {"event": "click"}}}))
                done = re.compile(rf"seed {seed}\b")
                while True:
                    frame = await ws.recv()
                    msg, bufs = _decode(frame)
                    self._seen(msg, bufs)
                    if done.search(json.dumps(msg.get("content", {}))):
                        break
                out["generate"] = time.time() - t1
            async with httpx.AsyncClient(timeout=30) as http:  # as a closed tab does
                await http.get(self.url.rstrip("/") + f"/_solara/api/close/{kernel}?session_id={self.client}")
        except Exception as err:  # noqa: BLE001 - reported in the table
            out["error"] = f"{type(err).__name__}: {str(err)[:120]}"
        out["foreign"], out["errors"] = [], []


async def page_assets(url: str) -> list[str]:
    """The same-origin files a real Chromium viewer fetches for the page (what each light viewer fetches)."""
    from playwright.async_api import async_playwright

    host = urllib.parse.urlparse(url).netloc
    seen: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await (await browser.new_context()).new_page()
        page.on("request", lambda r: seen.append(r.url) if urllib.parse.urlparse(r.url).netloc == host
                and r.url.startswith("http") and r.resource_type != "document" else None)
        await page.goto(url, timeout=TIMEOUT_MS)
        await page.wait_for_selector(READY, timeout=TIMEOUT_MS, state="visible")
        await page.wait_for_timeout(1000)
        await browser.close()
    return list(dict.fromkeys(seen))


async def hall(url: str, n: int, seed0: int, assets: list[str] | None = None) -> list[dict]:
    """N viewers at once, all headless Chromium; or, given `assets` (the page's files), N − 1 light viewers and
    one real Chromium viewer (the probe, last in the list): the server carries a hall of N, and one browser
    shows what a student on their own laptop sees."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        start, outs = asyncio.Event(), [dict() for _ in range(n)]
        light = n - 1 if assets is not None else 0
        tasks = [asyncio.create_task(LightViewer(url, assets).run(seed0 + i, start, outs[i]) if i < light
                                     else viewer(browser, url, seed0 + i, start, outs[i])) for i in range(n)]
        await asyncio.sleep(1.0)  # contexts made: everyone navigates at once
        start.set()
        await asyncio.gather(*tasks)
        await browser.close()
    return outs


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.1f}" if xs else "     -"


def mx(xs: list[float]) -> str:
    return f"{max(xs):6.1f}" if xs else "     -"


def one(out: dict, key: str) -> str:
    return f"{out[key]:6.1f}" if key in out else "     -"


def row(server: str, n: int, outs: list[dict], idle: int, peak: int, load: str, cpu: float) -> str:
    ready = [o["ready"] for o in outs if "ready" in o]
    gen = [o["generate"] for o in outs if "generate" in o]
    fails = [o["error"] for o in outs if "error" in o]
    foreign = sum(len(o["foreign"]) for o in outs)
    errors = sum(len(o["errors"]) for o in outs)
    return (f"| {server:6s} | {n:3d} | {med(ready)} | {mx(ready)} | {med(gen)} | {mx(gen)} | {peak / 2**30:5.2f} | "
            f"{(peak - idle) / max(1, n) / 2**20:6.0f} | {idle / 2**30:5.2f} | {cpu / max(1, n):5.1f} | {len(fails)} | {foreign} | {errors} | {load} |"
            + (f"  {fails[0]}" if fails else ""))


HEAD = ("| server | N   | ready median s | ready max s | generate median s | generate max s | peak GB | per viewer MB "
        "| idle GB | server CPU s per viewer | failed | off-machine requests | console errors | load avg (1 min) before |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


LIGHT_HEAD = ("| server | N (light + 1 Chromium) | light ready median s | light ready max s | Chromium ready s "
              "| generate median s | generate max s | Chromium generate s | peak GB | per viewer MB | idle GB "
              "| server CPU s per viewer | failed | off-machine requests | console errors | load avg (1 min) before |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def light_row(server: str, n: int, outs: list[dict], idle: int, peak: int, load: str, cpu: float) -> str:
    light, probe = outs[:-1], outs[-1]
    ready = [o["ready"] for o in light if "ready" in o]
    gen = [o["generate"] for o in outs if "generate" in o]
    fails = [o["error"] for o in outs if "error" in o]
    return (f"| {server:6s} | {n - 1:3d} + 1 | {med(ready)} | {mx(ready)} | {one(probe, 'ready')} | {med(gen)} | {mx(gen)} "
            f"| {one(probe, 'generate')} | {peak / 2**30:5.2f} | {(peak - idle) / max(1, n) / 2**20:6.0f} | {idle / 2**30:5.2f} "
            f"| {cpu / max(1, n):5.1f} | {len(fails)} | {len(probe['foreign'])} | {len(probe['errors'])} | {load} |"
            + (f"  {fails[0]}" if fails else ""))


def load_avg() -> str:
    return f"{os.getloadavg()[0]:.1f}"


class ProxiedSolara:
    """`diffviz dashboard NAME --server solara --processes N`: N Solara processes behind the sticky proxy
    (the memory sampled is the whole process tree: proxy + every Solara process)."""

    def __init__(self, dashboard: str, workers: int, processes: int):
        from browser.conftest import free_port, wait_for_port

        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"solara-proxy-{port}.log"
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        self.proc = subprocess.Popen([sys.executable, "-m", "diffviz.cli", "dashboard", dashboard, "--server", "solara",
                                      "--processes", str(processes), "--workers", str(workers), "--port", str(port)],
                                     env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        for p in [port] + [port + 1 + i for i in range(processes)]:
            wait_for_port(self.proc, p, log, f"port {p}", 240)

    def stop(self):
        import signal

        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


BARE_APP = """import ipywidgets as W
import solara


@solara.component
def Page():
    solara.display(W.HTML("<div class='dv-player'><img width=64 height=64 src='data:image/gif;base64,"
                          "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7'></div>"))
"""


def chromium_cpu() -> float:
    """CPU seconds used so far by every Chromium process on the machine."""
    return cpu_seconds(p for p in psutil.process_iter(["name"]) if "chrom" in (p.info["name"] or ""))


async def page_cpu(url: str, loads: int = 4) -> list[float]:
    """Chromium's CPU seconds (all its processes) for each of `loads` fresh viewers opening `url` one after
    another, until the player shows."""
    from playwright.async_api import async_playwright

    cpu = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for _ in range(loads):
            ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await ctx.new_page()
            before = chromium_cpu()
            await page.goto(url, timeout=TIMEOUT_MS)
            await page.wait_for_selector(READY, timeout=TIMEOUT_MS, state="visible")
            await page.wait_for_timeout(300)
            cpu.append(chromium_cpu() - before)
            await ctx.close()
        await browser.close()
    return cpu


def browser_floor(dashboard: str, workers: int) -> None:
    """What the hall's browsers alone cost this machine: Chromium CPU per page load for a bare Solara page (one
    HTML widget, no diffviz) and for the dashboard, and the least wall time 20 such loads need on its cores."""
    import tempfile

    from browser.conftest import SolaraServer, free_port, wait_for_port

    from diffviz.servers import solara_command, solara_environment

    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "bare.py"
        app.write_text(BARE_APP)
        port = free_port()
        log = Path(tmp) / "bare.log"
        cmd = solara_command(port=port)
        cmd[cmd.index("diffviz.servers.solara_app")] = str(app)
        proc = subprocess.Popen(cmd, env=solara_environment(dashboard), stdout=open(log, "w"), stderr=subprocess.STDOUT)
        try:
            wait_for_port(proc, port, log, "solara (bare page)", 120)
            bare = asyncio.run(page_cpu(f"http://127.0.0.1:{port}/"))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    server = SolaraServer(dashboard, workers)
    try:
        full = asyncio.run(page_cpu(server.url))
    finally:
        server.stop()
    cores = os.cpu_count() or 1
    for name, cpu in (("bare Solara page", bare), (f"dashboard {dashboard}", full)):
        med = statistics.median(cpu[1:])  # the first load also warms the browser itself
        print(f"{name}: Chromium CPU per page load {med:.2f} s (loads: {', '.join(f'{c:.2f}' for c in cpu)}); "
              f"20 such loads need ≥ {20 * med / cores:.1f} s of this machine's {cores} cores", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", nargs="*", default=["solara", "voila"], choices=["solara", "voila"])
    p.add_argument("--viewers", nargs="*", type=int, default=[1, 5, 10, 20])
    p.add_argument("--voila-viewers", nargs="*", type=int, default=None, help="Voila's N (default: --viewers)")
    p.add_argument("--dashboard", default="02_reverse")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--processes", type=int, default=1,
                   help="Solara processes behind diffviz's sticky proxy (diffviz dashboard --processes N)")
    p.add_argument("--clients", choices=["chromium", "light"], default="chromium",
                   help="Solara's viewers: all headless Chromium (the browsers share this machine's cores), or "
                        "N − 1 light viewers (the server's whole work for a viewer, no rendering) + 1 Chromium")
    p.add_argument("--browser-floor", action="store_true",
                   help="only measure Chromium's own CPU per page load (bare Solara page and the dashboard)")
    args = p.parse_args()
    if args.browser_floor:
        return browser_floor(args.dashboard, args.workers)
    light = args.clients == "light"
    print(f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB; dashboard {args.dashboard}", flush=True)
    print(LIGHT_HEAD if light and args.server == ["solara"] else HEAD, flush=True)
    seed = 1000
    if "solara" in args.server:
        server = SolaraServer(args.dashboard, args.workers) if args.processes == 1 else \
            ProxiedSolara(args.dashboard, args.workers, args.processes)
        try:
            asyncio.run(hall(server.url, 1, 999))  # warm: imports and models in memory
            assets = asyncio.run(page_assets(server.url)) if light else []
            time.sleep(3)
            for n in args.viewers:
                idle, load, cpu0 = Sampler(server.proc.pid).total(), load_avg(), Sampler(server.proc.pid).cpu()
                with Sampler(server.proc.pid) as s:
                    outs = asyncio.run(hall(server.url, n, seed, assets if light else None))
                name = "solara" if args.processes == 1 else f"solara×{args.processes}"
                print((light_row if light else row)(name, n, outs, idle, s.peak, load, s.cpu() - cpu0), flush=True)
                seed += n
                time.sleep(5)  # closed pages' virtual kernels go away
        finally:
            server.stop()
    if "voila" in args.server:
        nb = ROOT / "dashboards" / f"{args.dashboard}.ipynb"
        for n in args.voila_viewers or args.viewers:
            server = VoilaServer(nb, preheat=True, settings={"CappedKernelManager.max_kernels": n + 2})
            try:
                time.sleep(45)  # the preheated kernel has run the dashboard
                idle, load, cpu0 = Sampler(server.proc.pid).total(), load_avg(), Sampler(server.proc.pid).cpu()
                with Sampler(server.proc.pid) as s:
                    outs = asyncio.run(hall(server.url, n, seed))
                print(row("voila", n, outs, idle, s.peak, load, s.cpu() - cpu0), flush=True)
                seed += n
            finally:
                kernels = psutil.Process(server.proc.pid).children(recursive=True)
                server.stop()
                _, alive = psutil.wait_procs(kernels, timeout=10)
                for child in alive:  # kernels Voila left behind
                    child.terminate()
                time.sleep(3)


if __name__ == "__main__":
    main()
