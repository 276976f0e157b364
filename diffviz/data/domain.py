"""A model's own domain: the data set its folder records, asked for what a model needs from it.

FID and the guidance sweep need "real images of what this model draws" and "conditions like those it
was trained on"; the noise inspector needs "an example and its condition". All of them depend on the
data set the model was trained on, which its folder records (`"dataset"` in model_index.json, e.g.
"shapes" or "digits"; see `datasets.py`). A model that records none (built by hand, or trained
elsewhere) gets a short error saying so, never a comparison with another data set's images.
"""
from __future__ import annotations

from .datasets import DATASETS, DIGITS_IMAGES, RealSet, DataSet  # noqa: F401  (re-exported)
from ..errors import DiffvizError

NO_DATASET_HINT = {
    "fid": "FID needs real images: use a model trained by diffviz, or pass your own real images' "
           "statistics to metrics.fid_for_model(reference_stats=...)",
    "example": "the view needs an example image of its training data: use a model trained by diffviz",
    "evaluate": "evaluate measures a model on its own data set: use a model trained by diffviz",
    "conditions": "conditions like its training ones come from its data set: pass conditions yourself",
}


def recorded_dataset(model) -> str | None:
    """The data set name the model records (model_index.json's "dataset"), or None."""
    info = getattr(model, "info", None)  # a typed model info where the model has one, else its meta dict
    if info is not None:
        name = getattr(info, "dataset", None) or (getattr(info, "extra", None) or {}).get("dataset")
    else:
        name = (getattr(model, "meta", None) or {}).get("dataset")
    return name if isinstance(name, str) and name else None


def has_dataset(model) -> bool:
    """Whether the model records a data set diffviz has (so FID and the example views can use it)."""
    return recorded_dataset(model) in DATASETS


def model_dataset(model, need: str = "fid") -> DataSet:
    """The data set `model` was trained on; a short error when it records none or one diffviz does not know."""
    name = recorded_dataset(model)
    label = getattr(model, "name", "?")
    if name is None:
        raise DiffvizError(f"model {label!r} records no data set; {NO_DATASET_HINT.get(need, NO_DATASET_HINT['fid'])}")
    if name not in DATASETS:
        raise DiffvizError(f"model {label!r} records the data set {name!r}, which diffviz does not have "
                           f"(known: {', '.join(sorted(DATASETS))}); {NO_DATASET_HINT.get(need, NO_DATASET_HINT['fid'])}")
    return DATASETS[name]


def _num_classes(model) -> int | None:
    return getattr(getattr(model, "conditioner", None), "num_classes", None)


def _image_size(model, default: int) -> int:
    return int(getattr(model, "meta", {}).get("image_size", default))


def real_pool_size(model) -> int | None:
    """How many distinct real images the model's data set has (None: as many as asked)."""
    return model_dataset(model).pool_size


def real_set(model, n: int, part: int = 0) -> RealSet:
    """n real images of the model's data set with their conditions; parts 0, 1, ... are disjoint.

    Generating with a real set's conditions gives a generated set with the same make-up (classes,
    colours and shapes) as that real set, so the two can be compared with FID on an equal footing.
    """
    return model_dataset(model).real(n, part, kind=model.kind, num_classes=_num_classes(model),
                                     image_size=_image_size(model, 16))


def real_images(model, n: int, part: int = 0):
    """(data set name, n real images as uint8 (n, H, W, 3)) of the model's data set; parts are disjoint."""
    found = real_set(model, n, part)
    return found.name, found.images


def domain_conditions(model, n: int):
    """Conditions like the training ones: every class in turn, or n training-style captions (None: unconditional)."""
    if model.kind == "uncond":
        return None
    data = model_dataset(model, "conditions")
    data.check_kind(model.kind)
    return data.training_conditions(n, _num_classes(model))


def _example_dataset(model) -> DataSet:
    """Where a view's example picture comes from: the model's own data set; for a model that records
    none (a user's Stable Diffusion), the shapes pictures as neutral examples (any picture shows noise
    being added and predicted; FID, which needs the model's own data, still refuses)."""
    if recorded_dataset(model) is None:
        return DATASETS["shapes"]
    return model_dataset(model, "example")


def example_count(model) -> int:
    """How many examples `data_image` offers for this model."""
    return _example_dataset(model).example_count(_image_size(model, 16))


def data_image(model, index: int):
    """Example `index` of the model's data set (float (C, H, W) in [-1, 1]) and its own condition (a model
    with no data set: a shapes picture, with its caption for a text model, class 0 or no condition else)."""
    own = recorded_dataset(model) is not None
    data = _example_dataset(model)
    x, cond = data.example(index, _image_size(model, 32 if data.name == "shapes" else 16), model.image_shape[0])
    if not own and model.kind != "text":
        cond = 0 if model.kind == "class" else None
    channels = model.image_shape[0]
    if x.shape[0] != channels:  # a colour picture for a grey model (its mean), a grey one for a colour model
        x = x.mean(0, keepdim=True) if channels == 1 else x[:1].expand(channels, -1, -1)
    return x, cond
