"""The data sets diffviz knows, by name: real images, an example and its condition, training conditions.

A model folder records the data set it was trained on (`"dataset"` in model_index.json); everything
that needs "real images of what this model draws" (FID and its real-vs-real floor, the guidance
sweep's FID, `diffviz evaluate`) or "an example like its training ones" (the noise inspector) asks
this registry by that name — never guesses it from the model's kind. Real images come in disjoint
parts of n: part 0 is the reference set, part 1 another set of the same size, and so on.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from ..utils import to_u8, to_unit
from ..errors import DiffvizError

SHAPES_REAL_SEED = 2024  # part p of the shapes real images is drawn from seed SHAPES_REAL_SEED + p
SHAPES_TRAINING_SEED = 7  # training-style captions
SHAPES_EXAMPLE_SEED = 99
SHAPES_EXAMPLES = 500  # examples offered of the shapes data set
DIGITS_IMAGES = 1797  # scikit-learn's digits


class RealSet(NamedTuple):
    name: str  # the data set and part (a cache key for reference statistics)
    images: np.ndarray  # uint8 (n, H, W, 3)
    conditions: list | None  # each image's class or caption (None: unconditional)


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive" if minimum == 1 else "a non-negative"
        raise DiffvizError(f"{name} must be {what} integer, got {value!r}")
    return int(value)


class DataSet:
    """One data set: what a model trained on it is compared with and shown.

    `condition`: what an item is labelled with — "caption" (text models) or "class" (class models);
    an unconditional model can be trained on either and ignores the labels."""

    name: str = ""
    condition: str = ""
    pool_size: int | None = None  # distinct real images (None: drawn afresh, as many as asked)

    def real(self, n: int, part: int = 0, kind: str = "uncond", num_classes: int | None = None,
             image_size: int | None = None) -> RealSet:
        """n real images (part `part`, disjoint from the others) with the conditions a `kind` model takes
        (`num_classes`: a class model's; `image_size`: the model's, where the data set has one native size per model)."""
        raise NotImplementedError

    def training_conditions(self, n: int, num_classes: int | None = None) -> list:
        """Conditions like the training ones: n captions, or every class in turn."""
        raise NotImplementedError

    def example_count(self, image_size: int) -> int:
        raise NotImplementedError

    def example(self, index: int, image_size: int, channels: int) -> tuple[torch.Tensor, object]:
        """Example `index`: float (channels, image_size, image_size) in [-1, 1], and its caption or class."""
        raise NotImplementedError

    def check_kind(self, kind: str) -> None:
        wanted = {"text": "caption", "class": "class"}.get(kind)
        if wanted is not None and wanted != self.condition:
            plural = {"caption": "captions", "class": "classes"}
            raise DiffvizError(f"the {self.name} data set is labelled by {plural[self.condition]}, so it has no "
                               f"{plural[wanted]} for a {kind} model")


class Shapes(DataSet):
    """Procedural shapes with captions (`data/shapes.py`): as many as asked, each part from its own seed."""

    name, condition = "shapes", "caption"

    def real(self, n, part=0, kind="uncond", num_classes=None, image_size=None):
        from .shapes import generate_shapes

        n, part = _check_count("n", n, 1), _check_count("part", part, 0)
        self.check_kind(kind)
        seed = SHAPES_REAL_SEED + part  # another seed draws another set of the same distribution
        data = generate_shapes(n, seed=seed, split="train")
        return RealSet(f"shapes-train-seed{seed}", data.images.permute(0, 2, 3, 1).numpy(),
                       data.captions if kind == "text" else None)

    def training_conditions(self, n, num_classes=None):
        from .shapes import generate_shapes

        return generate_shapes(_check_count("n", n, 1), seed=SHAPES_TRAINING_SEED, split="train").captions

    def example_count(self, image_size):
        return SHAPES_EXAMPLES

    def example(self, index, image_size, channels):
        d = _shapes_examples()
        index %= len(d.captions)
        img = torch.nn.functional.interpolate(to_unit(d.images[index:index + 1]), size=(image_size, image_size),
                                              mode="bilinear")[0]
        return img.clamp(-1, 1), d.captions[index]


@lru_cache(maxsize=2)
def _shapes_examples(n: int = SHAPES_EXAMPLES):
    from .shapes import generate_shapes

    return generate_shapes(n, seed=SHAPES_EXAMPLE_SEED, split="all")


class Digits(DataSet):
    """scikit-learn's 1 797 handwritten digits (`data/digits.py`): a fixed pool, the held-out test split first."""

    name, condition, pool_size = "digits", "class", DIGITS_IMAGES

    def real(self, n, part=0, kind="uncond", num_classes=None, image_size=None):
        n, part = _check_count("n", n, 1), _check_count("part", part, 0)
        self.check_kind(kind)
        images, labels = _digits_pool(image_size or 16)
        if (part + 1) * n > len(images):
            raise DiffvizError(f"the digits data set has {len(images)} images: {part + 1} disjoint sets of N = {n} "
                               f"need {(part + 1) * n}; use N ≤ {len(images) // (part + 1)}")
        cut = slice(part * n, (part + 1) * n)
        conditions = None
        if kind == "class":
            classes = num_classes or 10
            conditions = labels[cut] if classes >= 10 else [i % classes for i in range(n)]  # a model of fewer classes
        return RealSet(f"digits-test-first-part{part}", images[cut], conditions)

    def training_conditions(self, n, num_classes=None):
        return list(range(num_classes or 10))

    def example_count(self, image_size):
        from .digits import load_digits_tensor

        return len(load_digits_tensor(image_size)[0])

    def example(self, index, image_size, channels):
        from .digits import load_digits_tensor

        x, y = load_digits_tensor(image_size)
        img = x[index % len(x)]
        if img.shape[0] != channels:
            img = img.expand(channels, -1, -1)
        return img, int(y[index % len(y)])


def _digits_pool(size: int) -> tuple[np.ndarray, list[int]]:
    """Every digits image once with its label, the held-out test split first (the first images stay the test ones)."""
    from .digits import load_digits_tensor

    (xa, ya), (xb, yb) = load_digits_tensor(size, "test"), load_digits_tensor(size, "train")
    x = torch.cat([xa, xb])
    images = to_u8(x.expand(-1, 3, -1, -1)).permute(0, 2, 3, 1).numpy()
    return images, torch.cat([ya, yb]).tolist()


DATASETS: dict[str, DataSet] = {d.name: d for d in (Shapes(), Digits())}


def get_dataset(name: str) -> DataSet:
    """The data set called `name` ("shapes", "digits")."""
    found = DATASETS.get(name) if isinstance(name, str) else None
    if found is None:
        raise DiffvizError(f"diffviz knows no data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return found
