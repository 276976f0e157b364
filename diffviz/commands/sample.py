"""`diffviz sample`: generate from a model and write a PNG strip of the reverse process."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from . import SEED, int_in, number_in

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("conditions", nargs="*", help="prompts (text model) or class indices (class model)")
    p.add_argument("--model", default=None, help="bundled name (shapes, digits), tiny-* or a folder; default: shapes")
    p.add_argument("--steps", type=int_in(1, None), default=50, help="sampling steps, 1..T (default 50)")
    p.add_argument("--guidance", type=number_in(0, None), default=None, help="guidance scale w >= 0 (default: the model's)")
    p.add_argument("--scheduler", default="ddim", help="ddpm, ddim, dpm or euler")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--frames", type=int_in(1, 1000), default=10, help="columns in the strip (steps shown), 1..1000")
    p.add_argument("--zoom", type=int_in(1, 32), default=4, help="pixel zoom of the PNG, 1..32")
    p.add_argument("--device", default=None)
    p.add_argument("-o", "--output", default="trajectory.png", help="picture file (.png, .jpg, …); a symbolic link is written "
                   "through (its target replaced); a device or FIFO is refused")


def strip_image(rows: list[np.ndarray], zoom: int = 4, gap: int = 2) -> Image.Image:
    """Tile rows of frames (each (K, H, W, 3) uint8) into one picture, nearest-neighbour zoomed."""
    h = max(r.shape[1] for r in rows)
    w = max(r.shape[2] for r in rows)
    k = max(r.shape[0] for r in rows)
    canvas = np.full(((h + gap) * len(rows) - gap, (w + gap) * k - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            canvas[i * (h + gap): i * (h + gap) + frame.shape[0], j * (w + gap): j * (w + gap) + frame.shape[1]] = frame
    img = Image.fromarray(canvas)
    return img.resize((img.width * zoom, img.height * zoom), Image.NEAREST)


def check_picture_path(path: str) -> Path:
    """The output picture's path, refused before any sampling if it cannot be written."""
    from ..errors import OutputPathError, short
    from ..utils import check_output_file

    out = check_output_file(path)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputPathError(f"output {short(str(out))} needs a picture extension: {', '.join(sorted(IMAGE_SUFFIXES))}")
    return out


def run(args) -> int:
    from ..models.defaults import example_conditions, load_default
    from ..models.registry import load
    from ..utils import atomic_write, pick_device

    out = check_picture_path(args.output)  # before the model loads and samples (seconds of work)
    device = pick_device(args.device)
    model = load(args.model, device=device) if args.model else load_default(device=device)  # DIFFVIZ_LANG=zh: reads Chinese
    conds = args.conditions or None
    if model.kind == "class" and conds:
        conds = [int(c) if c.isdigit() else c for c in conds]
    if conds is None and model.kind != "uncond":
        conds = example_conditions(model, 1)
    traj = model.sample(conds, num_images=None if conds else 1, steps=args.steps, guidance=args.guidance,
                        scheduler=args.scheduler, seed=args.seed, progress=True)
    idx = np.unique(np.linspace(0, traj.num_steps - 1, max(1, min(args.frames, traj.num_steps))).round().astype(int))
    rows = []
    for b in range(traj.batch_size):
        rows.append(traj.frames("x_t")[idx, b])
        rows.append(traj.image_frames()[idx, b])
    picture = strip_image(rows, zoom=args.zoom)
    fmt = Image.registered_extensions().get(out.suffix.lower())
    atomic_write(out, lambda tmp: picture.save(tmp, format=fmt))
    print(f"{model.name}: {traj.batch_size} image(s), {traj.num_steps} {args.scheduler} steps -> {out.resolve()}")
    print("rows: x_t (the denoiser's input) and the predicted clean image, for each condition:", traj.meta["conditions"])
    return 0
