"""Arrays reused from one training step to the next.

Fresh multi-megabyte arrays at every step cost page faults (the C allocator
hands large freed blocks back to the system; ``python -m
benchmarks.recurrent_paths`` times the layers with and without reuse).
``empty(shape, dtype)`` hands out an array from a per-thread pool instead,
and takes one back for reuse only once nothing refers to it any more: no
forward cache, no output, no view of it (a NumPy view holds a reference to
the array it views). That is read from CPython's reference counts;
elsewhere ``empty`` just allocates.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

KEEP = 6  # arrays kept per shape and dtype (forward caches of a few layers and steps)
SHAPES = 64  # distinct (shape, dtype) keys before the pool starts over


def _refs(arrays: list[np.ndarray], k: int) -> int:
    return sys.getrefcount(arrays[k])


def _refs_when_free() -> int | None:
    """What ``_refs`` reports for an array only the pool holds."""
    return _refs([np.empty(0)], 0) if hasattr(sys, "getrefcount") else None


FREE = _refs_when_free()


class _Pool(threading.local):
    def __init__(self) -> None:
        self.arrays: dict[tuple, list[np.ndarray]] = {}


_pool = _Pool()


def empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialized array, reused from the pool when one of this shape and dtype is free."""
    if FREE is None:
        return np.empty(shape, dtype)
    key = (tuple(shape), np.dtype(dtype))
    arrays = _pool.arrays.get(key)
    if arrays is None:
        if len(_pool.arrays) >= SHAPES:
            _pool.arrays.clear()
        arrays = _pool.arrays[key] = []
    for k in range(len(arrays)):
        if _refs(arrays, k) == FREE:
            return arrays[k]
    array = np.empty(shape, dtype)
    if len(arrays) < KEEP:
        arrays.append(array)
    return array


def sigmoid_slope(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = a (1 - a), the sigmoid's derivative from its output."""
    np.subtract(1, a, out=out)
    out *= a
    return out


def tanh_slope(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = 1 - a^2, tanh's derivative from its output."""
    np.multiply(a, a, out=out)
    np.subtract(1, out, out=out)
    return out
