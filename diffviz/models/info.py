"""`ModelInfo`: what a model folder states about its model, as named fields instead of a free dict.

The parts say what they are (a UNet's sample size, a text encoder's vocabulary, a classifier's class
names); `ModelInfo` holds what only the model as a whole knows: its name, the image size and channels
its data has, the guidance it was tuned for, example prompts, the pairs held out of training, how far
each part was trained. It is the model folder's `model_index.json`, less the parts' entries and the
format stamp; keys it does not name are kept as written in `extra` (so a newer folder loses nothing).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# model_index.json keys that describe the folder or its parts, not the model: never part of ModelInfo
INDEX_KEYS = {"format", "version", "kind", "latent", "latent_scale", "num_classes", "class_names", "_class_name",
              "_diffusers_version"}


@dataclass
class ModelInfo:
    """Stated facts about a model (None: not stated; `DiffusionModel` then answers with its default)."""

    name: str = "model"
    dataset: str | None = None  # the data set it was trained on ("shapes", "digits"; see diffviz.data.datasets)
    image_size: int | None = None
    channels: int | None = None
    default_guidance: float | None = None
    guidance_range: tuple | None = None  # (lo, hi); checked when used (DiffusionModel.guidance_range)
    default_steps: int | None = None
    sample_range: float | None = None  # the clean-sample clip range (default: 1 for pixels, 3 for latents)
    prompt_examples: list[str] = field(default_factory=list)
    heldout_pairs: list[list[str]] = field(default_factory=list)
    training_steps: dict[str, int] = field(default_factory=dict)
    text_encoder: str | None = None  # the swapped-in text encoder's name (text_encoder_<name>/), None: the own one
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ModelInfo":
        """From a model_index.json (or an older `meta` dict): named keys to fields, the rest to `extra`."""
        data = dict(data or {})
        given_extra = data.pop("extra", None) or {}
        for k in [k for k, v in data.items() if _is_part_entry(v)]:  # "unet": ["diffusers", "UNet2DModel"], …
            del data[k]
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: data.pop(k) for k in list(data) if k in names and data[k] is not None}
        extra = {k: v for k, v in data.items() if k not in INDEX_KEYS}
        extra.pop("clip_config", None)  # older meta dicts carried part configs: the parts own them now
        extra.pop("classifier_config", None)
        extra.update(given_extra)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        """The stated fields (None and empty ones left out) and `extra`, as JSON-able data."""
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "extra" or v is None or v == [] or v == {}:
                continue
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def replace(self, **changes) -> "ModelInfo":
        return dataclasses.replace(self, **changes)


def _is_part_entry(value) -> bool:
    """model_index.json's entry for a part: [library, class name]."""
    return isinstance(value, list) and len(value) == 2 and value[0] in ("diffusers", "diffviz") and isinstance(value[1], str)
