"""Dense: every input connected to every output (the original library's NeuronNet)."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, Params, Shape, activation_field, init_field, shape_field


@attrs.define
class Dense(kit.Neuron):
    """Fully connected layer: y = activation(W x + b), x flattened per sample, y reshaped to ``shape``.

    Parameters: ``weights`` W (out_size, in_size) and ``biases`` b (out_size,), starting at 0, where
    in_size = prod(input shape) and out_size = prod(shape). ``init`` picks the weight initializer by
    name or as a callable ``init(shape, fan_in, fan_out, rng)``; by default the activation's (Xavier,
    He for the ReLU family). The generator passed at call time (``Dense(8)(x, rng=...)``, else the
    one ``tn.set_seed`` seeds) makes it reproducible.
    """

    shape: Shape = shape_field()
    activation: kit.Activation = activation_field()
    init: Any = init_field()

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        fan_in, fan_out = math.prod(input_shapes[0]), math.prod(self.shape)
        weights = kit.init_weights(self.init, self.activation, (fan_out, fan_in), fan_in, fan_out, rng)
        return [self.shape], {"weights": weights, "biases": np.zeros(fan_out)}

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        x = inputs[0]
        flat = x if x.ndim == 2 else x.reshape(x.shape[0], -1)  # (N, in): reshape costs as much as a small add
        z = kit.affine_forward(flat, params["weights"], params["biases"])
        return (z if len(self.shape) == 1 else z.reshape(x.shape[0], *self.shape)), (flat, x.shape)

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        flat, in_shape = cache
        grad_z = grad_z if grad_z.ndim == 2 else grad_z.reshape(flat.shape[0], -1)
        dx, dw, db = kit.affine_backward(flat, params["weights"], grad_z, kit.input_grad_wanted(0), params["biases"])
        return [dx if dx is None or len(in_shape) == 2 else dx.reshape(in_shape)], {"weights": dw, "biases": db}
