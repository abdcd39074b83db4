"""Conv: an N-dimensional cross-correlation neuron (the seed's Conv layers).

For a window of kernel offsets q over the sliding axes and input channels c::

    z[n, p, o] = b[o] + sum_{q, c} x[n, p * stride + q * dilation, c] W[o, q, c]
    y = activation(z)

computed by a partial im2col: the windows along every sliding axis but
the first are copied into columns X (n, padded rows, positions, taps * C);
each first-axis kernel offset i then selects rows of X without copying, and
z = b + sum_i X[rows i] W[:, i]^T (one BLAS matmul per i, stacked over the
batch). Backward: dW[:, i] = sum_n g^T X[rows i] (X rebuilt, not kept),
db = sum g, and dE/dx is the correlation of g (spread onto a zero grid by the
stride) with the flipped kernel, through the same routine. Both run over
slices of the batch (see :mod:`tn_layers_conv.parallel`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, Params, Shape, activation_field, as_shape, init_field
from tn_layers_conv.parallel import over_batch, scratch
from tn_layers_conv.window import Sliding, Window, naming, pad_spec, per_axis, window


@attrs.define
class Conv(kit.Neuron, Sliding):
    """An N-d cross-correlation neuron: y = activation(z), with

        z[p, o] = b[o] + sum_{q, c} x[p * stride + q * dilation - pad_before, c] W[o, q, c]

    over the kernel offsets q and the input channels c (the kernel is not flipped).

    The kernel of ``kernel_shape`` slides over the first len(kernel_shape)
    input axes: an int is one axis (the N-d rule; wired to an input of 3 or
    more axes it warns, as the axes between the first and the channels stay
    unslid: Conv2D(3) is a 3x3 window). The remaining input axes are
    channels, flattened to C. Shapes: (*spatial, *channels) -> conv_shape +
    out_shape, conv_shape the window positions per sliding axis, with
    prod(out_shape) output channels (``out_shape=()``: one, no channel axis).

    Parameters: ``weights`` (out_size, *kernel_shape, C), ``biases``
    (out_size,). ``kernel_stride`` and ``dilation``: an int (every axis) or
    one per axis, default 1. ``pad``: "valid" or False (none), "same" or True
    (out = ceil(in / stride), the odd padding element after, as Keras), or
    explicit (an int, or per axis an int or a (before, after) pair).
    """

    kernel_shape: Shape = attrs.field()
    out_shape: Shape = attrs.field(default=())
    kernel_stride: Shape | None = attrs.field(default=None)
    pad: bool | tuple[tuple[int, int], ...] = attrs.field(default=False)
    activation: kit.Activation = activation_field()
    init: Any = init_field()
    dilation: Shape | None = attrs.field(default=None)
    _given_int: bool = attrs.field(default=False, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        with naming(self.type_name()):
            self.kernel_shape = self._sliding_shape(self.kernel_shape, "kernel_shape")
            self.out_shape = as_shape(self.out_shape, "out_shape")
            rank = len(self.kernel_shape)
            self.kernel_stride = per_axis(self.kernel_stride, rank, "kernel_stride")
            self.dilation = per_axis(self.dilation, rank, "dilation")
            self.pad = pad_spec(self.pad, rank)

    def window(self, shape: Shape) -> Window:
        """The sliding geometry on per-sample input ``shape``."""
        return window(tuple(shape), self.kernel_shape, self.kernel_stride, self.dilation, self.pad)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        self._check_input(input_shapes[0], self.kernel_shape, "kernel_shape")
        geo = self.window(input_shapes[0])
        out_size = math.prod(self.out_shape)
        fan_in = geo.size * geo.channels
        shape = (out_size, *self.kernel_shape, geo.channels)
        weights = kit.init_weights(self.init, self.activation, shape, fan_in, out_size * geo.size, rng)
        return [geo.out + self.out_shape], {"weights": weights, "biases": np.zeros(out_size)}

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        x = inputs[0]
        geo = self.window(x.shape[1:])
        x = x.reshape(x.shape[0], *geo.spatial, geo.channels)
        z = correlate(geo, x, params["weights"])
        z += params["biases"]
        return z.reshape(x.shape[0], *geo.out, *self.out_shape), (x, inputs[0].shape, geo)

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        x, in_shape, geo = cache
        weights = params["weights"]
        n, out_size = in_shape[0], weights.shape[0]
        g = grad_z.reshape(n, -1, out_size)
        g_rows = g.transpose(0, 2, 1)  # (n, out, positions)
        offsets = geo.offsets(geo.looped)

        def weight_grad(part: slice) -> np.ndarray:  # sum over the slice's samples of g^T X[rows i], per i
            cols = geo.columns(_grid(geo, x[part]))
            return np.stack([np.matmul(g_rows[part], _rows(cols, i)).sum(axis=0) for i in offsets], axis=1)

        dw = sum(over_batch(weight_grad, n, geo.column_size * x.itemsize))
        grads = {"weights": dw.reshape(weights.shape), "biases": g.sum(axis=(0, 1))}
        if not kit.input_grad_wanted(0):
            return [None], grads
        flipped = np.moveaxis(np.flip(weights, axis=tuple(range(1, weights.ndim - 1))), (0, -1), (-1, 0))
        dx = correlate(geo.transposed(out_size), g.reshape(n, *geo.out, out_size), flipped)
        return [dx.reshape(in_shape)], grads


def _grid(geo: Window, x: np.ndarray) -> np.ndarray:
    """A slice of the batch on its padded (or spread) grid, in this thread's scratch memory."""
    return geo.place(x, out=scratch("grid", (x.shape[0], *geo.padded, geo.channels), x.dtype))


def _rows(cols: np.ndarray, index: tuple[slice, ...]) -> np.ndarray:
    """The columns one looped kernel offset reads: (n, output positions, taps * C)."""
    return cols[index].reshape(cols.shape[0], -1, cols.shape[-1])


def correlate(geo: Window, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """z[n, p, o] = sum_{q, c} xp[n, p * stride + q * dilation, c] W[o, q, c], xp = x on its grid.

    Slice by slice of the batch: the slice on its grid (``Window.place``),
    im2col over the unrolled axes (``Window.columns``), then per offset i
    along the looped axes one matmul stacked over samples:
    z = sum_i cols[rows i] W[:, i]^T. x: (n, *spatial, C); weights:
    (O, *kernel, C); z: (n, *out, O).
    """
    n, out_size = x.shape[0], weights.shape[0]
    offsets = geo.offsets(geo.looped)
    taps = np.ascontiguousarray(weights.reshape(out_size, len(offsets), -1).transpose(1, 2, 0))  # (offsets, KC, O)
    z = np.empty((n, math.prod(geo.out), out_size), dtype=np.result_type(x, taps))

    def work(part: slice) -> None:
        cols = geo.columns(_grid(geo, x[part]))
        np.matmul(_rows(cols, offsets[0]), taps[0], out=z[part])
        product = scratch("product", z[part].shape, z.dtype)
        for index, w in zip(offsets[1:], taps[1:]):
            z[part] += np.matmul(_rows(cols, index), w, out=product)

    over_batch(work, n, geo.column_size * x.itemsize)
    return z.reshape(n, *geo.out, out_size)


@attrs.define
class Conv1D(Conv):
    """Conv over sequences: (L, C) or (L,) -> (L', *out_shape), kernel_shape an int k or (k,).

    weights (out_size, k, C); L' = (L + pads - (k - 1) dilation - 1) // stride + 1
    ("same": ceil(L / stride)). As Keras's Conv1D or PyTorch's Conv1d, channels last.
    """

    rank: ClassVar[int | None] = 1


@attrs.define
class Conv2D(Conv):
    """Conv over images: (H, W, C) or (H, W) -> (H', W', *out_shape); an int kernel k means k x k.

    weights (out_size, kh, kw, C); each output axis as in Conv1D. As Keras's
    Conv2D or PyTorch's Conv2d (channels last); the seed's Conv2D.
    """

    rank: ClassVar[int | None] = 2


@attrs.define
class Conv3D(Conv):
    """Conv over volumes: (D, H, W, C) or (D, H, W) -> (D', H', W', *out_shape); an int kernel k means k x k x k.

    weights (out_size, kd, kh, kw, C); each output axis as in Conv1D. As Keras's Conv3D or PyTorch's Conv3d.
    """

    rank: ClassVar[int | None] = 3
