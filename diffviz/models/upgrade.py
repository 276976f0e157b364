"""Bring a model folder written before parts owned their configs to the current layout, weights untouched.

Older folders kept the text encoders' and classifier's weights as `model.safetensors` beside a
hand-written config.json (no `_class_name`), and model_index.json named no part classes. They still
load as they are; this rewrites only the small JSON files and renames each part's weights file to
diffusers' `diffusion_pytorch_model.safetensors` (the bytes stay the same: an older file's tensor names are
mapped on load by the part's `_fix_state_dict_keys_on_load`).

    python -m diffviz.models.upgrade diffviz/bundled/shapes
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import io
from .bilingual import BilingualConditioner
from .builders import DomainClassifier
from .conditioning import TextConditioner
from .part import LEGACY_WEIGHTS, WEIGHTS

OLDER_PARTS = {"text_encoder": TextConditioner, "classifier": DomainClassifier}


def upgrade_part(folder: Path, cls: type) -> bool:
    """Rewrite one older part folder; False when it is already current."""
    cfg = io.read_json(folder / "config.json")
    if cfg.get("_class_name") is not None or not (folder / LEGACY_WEIGHTS).is_file():
        return False
    module = cls.from_config(cls.legacy_config(cfg))
    module.save_config(folder)  # config.json with _class_name, as save_pretrained writes it
    os.replace(folder / LEGACY_WEIGHTS, folder / WEIGHTS)
    return True


def upgrade_model_folder(path: str | Path) -> list[str]:
    """Upgrade every older part of a model folder and name the parts' classes in model_index.json.
    Returns the parts rewritten."""
    path = Path(path)
    index = io.read_json(path / "model_index.json")
    done = []
    for name, cls in OLDER_PARTS.items():
        if (path / name).is_dir() and upgrade_part(path / name, cls):
            done.append(name)
    for folder in sorted(path.glob("text_encoder_*")):
        if folder.is_dir() and upgrade_part(folder, BilingualConditioner):
            done.append(folder.name)
    classes = {"unet": None, "vae": None, "text_encoder": "TextConditioner", "classifier": "DomainClassifier"}
    for name, known in classes.items():
        if (path / name).is_dir() and name not in index:
            cls = known or io.read_json(path / name / "config.json")["_class_name"]
            index[name] = ["diffviz" if known else "diffusers", cls]
    index["scheduler"] = ["diffusers", "DDPMScheduler"]
    index["version"] = 2
    io.write_json(path / "model_index.json", index)
    return done


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg, upgrade_model_folder(arg))
