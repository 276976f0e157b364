"""2-D toy data: point clouds a diffusion model learns in seconds, and that a plot shows whole.

Two moons, a swiss roll, a spiral, and the outline of any typed character or word (the text is
rendered to a mask with PIL's default font — or the shipped CJK font for Chinese — and points are
drawn on its strokes). Every set is centred and scaled to unit variance per coordinate, so
N(0, I), where the forward process ends, sits on the same axes. Deterministic by seed.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import DiffvizError, InputTypeError

TOY_NAMES = ("moons", "swiss_roll", "spiral", "text")
MAX_POINTS = 200_000
MAX_TEXT = 12  # characters: more would be too thin to see as points


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_POINTS:
        raise DiffvizError(f"n must be a whole number of points in [1, {MAX_POINTS}], got {n!r}")
    return int(n)


@lru_cache(maxsize=32)
def _frame(name: str, text: str) -> tuple[np.ndarray, float]:
    """Centre and scale of a set, from one fixed large draw: every draw of the set (any n, any seed) is
    mapped the same way, so two draws are samples of one distribution."""
    ref = _raw(name, 20_000, 12345, text)
    centre = ref.mean(0)
    return centre, float(np.sqrt(((ref - centre) ** 2).sum(1).mean() / 2))


def two_moons(n: int, seed: int = 0, noise: float = 0.06) -> np.ndarray:
    rng = np.random.default_rng(seed)
    upper = rng.random(n) < 0.5
    a = rng.uniform(0, np.pi, n)
    x = np.where(upper, np.cos(a), 1 - np.cos(a))
    y = np.where(upper, np.sin(a), 0.5 - np.sin(a))
    return np.stack([x, y], 1) + noise * rng.standard_normal((n, 2))


def swiss_roll(n: int, seed: int = 0, noise: float = 0.25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = 1.5 * np.pi * (1 + 2 * rng.random(n))
    return np.stack([a * np.cos(a), a * np.sin(a)], 1) + noise * rng.standard_normal((n, 2))


def spiral(n: int, seed: int = 0, noise: float = 0.05, turns: float = 2.0) -> np.ndarray:
    """Two interleaved arms turning `turns` times."""
    rng = np.random.default_rng(seed)
    r = np.sqrt(rng.random(n))  # as many points per unit length near the centre as outside
    arm = rng.random(n) < 0.5
    a = 2 * np.pi * turns * r + np.where(arm, 0, np.pi)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1) + noise * rng.standard_normal((n, 2))


def _font_for(text: str, size: int):
    from PIL import ImageFont

    from ..i18n.fonts import FONT_FILE, is_cjk

    if any(is_cjk(c) for c in text):
        try:
            return ImageFont.truetype(str(FONT_FILE), size)
        except OSError:  # a FreeType built without WOFF2: the default font draws what it has
            pass
    return ImageFont.load_default(size=size)


def text_mask(text: str, height: int = 64) -> np.ndarray:
    """The text drawn in white on black, cropped to its ink: bool (H, W)."""
    from PIL import Image, ImageDraw

    font = _font_for(text, height)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (max(1, right - left) + 4, max(1, bottom - top) + 4), 0)
    ImageDraw.Draw(img).text((2 - left, 2 - top), text, fill=255, font=font)
    return np.asarray(img) > 127


def text_points(text: str, n: int, seed: int = 0, height: int = 64) -> np.ndarray:
    """n points on the strokes of `text` (one uniformly chosen inked pixel each, jittered inside it)."""
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a string, got {type(text).__name__}")
    text = " ".join(text.split())
    if not text:
        raise DiffvizError("type a character or a word to draw (the text is empty)")
    if len(text) > MAX_TEXT:
        raise DiffvizError(f"text must be at most {MAX_TEXT} characters (longer words get too thin to see), got {len(text)}")
    mask = text_mask(text, height)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise DiffvizError(f"the font draws nothing for {text!r}: use letters, digits or common Chinese characters")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(xs), n)
    return np.stack([xs[pick] + rng.random(n), -(ys[pick] + rng.random(n))], 1)  # image rows grow downwards


def toy_points(name: str, n: int = 1000, seed: int = 0, text: str = "A") -> np.ndarray:
    """n points of a toy set, float32 (n, 2), centred with unit variance per point coordinate."""
    if not isinstance(name, str) or name not in TOY_NAMES:
        raise DiffvizError(f"unknown 2-D data {name!r}; allowed: {', '.join(TOY_NAMES)}")
    n = _check_n(n)
    if name == "text":
        text = " ".join(str(text).split()) if isinstance(text, str) else text
    raw = _raw(name, n, seed, text)
    centre, scale = _frame(name, text if name == "text" else "")
    return ((raw - centre) / scale).astype(np.float32)


def _raw(name: str, n: int, seed: int, text: str) -> np.ndarray:
    if name == "text":
        return text_points(text, n, seed)
    return {"moons": two_moons, "swiss_roll": swiss_roll, "spiral": spiral}[name](n, seed)
