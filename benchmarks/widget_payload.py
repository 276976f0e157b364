"""What a trajectory costs the wire, and how fast the browser redraws a frame while scrubbing.

- bytes sent once per trajectory by the FramePlayer (one binary buffer of uint8 RGB frames),
  against the same frames as base64 JSON and as per-frame PNGs in a plotly/ipywidgets Image view;
- frame time in headless Chromium: the player's own measure (data-frame-ms) over many steps.

    .venv/bin/python benchmarks/widget_payload.py [--model shapes] [--steps 50] [--images 4]
"""
from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import diffviz
from diffviz.export import Section, export_html
from diffviz.models.defaults import model_name
from diffviz.frames import pack_frames
from diffviz.frames import trajectory_rows


def png_size(frames: dict[str, np.ndarray]) -> int:
    total = 0
    for arr in frames.values():
        for img in arr.reshape(-1, *arr.shape[2:]):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            total += len(buf.getvalue())
    return total


def browser_frame_times(rows, labels) -> list[float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from browser.conftest import CHROMIUM, FLAGS
    from playwright.sync_api import sync_playwright

    path = export_html(Path(tempfile.mkdtemp()) / "bench.html", [Section("bench", players=[{"rows": rows, "step_labels": labels, "zoom": 6}])])
    times = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = b.new_page()
        page.goto(path.as_uri())
        page.wait_for_selector("canvas.dv-cell")
        player = page.locator(".dv-player").first
        player.focus()
        for _ in range(3 * len(labels)):
            page.keyboard.press("ArrowRight")
            times.append(float(player.get_attribute("data-frame-ms")))
        b.close()
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--images", type=int, default=4)
    args = p.parse_args()
    name = args.model or model_name("shapes")
    model = diffviz.load(name)
    conds = (["a red circle", "a blue square", "a green triangle", "a yellow cross"] * args.images)[: args.images] \
        if model.kind == "text" else list(range(args.images))
    traj = model.sample(conds, steps=args.steps, seed=0)
    rows = trajectory_rows(traj)
    data, layout = pack_frames(rows)
    b64 = len(base64.b64encode(data))
    pngs = png_size(rows)
    print(f"model={name} steps={traj.num_steps} images={traj.batch_size} rows={list(rows)}")
    print(f"FramePlayer binary buffer, sent once: {len(data) / 1024:.1f} KiB")
    print(f"same frames as base64 in JSON:         {b64 / 1024:.1f} KiB ({b64 / len(data):.2f}x)")
    print(f"same frames as separate PNGs:           {pngs / 1024:.1f} KiB ({pngs / len(data):.2f}x), "
          "and a kernel round trip per step if each step is re-sent")
    times = browser_frame_times(rows, traj.step_labels())
    print(f"browser frame time over {len(times)} steps: median {statistics.median(times):.2f} ms, "
          f"p95 {np.percentile(times, 95):.2f} ms, max {max(times):.2f} ms (budget 16 ms)")


if __name__ == "__main__":
    main()
