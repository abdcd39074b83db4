"""Sliding-window geometry shared by Conv and the pooling layers.

A window of ``kernel`` positions (spaced ``dilation`` apart) slides over the
first ``len(kernel)`` per-sample axes in steps of ``stride``; the remaining
axes are channels, which these layers flatten into one trailing axis. Along
each axis, with padding (before, after) and extent e = (k - 1) d + 1::

    out = (in + before + after - e) // stride + 1

``pad=True`` is "same" as in TensorFlow/Keras: out = ceil(in / stride), the
total padding max((out - 1) stride + e - in, 0) split with the odd element
after. ``pad=False`` is "valid" (no padding).

``columns`` gives Conv its (partial) im2col; ``offsets``, the padded
positions each kernel offset reads over all outputs, lets Conv select rows of
it and the pooling layers work one kernel offset at a time.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tn_core import kit
from tn_core.kit import Shape, as_shape
from tn_layers_conv.parallel import scratch

Pads = tuple[tuple[int, int], ...]


@contextlib.contextmanager
def naming(layer: str) -> Iterator[None]:
    """Prefix the ConfigErrors raised inside the block with the layer's name."""
    try:
        yield
    except kit.ConfigError as exc:
        raise kit.ConfigError(f"{layer}: {exc}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def sliding_shape(value: Any, what: str) -> Shape:
    """A kernel or pooling window: positive ints, at least one (the axes it slides over)."""
    shape = as_shape(value, what)
    if not shape:
        raise kit.ConfigError(f"{what} must slide over at least one axis, got {value!r}")
    return shape


def per_axis(value: Any, rank: int, what: str, default: int = 1) -> Shape:
    """``value`` as ``rank`` positive ints: None is ``default``, an int is repeated."""
    if value is None:
        return (default,) * rank
    items = (value,) * rank if _is_int(value) else value
    if not isinstance(items, Sequence) or len(items) != rank or not all(_is_int(v) and v > 0 for v in items):
        raise kit.ConfigError(f"{what} must be a positive int or {rank} positive ints (one per axis), got {value!r}")
    return tuple(int(v) for v in items)


def pad_spec(value: Any, rank: int) -> bool | Pads:
    """True ("same"), False ("valid"), or explicit (before, after) padding per axis.

    Explicit padding is an int for every side of every axis, or one entry per
    axis: an int (both sides) or a (before, after) pair; none may be negative.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    items = (value,) * rank if _is_int(value) else value
    if not isinstance(items, Sequence) or len(items) != rank:
        raise kit.ConfigError(
            f"pad must be True, False, an int or {rank} entries (one per axis), got {value!r}"
        )
    pads = []
    for item in items:
        pair = (item, item) if _is_int(item) else item
        if not (isinstance(pair, Sequence) and len(pair) == 2 and all(_is_int(v) and v >= 0 for v in pair)):
            raise kit.ConfigError(f"pad entries must be ints >= 0 or (before, after) pairs of them, got {value!r}")
        pads.append((int(pair[0]), int(pair[1])))
    return tuple(pads)


def extent(kernel: Shape, dilation: Shape) -> Shape:
    """The dilated kernel's span along each sliding axis: (k - 1) d + 1."""
    return tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))


@attrs.frozen
class Window:
    """The geometry of one layer on one per-sample input shape."""

    spatial: Shape  # the input's sliding axes
    channels: int  # product of the remaining axes
    kernel: Shape
    stride: Shape
    dilation: Shape
    pads: Pads
    out: Shape
    #: (index into the input, index into the grid) when the input is spread out rather than padded
    spread: tuple[tuple[slice, ...], tuple[slice, ...]] | None = None

    @property
    def padded(self) -> Shape:
        return tuple(n + b + a for n, (b, a) in zip(self.spatial, self.pads))

    @property
    def size(self) -> int:
        """Number of kernel offsets."""
        return math.prod(self.kernel)

    def place(self, x: np.ndarray, fill: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
        """The input x (n, *spatial, C) on its padded grid (n, *padded, C), the rest ``fill``.

        x itself when there is no padding; else ``out``, or a new array. (For
        the grid of :meth:`transposed`, x is the output gradient, spread.)
        """
        source, target = self.spread if self.spread is not None else ((slice(None),), self.interior())
        if self.spread is None and not any(b or a for b, a in self.pads):
            return x
        grid = np.empty((x.shape[0], *self.padded, self.channels), dtype=x.dtype) if out is None else out
        grid.fill(fill)
        grid[target] = x[source]
        return grid

    def interior(self) -> tuple[slice, ...]:
        """Index of the unpadded input inside a padded batch."""
        return (slice(None), *(slice(b, b + n) for n, (b, _) in zip(self.spatial, self.pads)), slice(None))

    @property
    def extent(self) -> Shape:
        return extent(self.kernel, self.dilation)

    @property
    def looped(self) -> int:
        """How many leading kernel axes Conv loops over instead of unrolling: 1 (0 for 1-D).

        Unrolling all but the first axis copies kernel[0] times less than a
        full im2col and leaves matmuls wide enough for BLAS: measured on
        32x32 images (batch 32) it is 1.4-2.6x faster than unrolling every axis and
        1.3-11x faster than unrolling none, except at 64 channels (1.2x slower than none).
        """
        return min(len(self.kernel) - 1, 1)

    @property
    def column_size(self) -> int:
        """Elements per sample of ``columns``."""
        l = self.looped
        return math.prod(self.padded[:l]) * math.prod(self.out[l:]) * math.prod(self.kernel[l:]) * self.channels

    def columns(self, xp: np.ndarray) -> np.ndarray:
        """im2col of xp (n, *padded, C): (n, *padded[:l], positions, taps * C), l = ``looped``.

        The sliding axes after the first l are unrolled: positions run over
        their outputs and taps over their kernel offsets (row-major),
        channels last. The l looped axes keep all their padded rows, so an
        offset along them selects rows (``offsets(l)``) instead of copying.
        The result lives in this thread's ``scratch`` array until its next use.
        """
        rank, l = len(self.kernel), self.looped
        view = sliding_window_view(xp, self.extent[l:], axis=tuple(range(1 + l, rank + 1)))
        view = view[  # (n, *padded[:l], *slides, C, *extent[l:]) -> strided and dilated
            (slice(None),) * (1 + l)
            + tuple(slice(0, o * s, s) for o, s in zip(self.out[l:], self.stride[l:]))
            + (slice(None), *(slice(None, None, d) for d in self.dilation[l:]))
        ]
        view = np.moveaxis(view, rank + 1, -1)  # (n, *padded[:l], *out[l:], *kernel[l:], C)
        cols = scratch("columns", view.shape, xp.dtype)
        np.copyto(cols, view)
        return cols.reshape(*view.shape[: 1 + l], math.prod(self.out[l:]), -1)

    def transposed(self, channels: int) -> Window:
        """The geometry of dE/dx as a correlation of the output gradient g (``channels`` of them).

        dx[p] = sum over t, q with p + pad_before = t s + q d of g[t] W[q].
        Spreading g onto a zero grid at L + t s (L = e - 1 - pad_before)
        makes dx the stride-1, unpadded correlation of that grid with the
        flipped kernel. The grid spans in + e - 1 positions per axis; the g
        entries that fall outside it only ever met padding.
        """
        source, target = [], []
        for n, (before, _), e, s, o in zip(self.spatial, self.pads, self.extent, self.stride, self.out):
            lead = e - 1 - before
            first, stop = max(0, -(lead // s)), min(o, -(-(n + before) // s))
            count = max(stop - first, 0)
            source.append(slice(first, first + count))
            target.append(slice(lead + s * first, lead + s * (first + count), s))
        grid = tuple(n + e - 1 for n, e in zip(self.spatial, self.extent))
        everything = (slice(None),)
        spread = (everything + tuple(source), everything + tuple(target))
        ones, zeros = (1,) * len(grid), ((0, 0),) * len(grid)
        return Window(grid, channels, self.kernel, ones, self.dilation, zeros, self.spatial, spread)

    def offsets(self, axes: int | None = None) -> list[tuple[slice, ...]]:
        """For each offset along the first ``axes`` kernel axes (default: all), in row-major
        order, the index (batch, those axes) of the padded positions it reads for all outputs."""
        rank = len(self.kernel) if axes is None else axes
        return [
            (slice(None), *(slice(i * d, i * d + (o - 1) * s + 1, s)
                            for i, d, o, s in zip(index, self.dilation, self.out, self.stride)))
            for index in np.ndindex(*self.kernel[:rank])
        ]


@functools.lru_cache(maxsize=256)
def window(shape: Shape, kernel: Shape, stride: Shape, dilation: Shape, pad: bool | Pads) -> Window:
    """The geometry on per-sample input ``shape``; ShapeError if the window does not fit.

    (Raised at wiring, where ``Structure.build_checked`` puts the layer's name in front.)
    """
    rank = len(kernel)
    if len(shape) < rank:
        raise kit.ShapeError(
            f"a kernel of rank {rank} {kernel} needs an input of rank >= {rank}, got shape {shape}"
        )
    spatial, span = shape[:rank], extent(kernel, dilation)
    if pad is True:
        out = tuple(-(-n // s) for n, s in zip(spatial, stride))
        totals = [max((o - 1) * s + e - n, 0) for o, s, e, n in zip(out, stride, span, spatial)]
        pads: Pads = tuple((t // 2, t - t // 2) for t in totals)
    else:
        pads = ((0, 0),) * rank if pad is False else pad
        padded = tuple(n + b + a for n, (b, a) in zip(spatial, pads))
        if any(p < e for p, e in zip(padded, span)):
            raise kit.ShapeError(
                f"kernel {kernel} (extent {span} with dilation {dilation}) is larger than "
                f"the input's sliding axes {spatial} (padded to {padded})"
            )
        out = tuple((p - e) // s + 1 for p, e, s in zip(padded, span, stride))
    return Window(spatial, math.prod(shape[rank:]), kernel, stride, dilation, pads, out)
