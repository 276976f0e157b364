"""Safetensors-only model IO: check a model folder before anything is loaded, never unpickle.

A diffviz model folder holds JSON configs and `.safetensors` weights. Any pickle-style weight file
(.bin, .pt, .pth, .ckpt, .pkl) makes the folder refused outright: loading one can run code.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import unreadable_weights
from ..errors import DiffvizError, OutputPathError, short
from ..utils import atomic_write, check_output_folder, folder_mode, kill_point, umask

PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"}
FORMAT = "diffviz"


class ModelFolderError(DiffvizError):
    """A model folder is missing files, holds unsafe weights, or is of another model type."""


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFolderError(f"{path} is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def check_model_folder(path: str | Path, components: list[str]) -> dict:
    """Validate a diffviz model folder and return its model_index.json."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ModelFolderError(f"{short(str(path))} is a file, not a model folder")
    if not path.is_dir():
        raise ModelFolderError(f"model folder {short(str(path))} does not exist")
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
        raise ModelFolderError(unreadable_weights(file, err)) from err
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def check_safetensors(file: str | Path) -> None:
    """Open a safetensors file and read its last tensor: a truncated or corrupt file fails here, with a short message."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            keys = list(f.keys())
            if keys:
                f.get_slice(keys[-1])[:]  # reading the last tensor catches truncation
    except Exception as err:
        raise ModelFolderError(unreadable_weights(file, err)) from err


def check_finite_weights(module: torch.nn.Module, where) -> None:
    """Refuse weights that hold NaN or infinite values (a damaged file): a model loaded with them samples NaN pictures."""
    bad = [name for name, t in module.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise ModelFolderError(f"{where}: weights hold NaN or infinite values ({', '.join(bad[:3])}"
                               f"{' …' if len(bad) > 3 else ''}); the file is damaged: copy or download it again")


def save_weights(module: torch.nn.Module, file: str | Path, dtype: torch.dtype | None = torch.float16) -> None:
    """Save a module's state dict as safetensors (floating tensors cast to `dtype`), atomically."""
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in module.state_dict().items()}
    atomic_write(file, lambda tmp: save_file(state, str(tmp)))


def load_state_into(module: torch.nn.Module, file: str | Path) -> torch.nn.Module:
    state = load_weights(file)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelFolderError(f"{file} does not fit this model's architecture: {str(err)[:400]}") from err
    return module


def write_json(path: str | Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True))


def _old(target: Path) -> Path:
    return target.with_name(f".{target.name[:100]}.old")  # cut: room for the suffix beside a long name


def _tmp_prefix(target: Path) -> str:
    """A save's temp folder name, `.<name>.tmp-` (the name cut to 100 characters: room for the pid and suffix)."""
    return f".{target.name[:100]}.tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_folder(target: str | Path) -> Path:
    """Undo what a kill in the middle of `atomic_folder` left: the model folder is always there afterwards
    (the old one when the kill came between the two renames) and no stale temp folder stays behind.

    Returns the folder to read: `target`, or its `.name.old` copy when `target` is missing and cannot be
    restored (a read-only installation).
    """
    target = Path(target)
    old = _old(target)
    if not target.exists() and old.is_dir() and (old / "model_index.json").is_file():
        try:
            os.replace(old, target)
        except OSError:
            return old  # read-only: read the old copy where it is
    elif target.is_dir() and old.exists():
        shutil.rmtree(old, ignore_errors=True)  # a kill while the old copy was being removed
    if target.parent.is_dir():
        for tmp in target.parent.glob(f"{glob.escape(_tmp_prefix(target))}*"):
            try:
                pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
            except ValueError:
                continue
            if not _pid_alive(pid) or pid == os.getpid():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _open_modes(folder: Path) -> None:
    """Give what a save built the modes open()/mkdir() would: a writer's own temp-and-rename (safetensors
    via diffusers leaves 0600) would hide a model from a server running as another user."""
    mask = umask()
    for path in folder.rglob("*"):
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


class atomic_folder:
    """Context manager: build a folder in a temp sibling, then swap it into place.

    The swap is two renames (target → `.name.old`, temp → target). A kill -9 at any instant leaves a
    loadable model: before the first rename the old folder is in place, between the two it is in
    `.name.old` and `recover_folder` (run by every load and every save) puts it back, after the second the
    new one is in place. A killed save's temp folder (`.name.tmp-<pid>-…`) is removed by the next save or load.
    """

    def __init__(self, target: str | Path):
        self.target = Path(target)

    def __enter__(self) -> Path:
        self.target = check_output_folder(self.target)  # a link is written through: the folder it points to is replaced
        if self.target.name in ("", ".", ".."):
            raise OutputPathError(f"{short(str(self.target))} names no folder of its own; give the model folder's name (e.g. ./model)")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputPathError(f"cannot create folder {short(str(self.target.parent))}: {err.strerror}") from None
        recover_folder(self.target)
        mode = folder_mode(self.target)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{_tmp_prefix(self.target)}{os.getpid()}-", dir=self.target.parent))
        os.chmod(self.tmp, mode)  # mkdtemp's 0700 would hide the model from other users
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        _open_modes(self.tmp)
        kill_point("folder:built")
        old = None
        if self.target.exists():
            old = _old(self.target)
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.target, old)
            kill_point("folder:between-renames")
        os.replace(self.tmp, self.target)
        kill_point("folder:after-swap")
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False
