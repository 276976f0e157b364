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


def load(name_or_path: str | Path, device=None, text_encoder: str | None = None, *, dtype=None,
         attention_slicing=None, vae_tiling: bool = False, clip: str | Path | None = None) -> DiffusionModel:
    """Load a bundled model ("shapes", "digits"), a tiny random one ("tiny-text", …) or a folder.

    text_encoder: swap in another text encoder trained for the same generator, e.g.
    `load("shapes", text_encoder="bilingual")` reads English and Chinese prompts (same UNet and VAE).
    A standard diffusers pipeline folder (Stable Diffusion 1.x/2.x, DDPM, DDIM) or a Hugging Face repo id
    already in the local cache loads too (`diffviz.models.diffusers_import`; never a download), with
    dtype (default float32 on the CPU, float16 on a GPU) and diffusers' memory savers
    attention_slicing ("auto", "max" or a slice size) and vae_tiling; clip: a local transformers CLIP folder
    (e.g. openai/clip-vit-large-patch14) for CLIP scores, since such a model carries only CLIP's text half.
    Thread-safe: loads run one at a time in a process (see LOAD_LOCK).
    """
    with LOAD_LOCK:
        if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
            return _load(name_or_path, device, text_encoder)
        from . import diffusers_import

        if str(name_or_path) not in bundled_names() and str(name_or_path) not in TINY_MODELS:
            folder = diffusers_import.resolve(name_or_path)
            if folder is not None:
                if text_encoder is not None:
                    raise DiffvizError("text_encoder= swaps a bundled model's text encoder; a diffusers pipeline uses its own")
                model = diffusers_import.load_pipeline_folder(folder, device=device, dtype=dtype,
                                                              attention_slicing=attention_slicing, vae_tiling=vae_tiling)
                if clip is not None:
                    model.info.extra["clip"] = str(Path(clip).expanduser())
                return model
        if dtype is not None or attention_slicing is not None or vae_tiling or clip is not None:
            raise DiffvizError("dtype=, attention_slicing=, vae_tiling= and clip= apply to diffusers pipeline folders; "
                               "diffviz's own models run in float32 and carry their own CLIP")
        try:
            return _load(name_or_path, device, text_encoder)
        except DiffvizError as err:
            hint = diffusers_import.missing_repo_message(name_or_path)
            if hint is None or "no model named" not in str(err):
                raise
            raise DiffvizError(hint) from None


def from_pipeline(pipe, name: str | None = None, device=None, attention_slicing=None, vae_tiling: bool = False) -> DiffusionModel:
    """Wrap a live diffusers pipeline (`DDPMPipeline`, `StableDiffusionPipeline`, …) without copying its weights."""
    from .diffusers_import import from_pipeline as wrap

    return wrap(pipe, name=name, device=device, attention_slicing=attention_slicing, vae_tiling=vae_tiling)


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
