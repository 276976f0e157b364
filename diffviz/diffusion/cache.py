"""A bounded, thread-safe cache of recorded trajectories: identical requests are computed once.

A lecture hall asks the same thing many times: every viewer of a Solara server opens the reverse
process with the same prompt, seed, steps, scheduler and guidance. `TrajectoryCache.get_or_compute`
answers a repeated request from memory, and a request identical to one being computed right now
waits for that computation instead of starting a second one. Entries are dropped least recently used
first, beyond `max_items` entries or `max_bytes` of tensors.

Cached trajectories are shared: callers get a shallow copy (their own `meta` dict, the same tensors)
and must not change the tensors in place (no diffviz view does).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import fields, is_dataclass, replace
from typing import Callable, Hashable

import torch

CACHE_MB_ENV = "DIFFVIZ_TRAJECTORY_CACHE_MB"
DEFAULT_MB = 256
DEFAULT_ITEMS = 64


def trajectory_bytes(traj) -> int:
    """Bytes held by a trajectory's tensors."""
    total = 0
    for f in fields(traj) if is_dataclass(traj) else ():
        value = getattr(traj, f.name)
        if isinstance(value, torch.Tensor):
            total += value.element_size() * value.nelement()
    return total


def _shared_copy(traj):
    return replace(traj, meta=dict(traj.meta)) if is_dataclass(traj) and hasattr(traj, "meta") else traj


class TrajectoryCache:
    """LRU of trajectories keyed by the request's settings; concurrent identical requests coalesce."""

    def __init__(self, max_items: int = DEFAULT_ITEMS, max_bytes: int = DEFAULT_MB << 20):
        if max_items < 0 or max_bytes < 0:
            raise ValueError(f"cache limits must be >= 0, got max_items={max_items}, max_bytes={max_bytes}")
        self.max_items, self.max_bytes = int(max_items), int(max_bytes)
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._running: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = self.joined = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get_or_compute(self, key: Hashable, compute: Callable[[], object]):
        """The trajectory for `key`: from the cache, from an identical computation under way, or computed now."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return _shared_copy(self._items[key][0])
            running = self._running.get(key)
            if running is None:
                running = self._running[key] = Future()
                owner = True
                self.misses += 1
            else:
                owner = False
                self.joined += 1
        if not owner:  # someone is computing exactly this: wait for it (its error is ours too)
            return _shared_copy(running.result())
        try:
            traj = compute()
        except BaseException as err:
            with self._lock:
                del self._running[key]
            running.set_exception(err)
            raise
        self._store(key, traj)
        running.set_result(traj)
        return _shared_copy(traj)

    def _store(self, key, traj) -> None:
        size = trajectory_bytes(traj)
        with self._lock:
            self._running.pop(key, None)
            if size > self.max_bytes or self.max_items == 0:
                return  # too big to keep: computed once for those waiting, not stored
            self._items[key] = (traj, size)
            total = sum(s for _, s in self._items.values())
            while self._items and (len(self._items) > self.max_items or total > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                total -= dropped


def _default_limit() -> int:
    text = os.environ.get(CACHE_MB_ENV, "").strip()
    try:
        mb = float(text) if text else DEFAULT_MB
    except ValueError:
        raise ValueError(f"{CACHE_MB_ENV} must be a number of megabytes >= 0, got {text!r}") from None
    if not mb >= 0:
        raise ValueError(f"{CACHE_MB_ENV} must be a number of megabytes >= 0, got {text!r}")
    return int(mb * (1 << 20))


_CACHE: list[TrajectoryCache] = []
_CACHE_LOCK = threading.Lock()


def shared_cache() -> TrajectoryCache:
    """The process's trajectory cache (DIFFVIZ_TRAJECTORY_CACHE_MB megabytes, default 256; 0 turns it off)."""
    if not _CACHE:
        with _CACHE_LOCK:
            if not _CACHE:
                _CACHE.append(TrajectoryCache(max_bytes=_default_limit()))
    return _CACHE[0]


def weights_version(modules) -> int:
    """A number that changes whenever any parameter or buffer of these modules is changed in place
    (an optimiser step, `load_state_dict`): torch counts in-place writes per tensor."""
    return sum(t._version for m in modules for t in (*m.parameters(), *m.buffers()))
