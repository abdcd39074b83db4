"""Conv: an N-dimensional cross-correlation neuron.

For a window of kernel offsets q over the sliding axes and input channels c::

    z[n, p, o] = b[o] + sum_{q, c} x[n, p * stride + q * dilation, c] W[o, q, c]
    y = activation(z)

:mod:`tn_layers_conv.correlation` defines the correlation and its gradients
plainly; :mod:`tn_layers_conv.paths` computes them by the cheapest of its
paths for each shape, over slices of the batch.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, Params, Shape, activation_field, as_shape, init_field
from tn_layers_conv import paths
from tn_layers_conv.window import Sliding, Window, pad_spec, per_axis, window


@attrs.define(init=False)
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
    (out_size,). ``stride`` and ``dilation``: an int (every axis) or one per
    axis, default 1. ``pad``: "valid" or False (none), "same" or True (out =
    ceil(in / stride), the odd padding element after, as Keras), or explicit
    (an int, or per axis an int or a (before, after) pair).
    """

    kernel_shape: Shape = attrs.field()
    out_shape: Shape = attrs.field(default=())
    stride: Shape | None = attrs.field(default=None)
    pad: bool | tuple[tuple[int, int], ...] = attrs.field(default=False)
    activation: kit.Activation = activation_field()
    init: Any = init_field()
    dilation: Shape | None = attrs.field(default=None)
    _given_int: bool = attrs.field(default=False, init=False, eq=False, repr=False)

    #: old field name -> today's: model files that stored the old name load (``serialize.from_config``)
    renamed_fields: ClassVar[dict[str, str]] = {"kernel_stride": "stride"}

    def __init__(self, *args: Any, kernel_stride: Any = None, **kwargs: Any) -> None:
        """The fields above; ``kernel_stride`` is the old spelling of ``stride`` (deprecated: it warns)."""
        if kernel_stride is not None:
            kit.take_seed_keyword(self.type_name(), "kernel_stride", "stride", kernel_stride, kwargs,
                                  new_given="stride" in kwargs or len(args) > 2)
        self.__attrs_init__(*args, **kwargs)

    def __attrs_post_init__(self) -> None:
        with kit.prefixed(self.type_name()):
            self.kernel_shape = self._sliding_shape(self.kernel_shape, "kernel_shape")
            self.out_shape = as_shape(self.out_shape, "out_shape")
            rank = len(self.kernel_shape)
            self.stride = per_axis(self.stride, rank, "stride")
            self.dilation = per_axis(self.dilation, rank, "dilation")
            self.pad = pad_spec(self.pad, rank)

    def window(self, shape: Shape) -> Window:
        """The sliding geometry on per-sample input ``shape``."""
        return window(tuple(shape), self.kernel_shape, self.stride, self.dilation, self.pad)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        self._check_input(input_shapes[0], self.kernel_shape, "kernel_shape")
        geo = self.window(input_shapes[0])
        out_size = math.prod(self.out_shape)
        fan_in = geo.size * geo.channels
        shape = (out_size, *self.kernel_shape, geo.channels)
        weights = kit.init_weights(self.init, self.activation, shape, fan_in, out_size * geo.size, rng)
        return [geo.out + self.out_shape], {"weights": weights, "biases": np.zeros(out_size)}

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        x, weights = inputs[0], params["weights"]
        geo = self.window(x.shape[1:])
        x = x.reshape(x.shape[0], *geo.spatial, geo.channels)
        z = paths.correlate(geo, x, weights)
        z += params["biases"]
        return z.reshape(x.shape[0], *geo.out, *self.out_shape), (x, inputs[0].shape, geo)

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        x, in_shape, geo = cache
        weights = params["weights"]
        g = grad_z.reshape(in_shape[0], *geo.out, weights.shape[0])
        grads = {"weights": paths.weight_gradient(geo, x, g), "biases": g.sum(axis=tuple(range(g.ndim - 1)))}
        if not kit.input_grad_wanted(0):
            return [None], grads
        return [paths.input_gradient(geo, g, weights).reshape(in_shape)], grads


@attrs.define(init=False)
class Conv1D(Conv):
    """Conv over sequences: (L, C) or (L,) -> (L', *out_shape), kernel_shape an int k or (k,).

    weights (out_size, k, C); L' = (L + pads - (k - 1) dilation - 1) // stride + 1
    ("same": ceil(L / stride)). As Keras's Conv1D or PyTorch's Conv1d, channels last.
    """

    rank: ClassVar[int | None] = 1


@attrs.define(init=False)
class Conv2D(Conv):
    """Conv over images: (H, W, C) or (H, W) -> (H', W', *out_shape); an int kernel k means k x k.

    weights (out_size, kh, kw, C); each output axis as in Conv1D. As Keras's
    Conv2D or PyTorch's Conv2d (channels last).
    """

    rank: ClassVar[int | None] = 2


@attrs.define(init=False)
class Conv3D(Conv):
    """Conv over volumes: (D, H, W, C) or (D, H, W) -> (D', H', W', *out_shape); an int kernel k means k x k x k.

    weights (out_size, kd, kh, kw, C); each output axis as in Conv1D. As Keras's Conv3D or PyTorch's Conv3d.
    """

    rank: ClassVar[int | None] = 3
