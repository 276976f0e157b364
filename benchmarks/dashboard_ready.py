"""Dashboards as a lecture hall sees them: ready time, kernel memory, and kernels left behind.

For each dashboard: navigation → widgets visible in headless Chromium (cold, then with a
preheated kernel), the kernel's memory; then 10 page loads and closes, the kernel count right after,
and again once Voila's idle culling has run (it must fall back).

Kernel memory is given as RSS (what `top` shows), USS (pages only this kernel holds: what one more
student costs) and PSS, beside the floor: a bare process that imports ipykernel, torch and the
diffusers UNets and nothing of diffviz (the pinned CUDA build of torch alone is ~500 MB RSS).

    .venv/bin/python benchmarks/dashboard_ready.py [--dashboards explainer 02_reverse] [--loads 10]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser.conftest import CHROMIUM, FLAGS, VoilaServer  # noqa: E402

READY = ".diffviz-view, .widget-tab, .dv-player"


def kernels(server: VoilaServer) -> list[psutil.Process]:
    found = []
    for p in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:  # a child that just exited (e.g. a culled kernel)
            pass
    return found


FLOOR = ("import ipykernel.kernelapp, torch, psutil; from diffusers import UNet2DConditionModel, AutoencoderKL; "
         "m = psutil.Process().memory_full_info(); print(m.rss >> 20, m.uss >> 20, m.pss >> 20)")


def memory(procs: list[psutil.Process]) -> str:
    """RSS / USS / PSS in MB of the largest kernel."""
    if not procs:
        return "no kernel"
    info = max((p.memory_full_info() for p in procs), key=lambda m: m.rss)
    return f"RSS {info.rss >> 20} / USS {info.uss >> 20} / PSS {info.pss >> 20} MB"


def floor() -> str:
    out = subprocess.run([sys.executable, "-c", FLOOR], capture_output=True, text=True, check=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""}).stdout.split()
    return f"RSS {out[0]} / USS {out[1]} / PSS {out[2]} MB"


def load(browser, url: str, charts: bool = False) -> tuple[float, float | None]:
    """Seconds from navigation to the widgets visible, and (charts=True) to the first plot drawn."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    t0 = time.time()
    page.goto(url, timeout=300_000)
    page.wait_for_selector(READY, timeout=300_000, state="visible")
    ready, drawn = time.time() - t0, None
    if charts:
        try:
            page.wait_for_selector(".js-plotly-plot", timeout=20_000, state="visible")
            drawn = time.time() - t0
        except Exception:  # a dashboard without charts on its first screen
            pass
    page.close()
    return ready, drawn


def seconds(ready: float, drawn: float | None) -> str:
    return f"{ready:5.1f} s" + (f" (charts {drawn:.1f} s)" if drawn else "")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dashboards", nargs="*", default=None)
    p.add_argument("--loads", type=int, default=10)
    p.add_argument("--cull", type=int, default=20, help="idle-kernel timeout for this run, seconds")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    names = args.dashboards or sorted(q.stem for q in (ROOT / "dashboards").glob("*.ipynb"))
    cull = {"MappingKernelManager.cull_idle_timeout": args.cull, "MappingKernelManager.cull_interval": 5}
    print(f"floor (ipykernel + torch + diffusers UNets, no diffviz): {floor()}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name in names:
            nb = ROOT / "dashboards" / f"{name}.ipynb"
            cold_server = VoilaServer(nb, preheat=False)
            cold = seconds(*load(browser, cold_server.url, charts=True))
            cold_memory = memory(kernels(cold_server))
            cold_server.stop()
            server = VoilaServer(nb, preheat=True, settings=cull)
            time.sleep(20)  # let the preheated kernel finish its work
            warm = seconds(*load(browser, server.url, charts=True))
            warm_memory = memory(kernels(server))
            for _ in range(args.loads - 1):
                load(browser, server.url)
            after = len(kernels(server))
            time.sleep(args.cull + 15)
            culled = len(kernels(server))
            server.stop()
            print(f"{name:14s} ready cold {cold} · preheated {warm} · kernel {cold_memory} "
                  f"(preheated: {warm_memory}) · kernels after {args.loads} loads {after} → after culling {culled}")
        browser.close()


if __name__ == "__main__":
    main()
