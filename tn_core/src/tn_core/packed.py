"""Arrays packed back to back in one 1-d buffer, so that elementwise work on all of them is one operation.

A System keeps its trainable parameters so (each layer's ``params`` entries are views into the System's
buffer; loading writes into them) and sums their gradients into a matching buffer; an elementwise optimizer
then updates every parameter with a few whole-buffer operations, or one fused kernel call, and keeps its
state (Adam's m and v) in buffers of the same layout.
"""

from __future__ import annotations

import functools
import math
import operator
import weakref
from collections.abc import Sequence

import numpy as np

Shape = tuple[int, ...]

#: the buffers made by :func:`buffer`, by id (alive while a view of them is): arrays in them stay where they are
_BUFFERS: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


def buffer(size: int, dtype: np.dtype) -> np.ndarray:
    """A new 1-d buffer of ``size`` numbers, known to :func:`is_packed` while it lives."""
    flat = np.empty(size, dtype)
    _BUFFERS[id(flat)] = flat
    return flat


def is_packed(array: np.ndarray) -> bool:
    """Whether ``array`` is a view into a buffer made by :func:`buffer` (a System's parameters)."""
    base = array.base
    return base is not None and _BUFFERS.get(id(base)) is base


def split(flat: np.ndarray, shapes: Sequence[Shape]) -> list[np.ndarray]:
    """Consecutive views of the 1-d ``flat``, one of each shape, in order from its start."""
    return [flat[start:stop] if len(shape) == 1 else flat[start:stop].reshape(shape)
            for start, stop, shape in _bounds(tuple(shapes))]


@functools.lru_cache(maxsize=256)
def _bounds(shapes: tuple[Shape, ...]) -> tuple[tuple[int, int, Shape], ...]:
    """(start, stop, shape) of arrays of ``shapes`` back to back (a System's layouts repeat every step)."""
    bounds, start = [], 0
    for shape in shapes:
        bounds.append((start, start + math.prod(shape), shape))
        start += math.prod(shape)
    return tuple(bounds)


def same_objects(first: Sequence[object], second: Sequence[object]) -> bool:
    """Whether the two sequences hold the very same objects, in order (identity: arrays are not compared)."""
    return len(first) == len(second) and all(map(operator.is_, first, second))


def span(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    """The 1-d view of one buffer that ``arrays`` fill back to back in order (C-contiguous, one dtype),
    or None where they do not."""
    if not arrays:
        return None
    base, dtype = arrays[0].base, arrays[0].dtype
    if base is None or base.ndim != 1 or not base.flags.c_contiguous or base.dtype != dtype:
        return None
    origin = base.__array_interface__["data"][0]
    start = position = (arrays[0].__array_interface__["data"][0] - origin) // dtype.itemsize
    for array in arrays:
        address = array.__array_interface__["data"][0]
        if (array.base is not base or array.dtype != dtype or not array.flags.c_contiguous
                or address != origin + position * dtype.itemsize):
            return None
        position += array.size
    return base[start:position]


class Packed(list):
    """One array per parameter, each a consecutive view of the 1-d buffer ``flat`` (which they fill, in order).

    What a System hands its optimizer as the parameters and as their gradients; an elementwise optimizer
    updates them all as the one array ``flat`` (see :class:`tn_core.optimizers.Optimizer`).
    """

    def __init__(self, flat: np.ndarray, shapes: Sequence[Shape]) -> None:
        self.shapes = tuple(shapes)
        if (_bounds(self.shapes)[-1][1] if self.shapes else 0) != flat.size:
            raise ValueError(f"arrays of shapes {list(shapes)} do not fill a buffer of {flat.size}")
        super().__init__(split(flat, self.shapes))
        self.flat = flat

    def __reduce__(self) -> tuple[type, tuple[np.ndarray, tuple[Shape, ...]]]:
        """Copies (copy.deepcopy, pickle) are views of the copied buffer, never of the original one."""
        return Packed, (self.flat, self.shapes)
