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
import stat
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
    file or the new one, never a half-written one; a failure removes the temp file. The path is checked
    first (`check_output_file`): a symbolic link is written through (its target is replaced, the link
    stays); a folder, a device or a FIFO is refused. The file gets the mode a plain open() would give it:
    an existing file's own, else 0666 less the umask. Returns the path written (a link's target).
    """
    path = check_output_file(path)
    mode = _file_mode(path)
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(path) + f"{os.getpid()}.", dir=path.parent)
    tmp = Path(name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode(encoding) if isinstance(data, str) else data)
        os.chmod(tmp, mode)  # after `data`: a writer may have made the file afresh
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


def _temp_prefix(path: Path) -> str:
    """The temp files' name: `.diffviz-tmp-<name>.` (the name cut to 100 characters, so a long but legal
    file name still leaves room for the temp name's prefix and suffix)."""
    return f"{TMP_PREFIX}{path.name[:100]}."


def umask() -> int:
    """The process's umask, read without changing it (Linux: /proc/self/status; elsewhere set and restored)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(path: Path, new: int = 0o666) -> int:
    """The permission bits a plain open()/mkdir() would leave: an existing file's own, else `new` less the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(path.stat().st_mode)
    return new & ~umask()


def folder_mode(path: Path) -> int:
    """The permission bits for a folder written at `path` (an existing one's own, else 0777 less the umask)."""
    return _file_mode(path, 0o777)


def _remove_stale_temps(path: Path) -> None:
    """Remove temp files a killed earlier write of `path` left beside it (their writer process is gone);
    a write in progress in a live process keeps its own."""
    prefix = _temp_prefix(path)
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
    """Refuse, before any work is done, an output file diffviz could not write: an empty or too long name,
    a folder, a device, a FIFO, a missing or read-only folder, a path under a file.

    Returns the file to write: `path`, or the file a symbolic link at `path` points to (diffviz writes
    through a link, as a shell's `>` does: the target is replaced, the link stays).
    """
    path = _output_path(path)
    if path.is_dir():
        raise _errors.OutputPathError(f"{_errors.short(str(path))} is a folder; give a file name (e.g. {path / 'out'})")
    if path.exists() and not path.is_file():
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: it is {_kind(path)}, not a regular "
                                      "file; give a regular file or a new name")
    parent = path.parent
    if not parent.exists():
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: folder {_errors.short(str(parent))} does not exist")
    if not parent.is_dir():
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: {_errors.short(str(parent))} is a file, not a folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)) or _read_only_fs(parent):
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: no permission to write in {_errors.short(str(parent))}")
    return path


def check_output_folder(path: str | Path) -> Path:
    """Refuse, before any work is done, an output folder diffviz could not make or write: an empty or too
    long name, a file (or device) at that path or above it, a read-only place.

    Returns the folder to write: `path`, or the folder a symbolic link at `path` points to (written through).
    """
    path = _output_path(path)
    if path.exists() and not path.is_dir():
        raise _errors.OutputPathError(f"{_errors.short(str(path))} is {_kind(path)}, not a folder; give a folder path")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise _errors.OutputPathError(f"cannot make folder {_errors.short(str(path))}: {_errors.short(str(existing))} is a file, not a folder")
    if not os.access(existing, os.W_OK) or _read_only_fs(existing):
        raise _errors.OutputPathError(f"cannot write {_errors.short(str(path))}: no permission to write in {_errors.short(str(existing))}")
    return path


def _output_path(path: str | Path) -> Path:
    """An output path checked as text (not empty, no NUL, each name within the file system's limit), with a
    symbolic link at the end resolved to what it points to."""
    text = os.fsdecode(path)
    if not text.strip():
        raise _errors.OutputPathError("the output path is empty; give a file or folder name")
    if "\0" in text:
        raise _errors.OutputPathError(f"output path {_errors.short(text)} contains a NUL character")
    path = Path(text)
    if len(os.fsencode(os.path.abspath(path))) >= PATH_MAX:
        raise _errors.OutputPathError(f"output path {_errors.short(text)} is too long ({len(text)} characters; "
                                      f"the system allows {PATH_MAX - 1} bytes)")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise _errors.OutputPathError(f"output path {_errors.short(text)} has a name of {len(os.fsencode(part))} bytes "
                                          f"({_errors.short(part, 20)}); the file system allows {NAME_MAX}")
    if path.is_symlink():
        path = Path(os.path.realpath(path))
        if path.is_symlink():
            raise _errors.OutputPathError(f"output {_errors.short(text)} is a symbolic link that never reaches a file (a loop)")
    return path


# the limits of Linux and macOS file systems (ext4, APFS, …): a longer name is refused before any work
NAME_MAX = 255
PATH_MAX = 4096


def _kind(path: Path) -> str:
    mode = path.stat().st_mode
    kinds = [(stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file")]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


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
