"""`diffviz.load`: bundled models by name, or any diffviz model folder by path."""
from __future__ import annotations

import threading
from pathlib import Path

from .pipeline import DiffusionModel
from .tiny import TINY_MODELS
from ..errors import DiffvizError, InputTypeError, short
from .io import recover_folder

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"


def bundled_names() -> list[str]:
    """Names of the models shipped inside the package (folders with a model_index.json)."""
    if not BUNDLED_DIR.is_dir():
        return []
    names = set()
    for p in BUNDLED_DIR.iterdir():
        if not (p / "model_index.json").is_file():
            continue
        if not p.name.startswith("."):
            names.add(p.name)
        elif p.name.endswith(".old"):  # a save killed between its two renames: load() restores it
            names.add(p.name[1:-len(".old")])
    return sorted(names)


def available() -> list[str]:
    return bundled_names() + sorted(TINY_MODELS)


# diffusers builds a model inside accelerate's process-global "empty weights" context: two loads at
# once on two threads fail ("Cannot copy out of meta tensor"). Every load in a process takes this lock
# (a Solara server builds many viewers' dashboards on many threads).
LOAD_LOCK = threading.RLock()


def load(name_or_path: str | Path, device=None, text_encoder: str | None = None) -> DiffusionModel:
    """Load a bundled model ("shapes", "digits"), a tiny random one ("tiny-text", …) or a folder.

    text_encoder: swap in another text encoder trained for the same generator, e.g.
    `load("shapes", text_encoder="bilingual")` reads English and Chinese prompts (same UNet and VAE).
    Thread-safe: loads run one at a time in a process (see LOAD_LOCK).
    """
    with LOAD_LOCK:
        return _load(name_or_path, device, text_encoder)


def _load(name_or_path, device, text_encoder=None) -> DiffusionModel:
    if not isinstance(name_or_path, (str, Path)):
        raise InputTypeError(f"load() takes a model name or a folder path, got {type(name_or_path).__name__}")
    key = str(name_or_path)
    if not key.strip():
        raise DiffvizError(f"load() needs a model name or a folder path, got {key!r}; available models: {', '.join(available())}")
    if key in bundled_names():
        return DiffusionModel.from_pretrained(BUNDLED_DIR / key, device=device, text_encoder=text_encoder)
    if key in TINY_MODELS:
        if text_encoder is not None:
            raise DiffvizError(f"{short(key)} has no other text encoders; text_encoder= works with bundled or saved models")
        return TINY_MODELS[key]().to(device)
    path = Path(name_or_path).expanduser()
    try:
        exists = path.exists() or recover_folder(path).exists()
    except OSError:  # e.g. a name too long to be a path
        exists = False
    if exists:
        return DiffusionModel.from_pretrained(path, device=device, text_encoder=text_encoder)
    raise DiffvizError(f"no model named {short(key)} and no folder at that path; available models: {', '.join(available())}")
