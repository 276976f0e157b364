"""A model's own domain: real images to compare generations with, and conditions like its training ones.

FID and the guidance sweep need "real images of what this model draws" and "prompts or classes
like those it was trained on"; both depend only on the model's kind, so they live here once.
"""
from __future__ import annotations

import numpy as np


def real_images(model, n: int) -> tuple[str, np.ndarray]:
    """(data set name, n real images as uint8 (n, H, W, 3)) of the model's domain."""
    if model.kind == "class":
        from .digits import load_digits_tensor

        x, _ = load_digits_tensor(model.meta.get("image_size", 16), "test")
        x = x[:n]
        return "digits-test", ((x.expand(-1, 3, -1, -1) + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    from .shapes import generate_shapes

    return "shapes-all-seed2024", generate_shapes(n, seed=2024, split="all").images.permute(0, 2, 3, 1).numpy()


def domain_conditions(model, n: int):
    """Conditions like the training ones: every class in turn, or n training-style captions (None: unconditional)."""
    if model.kind == "class":
        return list(range(model.conditioner.num_classes))
    if model.kind == "text":
        from .shapes import generate_shapes

        return generate_shapes(n, seed=7, split="train").captions
    return None
