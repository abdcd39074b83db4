"""Pooling over the leading axes of each sample; the remaining (channel) axes are kept.

MaxPool and AvgPool slide a ``window`` over the first len(window) axes in
steps of ``stride`` (default: the window, so windows tile the input), with
the padding conventions of Conv (see :mod:`tn_layers_conv.window`);
MaxPool1D/2D/3D and AvgPool1D/2D/3D fix the rank (an int means every axis).
Both work one window offset at a time over all windows at once (a few
strided slices, no copy of the windows). GlobalAvgPool averages whole axes.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BuildResult, ForwardResult, Params, Shape
from tn_layers_conv.window import Sliding, Window, pad_spec, per_axis, window


@attrs.define
class _Pool(kit.Structure, Sliding):
    """Shared fields and geometry of MaxPool and AvgPool."""

    window: Shape = attrs.field()
    stride: Shape | None = attrs.field(default=None)
    pad: bool | tuple[tuple[int, int], ...] = attrs.field(default=False)
    _given_int: bool = attrs.field(default=False, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        with kit.prefixed(self.type_name()):
            self.window = self._sliding_shape(self.window, "window")
            self.stride = self.window if self.stride is None else per_axis(self.stride, len(self.window), "stride")
            self.pad = pad_spec(self.pad, len(self.window))
            if not isinstance(self.pad, bool) and any(max(p) >= k for p, k in zip(self.pad, self.window)):
                raise kit.ConfigError(
                    f"padding {self.pad} must be smaller than the window {self.window} on every side "
                    "(else a window could hold only padding)"
                )

    def geometry(self, shape: Shape) -> Window:
        ones = (1,) * len(self.window)
        return window(tuple(shape), self.window, self.stride, ones, self.pad)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        shape = input_shapes[0]
        self._check_input(shape, self.window, "window")
        return [self.geometry(shape).out + shape[len(self.window):]], {}

    def _padded(self, x: np.ndarray, fill: float) -> tuple[np.ndarray, Window]:
        geo = self.geometry(x.shape[1:])
        return geo.place(x.reshape(x.shape[0], *geo.spatial, geo.channels), fill), geo

    def _output(self, y: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
        return y.reshape(x_shape[0], *y.shape[1:-1], *x_shape[1 + len(self.window):])

    @staticmethod
    def _scatter(geo: Window, parts: Any, x_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """dE/dx from each window offset's gradient: add it at the positions that offset read."""
        dxp = np.zeros((x_shape[0], *geo.padded, geo.channels), dtype=dtype)
        for index, part in zip(geo.offsets(), parts):
            dxp[index] += part
        return dxp[geo.interior()].reshape(x_shape)


@attrs.define
class MaxPool(_Pool):
    """y[p, c] = max over the window offsets q of x[p * stride + q - pad_before, c] (padding never wins).

    The ``window`` slides over the first len(window) input axes: an int is
    one axis (the N-d rule; wired to an input of 3 or more axes it warns, as
    the axes between the first and the channels stay unpooled: MaxPool2D(2)
    is a 2x2 window). Shapes: (*spatial,
    *channels) -> (*pooled, *channels), pooled per axis (n + pads - k) //
    stride + 1 ("same": ceil(n / stride)). ``stride``: an int or one per
    axis, default the window (windows tile the input). ``pad``: "valid" or
    False, "same" or True, or explicit as in Conv, each side smaller than
    the window. No parameters.

    The gradient goes to one element per window, the first maximum in
    row-major window order (as PyTorch), so ties are broken deterministically.
    """

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        xp, geo = self._padded(x, -np.inf)
        offsets = geo.offsets()
        best = xp[offsets[0]].copy()
        for index in offsets[1:]:
            np.maximum(best, xp[index], out=best)
        return [self._output(best, x.shape)], (xp, best, x.shape, geo)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        xp, best, x_shape, geo = cache
        g = grads[0].reshape(best.shape)
        zero = np.zeros((), dtype=g.dtype)
        unclaimed = np.ones(best.shape, dtype=bool)  # windows whose first maximum is still to come

        def parts() -> Any:  # per window offset, in row-major order: g where it holds the window's first maximum
            for index in geo.offsets():
                first = xp[index] == best
                first &= unclaimed
                np.logical_xor(unclaimed, first, out=unclaimed)  # first lies within unclaimed: clears it
                yield np.where(first, g, zero)

        return [self._scatter(geo, parts(), x_shape, g.dtype)], {}


@attrs.define
class AvgPool(_Pool):
    """y[p, c] = the mean of x[p * stride + q - pad_before, c] over the window offsets q inside the input.

    Padding is not counted (as Keras; PyTorch's count_include_pad=False).
    Window, stride, padding, shapes and the N-d rule as in MaxPool
    (AvgPool2D(2) is a 2x2 window). No parameters.
    """

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        xp, geo = self._padded(x, 0.0)
        total = sum(xp[index] for index in geo.offsets())
        count = self._counts(geo).astype(x.dtype)
        return [self._output(total / count, x.shape)], (count, x.shape, geo)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        count, x_shape, geo = cache
        g = grads[0].reshape(x_shape[0], *geo.out, geo.channels) / count
        return [self._scatter(geo, (g for _ in range(geo.size)), x_shape, g.dtype)], {}

    @staticmethod
    def _counts(geo: Window) -> np.ndarray:
        """How many input (not padding) elements each window holds: (1, *out, 1)."""
        inside = geo.place(np.ones((1, *geo.spatial, geo.channels)))[..., :1]
        return sum(inside[index] for index in geo.offsets())


@attrs.define
class MaxPool1D(MaxPool):
    """MaxPool over sequences: (L, C) or (L,) -> (L', C) or (L',); window an int k or (k,)."""

    rank: ClassVar[int | None] = 1


@attrs.define
class MaxPool2D(MaxPool):
    """MaxPool over images: (H, W, C) or (H, W) -> (H', W', C) or (H', W'); an int window k means k x k.

    As Keras's MaxPooling2D or PyTorch's MaxPool2d (channels last).
    """

    rank: ClassVar[int | None] = 2


@attrs.define
class MaxPool3D(MaxPool):
    """MaxPool over volumes: (D, H, W, C) or (D, H, W) -> (D', H', W', C) or (D', H', W'); int k means k x k x k."""

    rank: ClassVar[int | None] = 3


@attrs.define
class AvgPool1D(AvgPool):
    """AvgPool over sequences: (L, C) or (L,) -> (L', C) or (L',); window an int k or (k,)."""

    rank: ClassVar[int | None] = 1


@attrs.define
class AvgPool2D(AvgPool):
    """AvgPool over images: (H, W, C) or (H, W) -> (H', W', C) or (H', W'); an int window k means k x k.

    As Keras's AveragePooling2D or PyTorch's AvgPool2d with count_include_pad=False (channels last).
    """

    rank: ClassVar[int | None] = 2


@attrs.define
class AvgPool3D(AvgPool):
    """AvgPool over volumes: (D, H, W, C) or (D, H, W) -> (D', H', W', C) or (D', H', W'); int k means k x k x k."""

    rank: ClassVar[int | None] = 3


@attrs.define
class GlobalAvgPool(kit.Structure):
    """y = the mean over the first ``axes`` per-sample axes; the rest (channels) are kept.

    ``axes=None`` averages every axis but the last: (H, W, C) -> (C,).
    """

    axes: int | None = attrs.field(
        default=None, converter=kit.labelled(lambda value: None if value is None else kit.check_int(value, "axes")))

    def _count(self, shape: Shape) -> int:
        count = len(shape) - 1 if self.axes is None else self.axes
        if not 1 <= count < len(shape):
            raise kit.ShapeError(
                f"axes={self.axes} needs an input with at least {max(count, 1) + 1} axes "
                f"(some to average, some to keep), got shape {shape}"
            )
        return count

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        shape = input_shapes[0]
        return [shape[self._count(shape):]], {}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        axes = tuple(range(1, 1 + self._count(x.shape[1:])))
        return [x.mean(axis=axes)], (x.shape, math.prod(x.shape[a] for a in axes))

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        x_shape, count = cache
        g = grads[0] / count
        dx = np.empty(x_shape, dtype=g.dtype)
        dx[...] = g.reshape(x_shape[0], *(1,) * (len(x_shape) - g.ndim), *g.shape[1:])
        return [dx], {}
