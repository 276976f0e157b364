"""`diffviz.load`: bundled models by name, or any diffviz model folder by path."""
from __future__ import annotations

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


def load(name_or_path: str | Path, device=None, text_encoder: str | None = None) -> DiffusionModel:
    """Load a bundled model ("shapes", "digits"), a tiny random one ("tiny-text", …) or a folder.

    text_encoder: swap in another text encoder trained for the same generator, e.g.
    `load("shapes", text_encoder="bilingual")` reads English and Chinese prompts (same UNet and VAE)."""
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"load() takes a model name or a folder path, got {type(name_or_path).__name__}")
    key = str(name_or_path)
    if key in bundled_names():
        return DiffusionModel.from_pretrained(BUNDLED_DIR / key, device=device, text_encoder=text_encoder)
    if key in TINY_MODELS:
        if text_encoder is not None:
            raise ValueError(f"{key!r} has no other text encoders; text_encoder= works with bundled or saved models")
        return TINY_MODELS[key]().to(device)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return DiffusionModel.from_pretrained(path, device=device, text_encoder=text_encoder)
    raise ValueError(f"no model named {key!r} and no folder at that path; available models: {', '.join(available())}")
