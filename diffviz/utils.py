"""Small shared helpers: device choice and argument checks used at the public boundary."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import glob
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import errors as _errors
from .errors import DiffvizError

if TYPE_CHECKING:
    import torch

# Set by diffviz.voila for the kernels it serves: where the page serves plotly's widget bundle (a path
# under the server's base URL); diffviz.widgets.charts then points charts at it. Here so both import down.
PLOTLY_BUNDLE_ENV = "DIFFVIZ_PLOTLY_BUNDLE"
# Presenter mode (bigger pictures and text for a projector) for every view a kernel makes; set by
# `diffviz dashboard --presenter`, read by diffviz.widgets.base.presenter().
PRESENTER_ENV = "DIFFVIZ_PRESENTER"
# Worker threads for heavy view actions (diffviz.widgets.base): 1 in a Voila kernel, a small pool in a
# Solara server; set by `diffviz dashboard --server solara --workers N`.
WORKERS_ENV = "DIFFVIZ_WORKERS"
# torch is imported where it is used: the `diffviz dashboard` launcher and the sticky proxy import this
# module and should not carry torch's ~0.4 GB for a whole lecture.


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return the requested device, or the best available one (cuda, then mps, then cpu)."""
    import torch

    if device is not None:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise DiffvizError(f"device {device!r} is not a valid torch device; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from err
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise DiffvizError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
        if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise DiffvizError("device 'mps' was asked for but MPS is not available; use 'cpu'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_finite_number(name: str, value, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Check that `value` is a real, finite number (numpy scalars included) in [minimum, maximum]; return a float."""
    return _errors.check_number(name, value, minimum=minimum, maximum=maximum)


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that `value` is an integer (numpy/torch integer scalars included) in [minimum, maximum]; return an int."""
    return _errors.check_int(name, value, minimum=minimum, maximum=maximum)


MAX_SEED = 2**63 - 1


def check_seed(value, name: str = "seed") -> int:
    """A random seed: an integer in [0, 2**63 - 1] (what torch.Generator.manual_seed takes everywhere)."""
    return check_int(name, value, minimum=0, maximum=MAX_SEED)


# ---- files: every file diffviz writes goes through here, so a kill at any instant leaves the old file or the new
TMP_PREFIX = ".diffviz-tmp-"



def to_unit(images):
    """uint8 pixels 0..255 (a tensor or array, any layout) → float32 in [-1, 1], the models' range."""
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / 127.5 - 1
    return images.float() / 127.5 - 1


def to_u8(x: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] (any layout) → uint8 pixels 0..255, rounded; values outside are clipped."""
    import torch

    return ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def atomic_write(path: str | Path, data: bytes | str | Callable[[Path], None], *, encoding: str = "utf-8") -> Path:
    """Write `path` atomically: into a temp file beside it, flushed to disk, then renamed over it.

    `data` is the bytes or text to write, or a function that writes a file at the path it is given (e.g.
    `lambda tmp: save_file(tensors, str(tmp))`). A crash or kill -9 at any moment leaves either the old
    file or the new one, never a half-written one; a failure removes the temp file. Refuses a path that
    is a folder or whose folder does not exist, with a one-line DiffvizError.
    """
    path = Path(path)
    check_output_file(path)
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.{os.getpid()}.", dir=path.parent)
    tmp = Path(name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode(encoding) if isinstance(data, str) else data)
        _fsync(tmp)
        kill_point("file:written")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync(path.parent)
    _remove_stale_temps(path)
    return path


def _remove_stale_temps(path: Path) -> None:
    """Remove temp files a killed earlier write of `path` left beside it (their writer process is gone);
    a write in progress in a live process keeps its own."""
    prefix = f"{TMP_PREFIX}{path.name}."
    for stale in path.parent.glob(f"{glob.escape(prefix)}*"):
        pid = stale.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def check_output_file(path: str | Path) -> Path:
    """Refuse, before any work is done, an output file diffviz could not write: a folder, a missing or
    read-only folder, a path under a file."""
    path = Path(path)
    if path.is_dir():
        raise _errors.OutputPathError(f"{_errors.short(str(path))} is a folder; give a file name (e.g. {path / 'out'})")
    parent = path.parent
    if not parent.exists():
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: folder {_errors.short(str(parent))} does not exist")
    if not parent.is_dir():
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: {_errors.short(str(parent))} is a file, not a folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)) or _read_only_fs(parent):
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: no permission to write in {_errors.short(str(parent))}")
    return path


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY) or str(folder.resolve()).startswith(("/proc", "/sys"))
    except OSError:
        return False


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def kill_point(name: str) -> None:
    """Test hook for the kill -9 tests: when DIFFVIZ_KILL_AT names this point, the process SIGKILLs itself
    here (between two steps of a save), so a test can check what a kill at exactly that instant leaves."""
    if os.environ.get("DIFFVIZ_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


_released = [0.0]
_release_lock = threading.Lock()
_pending: threading.Timer | None = None
RELEASE_EVERY_S = 5.0


def release_memory(force: bool = False) -> None:
    """Give freed memory back to the OS after a big computation.

    glibc keeps the buffers of a finished sampling loop in its heap (~80 MB for a shapes batch), so a
    long-lived kernel would stay at its peak; `malloc_trim` returns them. A no-op without glibc.
    At most once every RELEASE_EVERY_S seconds per process (unless `force`): in a Solara server every
    viewer's every action ends here, and a full `gc.collect()` over a process holding hundreds of viewers'
    widgets costs tens of milliseconds each time while holding the GIL (measured: a sixth of the server's
    CPU when 8 viewers opened a page at once). A call inside that window schedules one release at its end,
    so the last action's buffers are still returned.
    """
    global _pending
    now = time.monotonic()
    with _release_lock:
        wait = RELEASE_EVERY_S - (now - _released[0])
        if not force and wait > 0:
            if _pending is None:
                _pending = threading.Timer(wait, _release_later)
                _pending.daemon = True
                _pending.start()
            return
        _released[0] = now
    _release_now()


def _release_later() -> None:
    global _pending
    with _release_lock:
        _pending = None
        _released[0] = time.monotonic()
    _release_now()


def _release_now() -> None:
    gc.collect()
    torch = sys.modules.get("torch")  # nothing of torch's to free in a process that never imported it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "malloc_trim") else None
