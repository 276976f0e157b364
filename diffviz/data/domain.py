"""A model's own domain: real images to compare generations with, and conditions like its training ones.

FID and the guidance sweep need "real images of what this model draws" and "prompts or classes
like those it was trained on"; both depend only on the model's kind, so they live here once.
Real images come in disjoint parts of n: part 0 is the reference set, part 1 another set of the
same size (the real-vs-real floor of FID is part 1 against part 0, at the same N as the model).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from ..errors import DiffvizError

SHAPES_REAL_SEED = 2024


DIGITS_IMAGES = 1797  # scikit-learn's digits


def real_pool_size(model) -> int | None:
    """How many distinct real images the model's domain has (None: as many as asked)."""
    return DIGITS_IMAGES if model.kind == "class" else None


def _digits_pool(size: int) -> tuple[np.ndarray, list[int]]:
    """Every digits image once with its label, the held-out test split first (the first images stay the test ones)."""
    import torch

    from .digits import load_digits_tensor

    (xa, ya), (xb, yb) = load_digits_tensor(size, "test"), load_digits_tensor(size, "train")
    x = torch.cat([xa, xb])
    images = ((x.expand(-1, 3, -1, -1) + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return images, torch.cat([ya, yb]).tolist()


class RealSet(NamedTuple):
    name: str  # the data set (a cache key for reference statistics)
    images: np.ndarray  # uint8 (n, H, W, 3)
    conditions: list | None  # each image's class or caption (None: unconditional)


def real_set(model, n: int, part: int = 0) -> RealSet:
    """n real images of the model's domain with their conditions; parts 0, 1, ... are disjoint.

    Generating with a real set's conditions gives a generated set with the same make-up (classes,
    colours and shapes) as that real set, so the two can be compared with FID on an equal footing.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DiffvizError(f"n must be a positive integer, got {n!r}")
    if isinstance(part, bool) or not isinstance(part, (int, np.integer)) or part < 0:
        raise DiffvizError(f"part must be a non-negative integer, got {part!r}")
    n, part = int(n), int(part)
    if model.kind == "class":
        images, labels = _digits_pool(model.meta.get("image_size", 16))
        if (part + 1) * n > len(images):
            raise DiffvizError(f"the digits data set has {len(images)} images: {part + 1} disjoint sets of N = {n} "
                             f"need {(part + 1) * n}; use N ≤ {len(images) // (part + 1)}")
        cut = slice(part * n, (part + 1) * n)
        classes = getattr(getattr(model, "conditioner", None), "num_classes", 10)
        conditions = labels[cut] if classes >= 10 else [i % classes for i in range(n)]  # a model of fewer classes
        return RealSet(f"digits-test-first-part{part}", images[cut], conditions)
    from .shapes import generate_shapes

    seed = SHAPES_REAL_SEED + part  # another seed draws another set of the same distribution
    data = generate_shapes(n, seed=seed, split="train")
    return RealSet(f"shapes-train-seed{seed}", data.images.permute(0, 2, 3, 1).numpy(),
                   data.captions if model.kind == "text" else None)


def real_images(model, n: int, part: int = 0) -> tuple[str, np.ndarray]:
    """(data set name, n real images as uint8 (n, H, W, 3)) of the model's domain; parts are disjoint."""
    found = real_set(model, n, part)
    return found.name, found.images


def domain_conditions(model, n: int):
    """Conditions like the training ones: every class in turn, or n training-style captions (None: unconditional)."""
    if model.kind == "class":
        return list(range(model.conditioner.num_classes))
    if model.kind == "text":
        from .shapes import generate_shapes

        return generate_shapes(n, seed=7, split="train").captions
    return None
