"""Arrays a layer reuses from one training step to the next instead of fresh memory.

Fresh multi-megabyte arrays at every step cost page faults (the C allocator
hands large freed blocks back to the system, and the kernel zeroes pages on
first touch). Two lifetimes, two helpers:

- :func:`scratch`: this thread's work array ``name``, contents undefined,
  valid until the same thread asks for ``name`` again; for arrays that
  never leave one call (a convolution's column matrix).
- :func:`reusable_empty`: an array that may outlive the call (kept in a
  forward cache, returned as an output) and is handed out again only once
  nothing refers to it any more: no cache, no output, no view of it (a NumPy
  view holds a reference to the array it views). That is read from CPython's
  reference counts; elsewhere it just allocates.

The optimizer's staged values are not work arrays of this kind: they become
its state when a step succeeds (``Optimizer.work_arrays``).
"""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

import numpy as np

#: reusable arrays kept per shape and dtype (forward caches of a few layers and steps)
KEEP = 6
#: distinct (shape, dtype) keys before the pool starts over
SHAPES = 64


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.scratch: dict[str, np.ndarray] = {}
        self.pool: dict[tuple, list[np.ndarray]] = {}


_arrays = _PerThread()


def scratch(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """This thread's work array ``name`` of ``shape`` (contents undefined), reused by its next request."""
    size = math.prod(shape) * np.dtype(dtype).itemsize
    buffers = _arrays.scratch
    if name not in buffers or buffers[name].nbytes < size:
        buffers[name] = np.empty(size, dtype=np.uint8)
    return buffers[name][:size].view(dtype).reshape(shape)


def _refs(arrays: list[np.ndarray], k: int) -> int:
    return sys.getrefcount(arrays[k])


def _refs_when_free() -> int | None:
    """What ``_refs`` reports for an array only the pool holds (None without CPython's reference counts)."""
    return _refs([np.empty(0)], 0) if hasattr(sys, "getrefcount") else None


#: the reference count of a pooled array nothing else refers to; None: no pooling
FREE = _refs_when_free()


def reusable_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized array, reused from this thread's pool when one of this shape and dtype is free."""
    if FREE is None:
        return np.empty(shape, dtype)
    key = (tuple(shape), np.dtype(dtype))
    pool = _arrays.pool
    arrays = pool.get(key)
    if arrays is None:
        if len(pool) >= SHAPES:
            pool.clear()
        arrays = pool[key] = []
    for k in range(len(arrays)):
        if _refs(arrays, k) == FREE:
            return arrays[k]
    array = np.empty(shape, dtype)
    if len(arrays) < KEEP:
        arrays.append(array)
    return array
