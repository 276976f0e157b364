"""Do word maps point at the object? A measure of the shapes model's cross-attention maps.

For prompts like "a big red circle at the top left" the bundled `shapes` model draws one object on a
light grey background. The *object mask* comes from the final decoded image (pixels whose colour is
clearly saturated: the background is grey, every shape colour is not). A word's map *hits* when its
peak (argmax pixel) lies inside the mask. Chance is the object's area fraction: a map whose peak
fell anywhere at random would hit that often. Maps are taken averaged over all steps (as DAAM sums
them over timesteps) and at the last step alone; the shape word, the colour word, the position words
(their maps added: "top" + "left") and, as a control, the article "a" are measured.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..data.shapes import COLOURS, POSITIONS, SHAPES, SIZES, where
from ..errors import DiffvizError

SATURATION = 50  # max − min channel (0–255): the background stays under ~15, every shape colour is over 100


def object_mask(images: np.ndarray, saturation: float = SATURATION) -> np.ndarray:
    """uint8 (N, H, W, 3) → bool (N, H, W): where the (coloured) object is drawn."""
    x = np.asarray(images, dtype=np.int16)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise DiffvizError(f"images must be (N, H, W, 3), got {x.shape}")
    return (x.max(-1) - x.min(-1)) > saturation


def peak_inside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """bool (N,): whether each map's (N, H, W) highest pixel lies inside its mask."""
    maps, masks = np.asarray(maps), np.asarray(masks, bool)
    n, h, w = maps.shape
    flat = maps.reshape(n, -1).argmax(1)
    return masks.reshape(n, -1)[np.arange(n), flat]


def token_positions(tokens: list[str], words: list[str]) -> list[int]:
    """Indices of `words` (in order, each once) in a token list."""
    out, start = [], 0
    for word in words:
        try:
            i = tokens.index(word, start)
        except ValueError:
            raise DiffvizError(f"word {word!r} is not a token of {' '.join(tokens)}") from None
        out.append(i)
        start = i + 1
    return out


@dataclass
class WordMapReport:
    n: int
    steps: int
    seconds: float
    chance: float                                   # mean object area fraction
    hits: dict[str, dict[str, float]] = field(default_factory=dict)  # word kind → {"all steps": rate, "last step": rate}
    empty_masks: int = 0

    def format(self) -> str:
        lines = [f"word-map hit rate on shapes: {self.n} images ({self.steps} DDIM steps, {self.seconds:.0f} s); "
                 f"peak of the word's map inside the drawn object",
                 f"  chance (object area fraction): {self.chance:.3f}"]
        for kind, rates in self.hits.items():
            lines.append(f"  {kind:<10} " + "  ".join(f"{k}: {v:.3f} ({v / self.chance:.1f}× chance)" for k, v in rates.items()))
        if self.empty_masks:
            lines.append(f"  ({self.empty_masks} images with no object drawn were left out)")
        return "\n".join(lines)


def shapes_prompts(n: int, seed: int = 0) -> list[tuple[str, str, list[str], str]]:
    """n prompts "a {size} {colour} {shape} {where}" with their shape word, position words and colour word."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        colour, shape = rng.choice(list(COLOURS)), rng.choice(list(SHAPES))
        size, position = rng.choice(list(SIZES)), rng.choice(list(POSITIONS))
        prompt = f"a {size} {colour} {shape} {where(position)}".replace("a orange", "an orange")
        out.append((prompt, str(shape), position.split(), str(colour)))
    return out


def word_map_hit_rate(model, n: int = 96, steps: int = 50, batch: int = 16, seed: int = 0, guidance=None,
                      progress=None) -> WordMapReport:
    """Sample n shapes prompts with recorded attention and measure how often word maps peak on the object."""
    prompts = shapes_prompts(n, seed)
    t0 = time.perf_counter()
    kinds = {"shape": [], "colour": [], "position": [], "'a'": []}
    last = {k: [] for k in kinds}
    areas, kept_masks, empty = [], [], 0
    for start in range(0, n, batch):
        chunk = prompts[start:start + batch]
        traj = model.sample([p[0] for p in chunk], steps=steps, guidance=guidance, seed=seed + start,
                            record_attention=True, decode_steps=False)
        masks = object_mask(traj.final_images())
        att = traj.attention.numpy()
        for b, (prompt, shape, pos_words, colour) in enumerate(chunk):
            if not masks[b].any():
                empty += 1
                continue
            tokens = traj.tokens[b]
            shape_i = token_positions(tokens, [shape])
            pos_i = token_positions(tokens, ["at" if pos_words != ["centre"] else "in", *pos_words])[1:]
            a_i = [tokens.index("a")] if "a" in tokens else [tokens.index("an")]
            colour_i = token_positions(tokens, [colour])
            for kind, idx in (("shape", shape_i), ("colour", colour_i), ("position", pos_i), ("'a'", a_i)):
                kinds[kind].append(att[:, b, idx].sum(1).mean(0))
                last[kind].append(att[-1, b, idx].sum(0))
            areas.append(float(masks[b].mean()))
            kept_masks.append(masks[b])
        if progress is not None:
            progress(min(start + batch, n), n)
    if not kept_masks:
        raise DiffvizError(f"none of the {n} images has a coloured object to measure the maps against "
                           "(word_map_hit_rate is for the bundled shapes model)")
    all_masks = np.stack(kept_masks)
    report = WordMapReport(n=n, steps=steps, seconds=time.perf_counter() - t0, chance=float(np.mean(areas)), empty_masks=empty)
    for kind in kinds:
        report.hits[kind] = {"all steps": float(peak_inside(np.stack(kinds[kind]), all_masks).mean()),
                             "last step": float(peak_inside(np.stack(last[kind]), all_masks).mean())}
    return report
