"""Small shared helpers: device choice and argument checks used at the public boundary."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import math

import torch

# Set by diffviz.voila for the kernels it serves: where the page serves plotly's widget bundle (a path
# under the server's base URL); diffviz.widgets.charts then points charts at it. Here so both import down.
PLOTLY_BUNDLE_ENV = "DIFFVIZ_PLOTLY_BUNDLE"
# Presenter mode (bigger pictures and text for a projector) for every view a kernel makes; set by
# `diffviz dashboard --presenter`, read by diffviz.widgets.base.presenter().
PRESENTER_ENV = "DIFFVIZ_PRESENTER"


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return the requested device, or the best available one (cuda, then mps, then cpu)."""
    if device is not None:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device {device!r} is not a valid torch device; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from err
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
        if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError("device 'mps' was asked for but MPS is not available; use 'cpu'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_finite_number(name: str, value, *, minimum: float | None = None) -> float:
    """Check that `value` is a real, finite number (>= minimum when given) and return it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that `value` is an int within [minimum, maximum] and return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def release_memory() -> None:
    """Give freed memory back to the OS after a big computation.

    glibc keeps the buffers of a finished sampling loop in its heap (~80 MB for a shapes batch), so a
    long-lived kernel would stay at its peak; `malloc_trim` returns them. A no-op without glibc.
    """
    gc.collect()
    if torch.cuda.is_available():
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
