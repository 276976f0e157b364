"""Safetensors-only model IO: check a model folder before anything is loaded, never unpickle.

A diffviz model folder holds JSON configs and `.safetensors` weights. Any pickle-style weight file
(.bin, .pt, .pth, .ckpt, .pkl) makes the folder refused outright: loading one can run code.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"}
FORMAT = "diffviz"


class ModelFolderError(ValueError):
    """A model folder is missing files, holds unsafe weights, or is of another model type."""


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ModelFolderError(f"{path} is missing") from None
    except json.JSONDecodeError as err:
        raise ModelFolderError(f"{path} is not valid JSON ({err})") from err


def check_model_folder(path: str | Path, components: list[str]) -> dict:
    """Validate a diffviz model folder and return its model_index.json."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFolderError(f"model folder {path} does not exist")
    unsafe = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if unsafe:
        raise ModelFolderError(
            f"{path} holds pickle-style weight files {unsafe}; diffviz loads only .safetensors weights "
            "(pickles can run arbitrary code). Convert them with safetensors.torch.save_file."
        )
    index = read_json(path / "model_index.json")
    if index.get("format") != FORMAT:
        raise ModelFolderError(
            f"{path} is not a diffviz model folder (model_index.json has format={index.get('format')!r}, "
            f"expected {FORMAT!r}); a diffusers pipeline folder must be converted first"
        )
    for comp in components:
        cdir = path / comp
        if not cdir.is_dir():
            raise ModelFolderError(f"{path} is missing its {comp}/ folder")
        if not list(cdir.glob("*.safetensors")):
            raise ModelFolderError(f"{cdir} has no .safetensors weights file")
        if not list(cdir.glob("*.json")):
            raise ModelFolderError(f"{cdir} has no JSON config")
    return index


def load_weights(file: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file as float32 tensors, with a clear error for a truncated/corrupt file."""
    try:
        state = load_file(str(file), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFolderError(f"{file} is not a readable safetensors file (truncated or corrupted?): {err}") from err
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def save_weights(module: torch.nn.Module, file: str | Path, dtype: torch.dtype | None = torch.float16) -> None:
    """Save a module's state dict as safetensors (floating tensors cast to `dtype`), atomically."""
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in module.state_dict().items()}
    file = Path(file)
    tmp = file.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, file)


def load_state_into(module: torch.nn.Module, file: str | Path) -> torch.nn.Module:
    state = load_weights(file)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelFolderError(f"{file} does not fit this model's architecture: {str(err)[:400]}") from err
    return module


def write_json(path: str | Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True))


class atomic_folder:
    """Context manager: build a folder in a temp sibling, then swap it into place in one rename."""

    def __init__(self, target: str | Path):
        self.target = Path(target)

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False
