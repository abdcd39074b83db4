"""Sliding-window geometry shared by Conv and the pooling layers.

A window of ``kernel`` positions (spaced ``dilation`` apart) slides over the
first ``len(kernel)`` per-sample axes in steps of ``stride``; the remaining
axes are channels, which these layers flatten into one trailing axis. Along
each axis, with padding (before, after) and extent e = (k - 1) d + 1::

    out = (in + before + after - e) // stride + 1

``pad="same"`` (or True) is "same" as in TensorFlow/Keras: out = ceil(in / stride),
the total padding max((out - 1) stride + e - in, 0) split with the odd element
after. ``pad="valid"`` (or False) is no padding. Both are stored as the bool.

How many axes a kernel covers (:class:`Sliding`): the N-d layers (Conv,
MaxPool, AvgPool) take the kernel's length, so an int is one axis; the
fixed-rank ones (Conv2D, MaxPool2D, ...) repeat an int over their 1, 2 or 3
axes and read inputs (*spatial, C) or (*spatial) only.

``windows`` is the view of every window a kernel reads (Conv's im2col
columns, uncopied); ``offsets``, the padded positions each kernel offset
reads over all outputs, lets Conv select rows of its columns and the
pooling layers work one kernel offset at a time.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tn_core import kit
from tn_core.kit import Shape, as_shape, is_int

Pads = tuple[tuple[int, int], ...]

#: the axes of a fixed-rank layer's input by rank, channels last
AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


class Sliding:
    """What Conv and the pooling layers share about their kernel (or window) and the input it reads.

    ``rank`` None (Conv, MaxPool, AvgPool), the N-d rule: the kernel slides
    over the first len(kernel) axes, an int being one axis, and the remaining
    axes are channels. An int kernel warns (UserWarning) when the layer is
    wired to an input of 3 or more axes: the axes between the first and the
    last (channels last) are then not slid over, seldom what a Keras or
    PyTorch user means (Conv(3) on (8, 8, 1) images, MaxPool(2) on (8, 8, 16)).
    On 2 axes (steps, channels) an int is the 1-d layer and does not warn. A
    tuple, even of one entry, is explicit and never warns, nor does a loaded
    model file (it stores the tuple).

    A fixed ``rank`` (Conv2D, MaxPool2D: 2): an int covers every one of the
    ``rank`` axes, a tuple must have ``rank`` entries, and the input must be
    (*spatial, C) or (*spatial) (one channel), else a ShapeError at wiring.

    A subclass declares ``_given_int`` as an attrs field (init=False) and sets
    its kernel with :meth:`_sliding_shape` in ``__attrs_post_init__``.
    """

    #: the kernel rank of a fixed-rank layer (Conv2D, MaxPool2D: 2); None for the N-d rule
    rank: ClassVar[int | None] = None

    def _sliding_shape(self, value: Any, what: str) -> Shape:
        """The kernel ``value`` as positive ints, at least one, ``rank`` of them if fixed."""
        shape = as_shape(value, what)
        self._given_int = is_int(value)
        if self._given_int and self.rank is not None:
            shape *= self.rank
        if not shape:
            raise kit.ConfigError(f"{what} must slide over at least one axis, got {value!r}")
        if self.rank is not None and len(shape) != self.rank:
            raise kit.ConfigError(
                f"{what} must be an int (every axis) or {self.rank} ints (rank {self.rank}), got {value!r}"
            )
        return shape

    def _n_d_name(self) -> str:
        """The N-d layer this one is, or fixes the rank of (Conv for Conv2D)."""
        return next(c.__name__ for c in type(self).__mro__ if getattr(c, "rank", None) is None)

    def _check_input(self, shape: Shape, kernel: Shape, what: str) -> None:
        """At wiring: refuse a fixed-rank layer's input of the wrong rank; warn if an int kernel
        leaves axes between the first and the channels (last) unslid (see the class doc)."""
        if self.rank is not None:
            if len(shape) not in (self.rank, self.rank + 1):
                axes = AXES[self.rank]
                raise kit.ShapeError(
                    f"a {self.rank}-d layer reads inputs ({axes}, C) or ({axes}) (channels last), got shape "
                    f"{shape} with {len(shape)} axes; {self._n_d_name()} with a tuple of {self.rank} entries "
                    f"slides over the first {self.rank} axes of any input"
                )
            return
        if not self._given_int or len(shape) < 3:
            return
        (k,), spatial = kernel, len(shape) - 1
        square = (k,) * spatial
        fixed = [c.__name__ for c in type(self).__subclasses__() if c.rank == spatial]
        warnings.warn(
            f"{type(self).__name__}: {what}={k} slides over the first axis only of the input {shape} (an int is one "
            f"axis: the N-d rule); the other axes {shape[1:]} are treated as channels. For a "
            f"{'x'.join(map(str, square))} window over {shape[:-1]} write "
            f"{''.join(f'{c}({k}) or ' for c in fixed)}{what}={square}; write {what}=({k},) to mean one axis "
            "(no warning).",
            UserWarning,
            stacklevel=5,  # _check_input, build, build_checked, Structure.__call__, the caller wiring the layer
        )


def per_axis(value: Any, rank: int, what: str, default: int = 1) -> Shape:
    """``value`` as ``rank`` positive ints: None is ``default``, an int is repeated."""
    if value is None:
        return (default,) * rank
    items = (value,) * rank if is_int(value) else value
    if not isinstance(items, Sequence) or len(items) != rank or not all(is_int(v) and v > 0 for v in items):
        raise kit.ConfigError(f"{what} must be a positive int or {rank} positive ints (one per axis), got {value!r}")
    return tuple(int(v) for v in items)


#: pad's words (any case) and the bools they are stored as
PAD_WORDS = {"same": True, "valid": False}


def pad_spec(value: Any, rank: int) -> bool | Pads:
    """"same" or True, "valid" or False (stored as the bool), or explicit (before, after) padding per axis.

    Explicit padding is an int for every side of every axis, or one entry per
    axis: an int (both sides) or a (before, after) pair; none may be negative.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    choices = f"'same' (or True), 'valid' (or False), an int or {rank} entries (one per axis)"
    if isinstance(value, str):
        if value.lower() not in PAD_WORDS:
            raise kit.ConfigError(f"pad must be {choices}, got {value!r}")
        return PAD_WORDS[value.lower()]
    items = (value,) * rank if is_int(value) else value
    if not isinstance(items, Sequence) or len(items) != rank:
        raise kit.ConfigError(f"pad must be {choices}, got {value!r}")
    pads = []
    for item in items:
        pair = (item, item) if is_int(item) else item
        if not (isinstance(pair, Sequence) and len(pair) == 2 and all(is_int(v) and v >= 0 for v in pair)):
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
    #: what :meth:`offsets` found, per number of axes (a layer's Window is made once per input shape)
    _offsets: dict[int, tuple[tuple[slice, ...], ...]] = attrs.field(factory=dict, init=False, eq=False, repr=False)

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

    def windows(self, xp: np.ndarray, first: int = 0) -> np.ndarray:
        """The windows of xp (n, *padded, C) along the sliding axes from ``first`` on, as a view.

        w[n, *r, *p, *q, c] = xp[n, *r, p s + q d, c], for p the output positions and q the kernel
        offsets along those axes (r: the first ``first`` padded axes, untouched): (n, *padded[:first],
        *out[first:], *kernel[first:], C). Copying it is im2col.
        """
        rank = len(self.kernel)
        view = sliding_window_view(xp, self.extent[first:], axis=tuple(range(1 + first, rank + 1)))
        view = view[  # (n, *padded[:first], *slides, C, *extent[first:]) -> strided and dilated
            (slice(None),) * (1 + first)
            + tuple(slice(0, o * s, s) for o, s in zip(self.out[first:], self.stride[first:]))
            + (slice(None), *(slice(None, None, d) for d in self.dilation[first:]))
        ]
        return np.moveaxis(view, rank + 1, -1)

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

    def offsets(self, axes: int | None = None) -> tuple[tuple[slice, ...], ...]:
        """For each offset along the first ``axes`` kernel axes (default: all), in row-major
        order, the index (batch, those axes) of the padded positions it reads for all outputs."""
        rank = len(self.kernel) if axes is None else axes
        found = self._offsets.get(rank)
        if found is None:
            found = self._offsets[rank] = tuple(
                (slice(None), *(slice(i * d, i * d + (o - 1) * s + 1, s)
                                for i, d, o, s in zip(index, self.dilation, self.out, self.stride)))
                for index in np.ndindex(*self.kernel[:rank])
            )
        return found


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
