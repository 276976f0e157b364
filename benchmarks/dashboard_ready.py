"""Dashboards as a lecture hall sees them: ready time, kernel memory, and kernels left behind.

For each dashboard: navigation → widgets visible in headless Chromium (cold, then with a
preheated kernel), the kernel's RSS; then 10 page loads and closes, the kernel count right after,
and again once Voila's idle culling has run (it must fall back).

    .venv/bin/python benchmarks/dashboard_ready.py [--dashboards explainer 02_reverse] [--loads 10]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser.conftest import CHROMIUM, FLAGS, VoilaServer  # noqa: E402

READY = ".diffviz-view, .widget-tab, .dv-player"


def kernels(server: VoilaServer) -> list[psutil.Process]:
    return [p for p in psutil.Process(server.proc.pid).children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]


def load(browser, url: str) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    t0 = time.time()
    page.goto(url, timeout=300_000)
    page.wait_for_selector(READY, timeout=300_000, state="visible")
    ready = time.time() - t0
    page.close()
    return ready


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dashboards", nargs="*", default=None)
    p.add_argument("--loads", type=int, default=10)
    p.add_argument("--cull", type=int, default=20, help="idle-kernel timeout for this run, seconds")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    names = args.dashboards or sorted(q.stem for q in (ROOT / "dashboards").glob("*.ipynb"))
    cull = {"MappingKernelManager.cull_idle_timeout": args.cull, "MappingKernelManager.cull_interval": 5}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name in names:
            nb = ROOT / "dashboards" / f"{name}.ipynb"
            cold_server = VoilaServer(nb, preheat=False)
            cold = load(browser, cold_server.url)
            rss = max((k.memory_info().rss for k in kernels(cold_server)), default=0) / 2**20
            cold_server.stop()
            server = VoilaServer(nb, preheat=True, settings=cull)
            time.sleep(20)  # let the preheated kernel finish its work
            warm = load(browser, server.url)
            for _ in range(args.loads - 1):
                load(browser, server.url)
            after = len(kernels(server))
            time.sleep(args.cull + 15)
            culled = len(kernels(server))
            server.stop()
            print(f"{name:14s} ready cold {cold:5.1f} s · preheated {warm:5.1f} s · kernel RSS {rss:6.0f} MB · "
                  f"kernels after {args.loads} loads {after} → after culling {culled}")
        browser.close()


if __name__ == "__main__":
    main()
