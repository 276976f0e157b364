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
        [--voila-viewers 1 5] [--dashboard 02_reverse] [--workers 2]

The browsers run on the same machine and take their share of the CPU: the times are what a hall
sees only when the server has the machine to itself less the browsers' rendering.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser.conftest import CHROMIUM, FLAGS, LOCAL, SolaraServer, VoilaServer  # noqa: E402

READY = ".dv-player img, .dv-player canvas"
TIMEOUT_MS = 600_000


class Sampler:
    """Peak summed RSS of a process and all its children, sampled on a thread."""

    def __init__(self, pid: int, every: float = 0.2):
        self.root, self.every, self.peak, self._stop = psutil.Process(pid), every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu(self) -> float:
        """CPU seconds (user + system) the server and its live children have used so far."""
        total = 0.0
        for p in [self.root, *self.root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

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


async def hall(url: str, n: int, seed0: int) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        start, outs = asyncio.Event(), [dict() for _ in range(n)]
        tasks = [asyncio.create_task(viewer(browser, url, seed0 + i, start, outs[i])) for i in range(n)]
        await asyncio.sleep(1.0)  # contexts made: everyone navigates at once
        start.set()
        await asyncio.gather(*tasks)
        await browser.close()
    return outs


def row(server: str, n: int, outs: list[dict], idle: int, peak: int, load: str, cpu: float) -> str:
    ready = [o["ready"] for o in outs if "ready" in o]
    gen = [o["generate"] for o in outs if "generate" in o]
    fails = [o["error"] for o in outs if "error" in o]
    foreign = sum(len(o["foreign"]) for o in outs)
    errors = sum(len(o["errors"]) for o in outs)
    med = lambda xs: f"{statistics.median(xs):6.1f}" if xs else "     -"  # noqa: E731
    mx = lambda xs: f"{max(xs):6.1f}" if xs else "     -"  # noqa: E731
    return (f"| {server:6s} | {n:3d} | {med(ready)} | {mx(ready)} | {med(gen)} | {mx(gen)} | {peak / 2**30:5.2f} | "
            f"{(peak - idle) / max(1, n) / 2**20:6.0f} | {idle / 2**30:5.2f} | {cpu / max(1, n):5.1f} | {len(fails)} | {foreign} | {errors} | {load} |"
            + (f"  {fails[0]}" if fails else ""))


HEAD = ("| server | N   | ready median s | ready max s | generate median s | generate max s | peak GB | per viewer MB "
        "| idle GB | server CPU s per viewer | failed | off-machine requests | console errors | load avg (1 min) before |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def load_avg() -> str:
    return f"{os.getloadavg()[0]:.1f}"


class ProxiedSolara:
    """`diffviz dashboard NAME --server solara --processes N`: N Solara processes behind the sticky proxy
    (the memory sampled is the whole process tree: proxy + every Solara process)."""

    def __init__(self, dashboard: str, workers: int, processes: int):
        import socket
        import subprocess

        from browser.conftest import wait_for_port

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", nargs="*", default=["solara", "voila"], choices=["solara", "voila"])
    p.add_argument("--viewers", nargs="*", type=int, default=[1, 5, 10, 20])
    p.add_argument("--voila-viewers", nargs="*", type=int, default=None, help="Voila's N (default: --viewers)")
    p.add_argument("--dashboard", default="02_reverse")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--processes", type=int, default=1,
                   help="Solara processes behind diffviz's sticky proxy (diffviz dashboard --processes N)")
    args = p.parse_args()
    print(f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB; dashboard {args.dashboard}", flush=True)
    print(HEAD, flush=True)
    seed = 1000
    if "solara" in args.server:
        server = SolaraServer(args.dashboard, args.workers) if args.processes == 1 else \
            ProxiedSolara(args.dashboard, args.workers, args.processes)
        try:
            asyncio.run(hall(server.url, 1, 999))  # warm: imports and models in memory
            time.sleep(3)
            for n in args.viewers:
                idle, load, cpu0 = Sampler(server.proc.pid).total(), load_avg(), Sampler(server.proc.pid).cpu()
                with Sampler(server.proc.pid) as s:
                    outs = asyncio.run(hall(server.url, n, seed))
                name = "solara" if args.processes == 1 else f"solara×{args.processes}"
                print(row(name, n, outs, idle, s.peak, load, s.cpu() - cpu0), flush=True)
                seed += n
                time.sleep(5)  # closed pages' virtual kernels go away
        finally:
            server.stop()
    if "voila" in args.server:
        nb = ROOT / "diffviz" / "dashboards" / f"{args.dashboard}.ipynb"
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
