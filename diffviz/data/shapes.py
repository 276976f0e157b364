"""`shapes`: procedural 32×32 images with captions — the text-to-image model's paired data.

Each image holds one shape (colour × shape × size × position) on a light, slightly graded
background. Everything is drawn vectorised from a seed, so 60 000 images take seconds and the
same seed always gives the same images. Some colour–shape pairs (`HELDOUT_PAIRS`) never appear in
the training split: generating them shows whether the model composes words it learned apart.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from ..utils import to_unit
from ..errors import DiffvizError

COLOURS = {
    "red": (215, 40, 40), "orange": (240, 135, 20), "yellow": (225, 205, 30),
    "green": (40, 160, 60), "blue": (45, 85, 215), "purple": (140, 60, 175),
}
SHAPES = ("circle", "square", "triangle", "cross")
SIZES = {"small": 5.0, "big": 9.0}  # half-size in pixels
POSITIONS = {  # name -> (x, y) centre
    "centre": (16, 16), "top left": (10, 10), "top right": (22, 10),
    "bottom left": (10, 22), "bottom right": (22, 22),
}
ATTRIBUTES = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES), "position": list(POSITIONS)}
HELDOUT_PAIRS = (("blue", "triangle"), ("yellow", "cross"), ("purple", "circle"))
IMAGE_SIZE = 32
SPLITS = ("train", "heldout", "all")

TEMPLATES = (  # (template, weight): short prompts common, full ones too, in varied word order
    ("a {colour} {shape}", 3), ("{colour} {shape}", 1), ("a {size} {colour} {shape}", 2),
    ("a {colour} {shape} {where}", 2), ("a {size} {colour} {shape} {where}", 3),
    ("{where}, a {colour} {shape}", 1), ("{where} there is a {size} {colour} {shape}", 1),
    ("a {colour} {shape}, {size}, {where}", 1),
)


def where(position: str) -> str:
    return "in the centre" if position == "centre" else f"at the {position}"


def vocabulary() -> list[str]:
    """Every word a caption can contain (used to warn about unknown prompt words)."""
    words = set()
    for tmpl, _ in TEMPLATES:
        words.update(w for w in tmpl.replace(",", " ").split() if not w.startswith("{"))
    for names in ATTRIBUTES.values():
        for n in names:
            words.update(n.split())
    words.update(["in", "the", "at", "centre", "an"])
    return sorted(words)


def caption_for(attrs: dict, template: int) -> str:
    text = TEMPLATES[template][0].format(colour=attrs["colour"], shape=attrs["shape"], size=attrs["size"],
                                         where=where(attrs["position"]))
    return text.replace("a orange", "an orange")


def _draw(idx: dict[str, np.ndarray], rng: np.random.Generator, supersample: int = 2) -> np.ndarray:
    """Render a batch of attribute indices into uint8 images (N, 3, 32, 32)."""
    n = len(idx["colour"])
    s = IMAGE_SIZE * supersample
    coords = (np.arange(s) + 0.5) / supersample
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    centres = np.array(list(POSITIONS.values()), dtype=float)[idx["position"]] + rng.uniform(-1, 1, (n, 2))
    half = np.array(list(SIZES.values()))[idx["size"]] * rng.uniform(0.92, 1.08, n)
    dx = xx[None] - centres[:, 0, None, None]
    dy = yy[None] - centres[:, 1, None, None]
    r = half[:, None, None]
    masks = np.stack([
        dx**2 + dy**2 <= r**2,                                              # circle
        (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r),                # square
        (dy >= -r) & (dy <= 0.8 * r) & (np.abs(dx) <= (dy + r) / 1.8 * 1.1),  # triangle
        ((np.abs(dx) <= 0.32 * r) & (np.abs(dy) <= r)) | ((np.abs(dy) <= 0.32 * r) & (np.abs(dx) <= r)),  # cross
    ])[idx["shape"], np.arange(n)]
    alpha = masks.reshape(n, IMAGE_SIZE, supersample, IMAGE_SIZE, supersample).mean(axis=(2, 4))[:, None]
    base = rng.uniform(175, 240, (n, 1, 1, 1))
    tilt = rng.uniform(-18, 18, (n, 2, 1, 1))
    grid = np.linspace(-0.5, 0.5, IMAGE_SIZE)
    bg = base + tilt[:, :1] * grid[None, None, :, None] + tilt[:, 1:] * grid[None, None, None, :]
    bg = np.repeat(bg, 3, axis=1) + rng.uniform(-6, 6, (n, 3, 1, 1))
    colour = np.array(list(COLOURS.values()), dtype=float)[idx["colour"]] + rng.uniform(-14, 14, (n, 3))
    img = bg * (1 - alpha) + colour[:, :, None, None] * alpha
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@dataclass
class ShapesData:
    images: torch.Tensor  # uint8 (N, 3, 32, 32)
    captions: list[str]
    labels: dict[str, torch.Tensor]  # attribute name -> (N,) index into ATTRIBUTES[name]


def generate_shapes(n: int, seed: int = 0, split: str = "train") -> ShapesData:
    """Draw n images deterministically from `seed`. split: train (no held-out pairs), heldout, all."""
    if split not in SPLITS:
        raise DiffvizError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DiffvizError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    held = np.zeros((len(COLOURS), len(SHAPES)), bool)
    for c, s in HELDOUT_PAIRS:
        held[list(COLOURS).index(c), SHAPES.index(s)] = True
    pairs = np.argwhere(~held if split == "train" else held if split == "heldout" else np.ones_like(held))
    pick = rng.integers(0, len(pairs), n)
    idx = {"colour": pairs[pick, 0], "shape": pairs[pick, 1],
           "size": rng.integers(0, len(SIZES), n), "position": rng.integers(0, len(POSITIONS), n)}
    images = np.concatenate([_draw({k: v[i:i + 4096] for k, v in idx.items()}, rng) for i in range(0, n, 4096)])
    weights = np.array([w for _, w in TEMPLATES], dtype=float)
    templates = rng.choice(len(TEMPLATES), size=n, p=weights / weights.sum())
    captions = [caption_for({k: ATTRIBUTES[k][idx[k][i]] for k in ATTRIBUTES}, templates[i]) for i in range(n)]
    return ShapesData(torch.from_numpy(images), captions, {k: torch.from_numpy(v).long() for k, v in idx.items()})


class ShapesDataset(Dataset):
    """Items: {"image": float (3, 32, 32) in [-1, 1], "caption": str, "attributes": dict of names}."""

    def __init__(self, n: int = 10_000, seed: int = 0, split: str = "train"):
        self.data = generate_shapes(n, seed, split)

    def __len__(self) -> int:
        return len(self.data.captions)

    def __getitem__(self, i: int) -> dict:
        attrs = {k: ATTRIBUTES[k][int(v[i])] for k, v in self.data.labels.items()}
        return {"image": to_unit(self.data.images[i]), "caption": self.data.captions[i], "attributes": attrs}


# ---- Chinese captions (简体中文): the same attributes, for the bilingual text encoder ----------------
# Text-to-image data holds text in many languages. These captions describe the same drawings in
# Chinese, in varied phrasing and word order, short ("一个红色的圆") to full ("左上角有一个小的蓝色正方形").
# Each attribute has a few common words; a caption names colour and shape always, size and position
# when its template has them (like the English templates).
COLOURS_ZH = {"red": ("红色", "红"), "orange": ("橙色", "橙"), "yellow": ("黄色", "黄"),
              "green": ("绿色", "绿"), "blue": ("蓝色", "蓝"), "purple": ("紫色", "紫")}
SHAPES_ZH = {"circle": ("圆", "圆形", "圆圈"), "square": ("正方形", "方块", "方形"),
             "triangle": ("三角形", "三角"), "cross": ("十字", "十字形")}
SIZES_ZH = {"small": ("小",), "big": ("大",)}
POSITIONS_ZH = {"centre": ("中间", "中央", "正中间"), "top left": ("左上角", "左上方"), "top right": ("右上角", "右上方"),
                "bottom left": ("左下角", "左下方"), "bottom right": ("右下角", "右下方")}
# (template, weight); {c} colour, {s} shape, {z} size, {p} position.
TEMPLATES_ZH = (
    ("一个{c}的{s}", 3), ("{c}的{s}", 1), ("{c}{s}", 1), ("画一个{c}的{s}", 1),
    ("一个{z}的{c}{s}", 2), ("一个{z}{c}{s}", 1), ("{z}的{c}{s}", 1),
    ("{p}有一个{c}的{s}", 2), ("一个{c}的{s}在{p}", 1), ("在{p}的{c}{s}", 1),
    ("{p}有一个{z}的{c}{s}", 3), ("一个{z}的{c}{s}在{p}", 1), ("在{p}有一个{z}{c}{s}", 1),
    ("{c}的{s}，{z}的，在{p}", 1), ("一个{z}{c}{s}，位于{p}", 1), ("{p}：一个{z}的{c}{s}", 1),
)


def named_colour(text: str) -> str | None:
    """The colour (hex, as the shapes model draws it) that `text` names — an English colour word ("a red circle")
    or a Chinese one ("一个蓝色的正方形") — or None when it names none, or more than one ("red and blue")."""
    words = set(re.findall(r"[a-z]+", str(text).lower()))
    named = {c for c in COLOURS if c in words or any(w in str(text) for w in COLOURS_ZH[c])}
    if len(named) != 1:
        return None
    return "#{:02x}{:02x}{:02x}".format(*COLOURS[named.pop()])


def canonical_caption(attrs: dict, size: bool = True, position: bool = True) -> str:
    """The English caption naming the same attributes as a Chinese one (its translation):
    "a red circle", "a small red circle", "a red circle at the top left", "a small red circle at the top left"."""
    template = {(False, False): 0, (True, False): 2, (False, True): 3, (True, True): 4}[(bool(size), bool(position))]
    return caption_for(attrs, template)


def caption_zh(attrs: dict, template: int, variant: int = 0) -> str:
    """One Chinese caption for `attrs` (names as in ATTRIBUTES). `variant` picks among each attribute's words."""
    def pick(options, k):
        return options[k % len(options)]

    c, s = attrs["colour"], attrs["shape"]
    text = TEMPLATES_ZH[template][0]
    return text.format(c=pick(COLOURS_ZH[c], variant), s=pick(SHAPES_ZH[s], variant // 2),
                       z=SIZES_ZH[attrs["size"]][0], p=pick(POSITIONS_ZH[attrs["position"]], variant // 3))


def zh_template_fields(template: int) -> tuple[bool, bool]:
    """(names size, names position) for a Chinese template."""
    text = TEMPLATES_ZH[template][0]
    return "{z}" in text, "{p}" in text


def captions_zh(labels: dict, seed: int = 0) -> list[str]:
    """Chinese captions for attribute indices (as `ShapesData.labels`), templates and words drawn from `seed`."""
    n = len(labels["colour"])
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, w in TEMPLATES_ZH], dtype=float)
    templates = rng.choice(len(TEMPLATES_ZH), size=n, p=weights / weights.sum())
    variants = rng.integers(0, 6, n)
    return [caption_zh({k: ATTRIBUTES[k][int(labels[k][i])] for k in ATTRIBUTES}, int(templates[i]), int(variants[i]))
            for i in range(n)]


def bilingual_pairs(split: str = "train") -> list[tuple[str, str]]:
    """Every (caption, English target caption) pair the bilingual text encoder learns from, enumerated:
    each attribute combination of `split` × every Chinese template × every word variant (→ its English
    translation), and every English caption (→ itself). split as in `generate_shapes`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    pairs = set()
    for c in COLOURS:
        for s in SHAPES:
            held = (c, s) in HELDOUT_PAIRS
            if (split == "train" and held) or (split == "heldout" and not held):
                continue
            for z in SIZES:
                for p in POSITIONS:
                    attrs = {"colour": c, "shape": s, "size": z, "position": p}
                    for t in range(len(TEMPLATES)):
                        pairs.add((caption_for(attrs, t), caption_for(attrs, t)))
                    for t in range(len(TEMPLATES_ZH)):
                        target = canonical_caption(attrs, *zh_template_fields(t))
                        for v in range(6):
                            pairs.add((caption_zh(attrs, t, v), target))
    return sorted(pairs)


def vocabulary_zh() -> list[str]:
    """Every character a Chinese caption can contain (used to warn about characters never seen)."""
    chars = set()
    for tmpl, _ in TEMPLATES_ZH:
        chars.update(ch for ch in tmpl.replace("{c}", "").replace("{s}", "").replace("{z}", "").replace("{p}", ""))
    for table in (COLOURS_ZH, SHAPES_ZH, SIZES_ZH, POSITIONS_ZH):
        for words in table.values():
            for w in words:
                chars.update(w)
    return sorted(ch for ch in chars if ch.strip() and ch not in "，：")
