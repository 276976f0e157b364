"""`diffviz.load`: bundled models by name, or any diffviz model folder by path."""
from __future__ import annotations

import threading
from pathlib import Path

from .pipeline import DiffusionModel
from .tiny import TINY_MODELS

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"


def bundled_names() -> list[str]:
    """Names of the models shipped inside the package (folders with a model_index.json)."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "model_index.json").is_file())


def available() -> list[str]:
    return bundled_names() + sorted(TINY_MODELS)


# diffusers builds a model inside accelerate's process-global "empty weights" context: two loads at
# once on two threads fail ("Cannot copy out of meta tensor"). Every load in a process takes this lock
# (a Solara server builds many viewers' dashboards on many threads).
LOAD_LOCK = threading.RLock()


def load(name_or_path: str | Path, device=None) -> DiffusionModel:
    """Load a bundled model ("shapes", "digits"), a tiny random one ("tiny-text", …) or a folder.

    Thread-safe: loads run one at a time in a process (see LOAD_LOCK).
    """
    with LOAD_LOCK:
        return _load(name_or_path, device)


def _load(name_or_path, device) -> DiffusionModel:
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"load() takes a model name or a folder path, got {type(name_or_path).__name__}")
    key = str(name_or_path)
    if key in bundled_names():
        return DiffusionModel.from_pretrained(BUNDLED_DIR / key, device=device)
    if key in TINY_MODELS:
        return TINY_MODELS[key]().to(device)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return DiffusionModel.from_pretrained(path, device=device)
    raise ValueError(f"no model named {key!r} and no folder at that path; available models: {', '.join(available())}")
