"""The Highway layer (Srivastava, Greff and Schmidhuber, 2015)."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
from scipy.special import expit
from tn_core import kit


def _finite_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise kit.ConfigError(f"Highway gate_bias must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise kit.ConfigError(f"Highway gate_bias must be finite, got {value!r}")
    return number


@attrs.define
class Highway(kit.Structure):
    """y = t h + (1 - t) x with h = activation(W x + b) and the gate t = sigmoid(W_t x + b_t).

    x is flattened per sample and y has the input's shape. Parameters:
    ``weights``, ``gate_weights`` (size, size) and ``biases``, ``gate_biases``
    (size,), size = elements per sample. ``gate_biases`` start at
    ``gate_bias`` (negative: a new layer mostly carries its input through).
    """

    activation: kit.Activation = kit.activation_field("relu")
    gate_bias: float = attrs.field(default=-1.0, converter=_finite_float)

    def build(self, input_shapes: list[kit.Shape], rng: np.random.Generator) -> kit.BuildResult:
        size = math.prod(input_shapes[0])
        params = {
            "weights": kit.init_weights(None, self.activation, (size, size), size, size, rng),
            "biases": np.zeros(size),
            "gate_weights": kit.init_weights("xavier", None, (size, size), size, size, rng),
            "gate_biases": np.full(size, self.gate_bias),
        }
        return [input_shapes[0]], params

    def forward(self, params: kit.Params, inputs: list[np.ndarray], training: bool) -> kit.ForwardResult:
        x = inputs[0]
        flat = x.reshape(len(x), -1)
        z = kit.affine_forward(flat, params["weights"], params["biases"])
        h = self.activation.forward(z)
        t = expit(kit.affine_forward(flat, params["gate_weights"], params["gate_biases"]))
        y = flat + t * (h - flat)
        return [y.reshape(x.shape)], (flat, z, h, t)

    def backward(self, params: kit.Params, cache: Any, grads: list[np.ndarray]) -> kit.BackwardResult:
        """dE/dz = act'(z) t g; dE/dz_t = (h - x) t (1 - t) g; dE/dx = (1 - t) g + both affine backwards."""
        flat, z, h, t = cache
        g = grads[0].reshape(flat.shape)
        dz = self.activation.backward(z, h, g * t)
        dz_gate = g * (h - flat) * t * (1 - t)
        dx_h, dw, db = kit.affine_backward(flat, params["weights"], dz)
        dx_t, dw_gate, db_gate = kit.affine_backward(flat, params["gate_weights"], dz_gate)
        dx = g * (1 - t) + dx_h + dx_t
        grads_out = {"weights": dw, "biases": db, "gate_weights": dw_gate, "gate_biases": db_gate}
        return [dx.reshape(grads[0].shape)], grads_out
