"""Diffusion of 2-D points: the forward process step by step, the noise predictor's field, the way back.

The maths is the images' (`forward.q_sample`, the diffusers scheduler loop of `sampling.sample_loop`),
on tensors of shape (N, 2): a point cloud is a batch of "images" of two numbers each, so the whole
process fits in one plot.

- `forward_chain`: x_t from x_{t-1} by adding a little noise at every step (the lecture's "image +
  random sample → next image, repeated"), recorded at chosen steps. Between two recorded steps a and
  b the many small steps combine exactly into one: x_b = √(ᾱ_b/ᾱ_a)·x_a + √(1 − ᾱ_b/ᾱ_a)·ε.
- `noise_field`: ε̂(x, t) on a grid — the arrows −ε̂ point where denoising moves a point.
- `reverse_points`: sampling from N(0, I) with a diffusers scheduler, recorded as a `Trajectory`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .denoiser import call_denoiser
from .sampling import sample_loop
from .schedule import Schedule
from .schedulers import make_scheduler
from .trajectory import Trajectory
from ..errors import DiffvizError

POINT_RANGE = 4.0  # x̂0 is clipped to ±4 while sampling (the toy sets lie within about ±2.5)


def frame_timesteps(schedule: Schedule, frames: int) -> list[int]:
    """`frames` steps from 0 (the data) to T-1 (noise), spaced so the cloud changes evenly: uniform in
    √(1 − ᾱ_t), the share of noise (most of the visible change happens early in t)."""
    if not 2 <= int(frames) <= schedule.num_train_timesteps:
        raise DiffvizError(f"frames must be in [2, {schedule.num_train_timesteps}], got {frames}")
    noise = schedule.sqrt_one_minus_alpha_bar.numpy()
    targets = np.linspace(noise[0], noise[-1], int(frames))
    ts = np.searchsorted(noise, targets).clip(0, len(noise) - 1)
    ts[0], ts[-1] = 0, len(noise) - 1
    return sorted(set(int(t) for t in ts))


@torch.no_grad()
def forward_chain(x0: torch.Tensor, schedule: Schedule, timesteps, generator: torch.Generator | None = None) -> torch.Tensor:
    """The forward process run step by step from x0 (N, 2), recorded at the increasing `timesteps`:
    (K, N, 2). The first recorded step t0 is x0 itself noised to t0 (t0 = 0: almost x0)."""
    ts = [int(t) for t in timesteps]
    if not ts or any(b <= a for a, b in zip(ts, ts[1:])) or ts[0] < 0 or ts[-1] >= schedule.num_train_timesteps:
        raise DiffvizError(f"timesteps must increase within [0, {schedule.num_train_timesteps - 1}], got {ts[:5]}…")
    ab = schedule.alphas_cumprod.to(torch.float64)
    x = x0.to(torch.float64)
    out, prev = [], 1.0
    for t in ts:
        keep = float(ab[t]) / prev
        eps = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        x = keep ** 0.5 * x + (1 - keep) ** 0.5 * eps
        prev = float(ab[t])
        out.append(x.clone())
    return torch.stack(out).to(x0.dtype)


def grid(extent: float = 3.0, n: int = 15) -> torch.Tensor:
    """(n², 2) points on a square grid over [-extent, extent]²."""
    axis = torch.linspace(-extent, extent, n)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], 1)


@torch.no_grad()
def noise_field(unet, t: int, points: torch.Tensor) -> torch.Tensor:
    """The predicted noise ε̂(x, t) at each point (N, 2); the denoising direction is −ε̂."""
    device = next(unet.parameters()).device
    return call_denoiser(unet, points.to(device), torch.full((len(points),), int(t), device=device), None).cpu()


@torch.no_grad()
def reverse_points(unet, schedule: Schedule, n: int, *, steps: int = 100, scheduler: str = "ddpm", seed: int = 0) -> Trajectory:
    """Sample n points from N(0, I) back to the data with the trained predictor, every step recorded."""
    sched = make_scheduler(scheduler, schedule, sample_range=POINT_RANGE)
    device = next(unet.parameters()).device
    g = torch.Generator(device=device).manual_seed(int(seed))
    return sample_loop(unet, sched, schedule, (int(n), 2), steps=int(steps), generator=g, device=device)


# ---- pictures of points ---------------------------------------------------------------------------------
EXTENT = 3.2  # the pictures show [-3.2, 3.2]²: the toy sets and almost all of N(0, I)
COLOURS = {"data": (190, 190, 190), "points": (31, 119, 180), "samples": (230, 110, 20), "field": (120, 160, 120),
           "paths": [(214, 39, 40), (148, 103, 189), (44, 160, 44), (23, 190, 207), (140, 86, 75), (227, 119, 194)]}


def render_points(points, size: int = 150, *, background=None, field: tuple | None = None, paths=None,
                  colour=COLOURS["points"], extent: float = EXTENT) -> np.ndarray:
    """A uint8 (size, size, 3) picture: grey `background` points, arrows `field` = (grid, −ε̂ arrows),
    the `points` in `colour`, and particle `paths` (list of (K, 2) polylines, each ending in a dot)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    scale = (size - 1) / (2 * extent)

    def px(p):
        p = np.asarray(p, dtype=np.float64)
        return np.stack([(p[..., 0] + extent) * scale, (extent - p[..., 1]) * scale], -1)

    c = px(np.zeros(2))
    draw.line([(0, c[1]), (size, c[1])], fill=(235, 235, 235))
    draw.line([(c[0], 0), (c[0], size)], fill=(235, 235, 235))
    r = 2 * scale  # the circle of radius 2 holds 86 % of N(0, I)
    draw.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], outline=(225, 225, 225))
    pic = np.asarray(img).copy()

    def dots(pts, rgb):
        q = np.round(px(pts)).astype(int)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            x, y = q[:, 0] + dx, q[:, 1] + dy
            ok = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            pic[y[ok], x[ok]] = rgb

    if background is not None:
        dots(background, COLOURS["data"])
    img = Image.fromarray(pic)
    draw = ImageDraw.Draw(img)
    if field is not None:
        for a, b in zip(px(field[0]), px(field[0] + field[1])):
            draw.line([tuple(a), tuple(b)], fill=COLOURS["field"])
            draw.rectangle([b[0] - 1, b[1] - 1, b[0] + 1, b[1] + 1], fill=(70, 120, 70))  # the head
    pic = np.asarray(img).copy()
    dots(points, colour)
    img = Image.fromarray(pic)
    draw = ImageDraw.Draw(img)
    for i, path in enumerate(paths or []):
        q = px(path)
        rgb = COLOURS["paths"][i % len(COLOURS["paths"])]
        if len(q) > 1:
            draw.line([tuple(p) for p in q], fill=rgb, width=1)
        draw.ellipse([q[-1][0] - 3, q[-1][1] - 3, q[-1][0] + 3, q[-1][1] + 3], fill=rgb, outline=(0, 0, 0))
    return np.asarray(img)


def field_arrows(unet, t: int, n: int = 11, extent: float = 3.0, length: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid points and arrows −ε̂ · length: the direction a denoising step moves a point there (lengths
    capped at 3/4 of the grid spacing, so arrows stay apart and readable)."""
    pts = grid(extent, n)
    arrows = -noise_field(unet, t, pts) * length
    norm = arrows.norm(dim=1, keepdim=True).clamp(min=1e-8)
    return pts, arrows * (norm.clamp(max=0.75 * 2 * extent / (n - 1)) / norm)


@dataclass
class PointFilm:
    """The forward process and the trained model's way back, as pictures ready for a player."""
    forward: np.ndarray  # uint8 (K, 1, H, W, 3): data → noise, field of ε̂ at each frame's t
    forward_t: list[int]
    reverse: np.ndarray  # uint8 (K', 1, H, W, 3): noise → data by the sampler, field at each step's t
    reverse_t: list[int]  # t of each reverse frame (-1: the final sample)
    forward_points: torch.Tensor  # (K, N, 2)
    reverse_points: torch.Tensor  # (K', N, 2)


@torch.no_grad()
def point_film(unet, schedule: Schedule, data: torch.Tensor, *, frames: int = 30, steps: int = 100, paths: int = 6,
               size: int = 150, seed: int = 0, scheduler: str = "ddim") -> PointFilm:
    """Noise `data` (N, 2) step by step to N(0, I), then sample N points back with `unet`; one picture
    per frame with the predicted-noise field at that frame's t and `paths` particles' tracks. The way
    back uses DDIM by default: no fresh noise per step, so each particle's track follows the field."""
    g = torch.Generator().manual_seed(int(seed))
    ts = frame_timesteps(schedule, frames)
    fwd = forward_chain(data, schedule, ts, g)
    traj = reverse_points(unet, schedule, len(data), steps=steps, seed=seed, scheduler=scheduler)
    keep = np.unique(np.linspace(0, traj.num_steps - 1, min(frames, traj.num_steps)).round().astype(int))
    rev = torch.cat([traj.x_t[keep], traj.final[None]])
    rev_t = [int(traj.timesteps[i]) for i in keep] + [-1]
    bg = data.numpy()
    fwd_pics = [render_points(fwd[k], size, background=bg, field=field_arrows(unet, t),
                              paths=[fwd[:k + 1, i] for i in range(paths)]) for k, t in enumerate(ts)]
    rev_pics = [render_points(rev[k], size, background=bg, colour=COLOURS["samples"],
                              field=field_arrows(unet, max(t, 0)) if t >= 0 else None,
                              paths=[rev[:k + 1, i] for i in range(paths)]) for k, t in enumerate(rev_t)]
    return PointFilm(np.stack(fwd_pics)[:, None], ts, np.stack(rev_pics)[:, None], rev_t, fwd, rev)
