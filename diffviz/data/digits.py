"""`digits`: scikit-learn's real handwritten digits (8×8, shipped with scikit-learn), upsampled.

1 797 images of 10 classes. The pixel-space class-conditional model trains on them at 16×16,
one grey channel (frames are shown as grey RGB).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from ..errors import DiffvizError

CLASS_NAMES = [str(i) for i in range(10)]
SPLITS = ("train", "test", "all")


def load_digits_tensor(size: int = 16, split: str = "all", test_fraction: float = 0.2, seed: int = 0):
    """(images float (N, 1, size, size) in [-1, 1], labels long (N,)); a fixed seeded train/test split."""
    from sklearn.datasets import load_digits

    if split not in SPLITS:
        raise DiffvizError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    if size not in (8, 16, 32):
        raise DiffvizError(f"size must be 8, 16 or 32, got {size!r}")
    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 2 - 1).contiguous()
    y = torch.from_numpy(d.target).long()
    if split != "all":
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        cut = int(len(y) * (1 - test_fraction))
        keep = order[:cut] if split == "train" else order[cut:]
        x, y = x[keep], y[keep]
    return x, y


class DigitsDataset(Dataset):
    """Items: {"image": float (1, size, size) in [-1, 1], "label": int}."""

    def __init__(self, size: int = 16, split: str = "all"):
        self.images, self.labels = load_digits_tensor(size, split)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": int(self.labels[i])}
