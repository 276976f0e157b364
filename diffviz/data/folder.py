"""Loaders for a user's own images: an image folder, or a torchvision data set already on disk.

Nothing is ever downloaded (diffviz runs offline): a torchvision data set must already be under
`root`, and a missing one is reported with where it was looked for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from ..utils import to_unit
from ..errors import DiffvizError, MissingFileError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def pil_to_tensor(img: Image.Image, size: int) -> torch.Tensor:
    """PIL image → float (3, size, size) in [-1, 1] (centre-cropped square, bilinear resize)."""
    img = img.convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(to_unit(np.asarray(img, dtype=np.uint8))).permute(2, 0, 1).contiguous()


class ImageFolderDataset(Dataset):
    """All images under `root` (recursively), as float (3, size, size) in [-1, 1]."""

    def __init__(self, root: str | Path, size: int = 32):
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingFileError(f"image folder {self.root} does not exist")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise DiffvizError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {self.root}")
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        with Image.open(self.files[i]) as img:
            return {"image": pil_to_tensor(img, self.size), "path": str(self.files[i])}


class TorchvisionDataset(Dataset):
    """A torchvision data set (e.g. "CIFAR10", "MNIST") from a local root, never downloaded."""

    def __init__(self, name: str, root: str | Path, size: int = 32, train: bool = True):
        import torchvision

        cls = getattr(torchvision.datasets, name, None)
        if cls is None or not isinstance(cls, type):
            raise DiffvizError(f"torchvision has no data set {name!r}; e.g. CIFAR10, MNIST, FashionMNIST")
        try:
            self.ds = cls(root=str(root), train=train, download=False)
        except RuntimeError as err:
            raise MissingFileError(
                f"{name} is not under {root} ({err}); diffviz cannot download it — copy the data set files there"
            ) from err
        self.size = size

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict:
        img, label = self.ds[i]
        return {"image": pil_to_tensor(img, self.size), "label": int(label)}
