"""Dense: every input connected to every output (the seed's NeuronNet)."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

import tn_core as tn
from tn_core.neuron import init_name
from tn_core.structure import BackwardResult, BuildResult, Params, Shape, as_shape


@attrs.define
class Dense(tn.Neuron):
    """y = activation(W x + b) with x flattened per sample and y reshaped to ``shape``.

    Parameters: ``weights`` (out_size, in_size), ``biases`` (out_size,).
    ``init`` picks the weight initializer (default: the activation's, Xavier
    or He for the ReLU family).
    """

    shape: Shape = attrs.field(converter=lambda s: as_shape(s, "Dense shape"))
    activation: tn.Activation = tn.activation_field()
    init: Any = attrs.field(default=None, converter=init_name)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        fan_in, fan_out = math.prod(input_shapes[0]), math.prod(self.shape)
        weights = tn.init_weights(self.init, self.activation, (fan_out, fan_in), fan_in, fan_out, rng)
        return [self.shape], {"weights": weights, "biases": np.zeros(fan_out)}

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        x = inputs[0]
        flat = x.reshape(x.shape[0], -1)
        z = tn.affine_forward(flat, params["weights"], params["biases"])
        return z.reshape(x.shape[0], *self.shape), (flat, x.shape)

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        flat, in_shape = cache
        dx, dw, db = tn.affine_backward(flat, params["weights"], grad_z.reshape(flat.shape[0], -1))
        return [dx.reshape(in_shape)], {"weights": dw, "biases": db}
