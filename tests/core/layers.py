"""The core's test plugin, so that tests/core runs with tn-core alone (tests/core/conftest.py registers it).

Written against tn_core.kit only, as a third party would. Affine has Dense's math and parameter layout and
Shift a parameter of its input's shape; the activations compute the standard functions under other
textbook names, so that this plugin loads beside tn-layers-dense without making its names ambiguous.
Tests that really are about the first-party plugins keep those and are marked ``plugins``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, Params, Shape

#: the name conftest.py registers this module under
NAME = "core-tests"


@attrs.define
class Affine(kit.Neuron):
    """y = activation(W x + b), x flattened per sample, y reshaped to ``shape``: weights W (out_size,
    in_size) with the activation's initializer, biases b (out_size,) starting at 0 (Dense's layout)."""

    shape: Shape = kit.shape_field()
    activation: kit.Activation = kit.activation_field()
    init: Any = kit.init_field()

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        fan_in, fan_out = math.prod(input_shapes[0]), math.prod(self.shape)
        weights = kit.init_weights(self.init, self.activation, (fan_out, fan_in), fan_in, fan_out, rng)
        return [self.shape], {"weights": weights, "biases": np.zeros(fan_out)}

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        x = inputs[0]
        flat = x.reshape(len(x), -1)
        z = kit.affine_forward(flat, params["weights"], params["biases"])
        return z.reshape(len(x), *self.shape), (flat, x.shape)

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        flat, in_shape = cache
        dx, dw, db = kit.affine_backward(flat, params["weights"], grad_z.reshape(len(flat), -1),
                                         kit.input_grad_wanted(0))
        return [None if dx is None else dx.reshape(in_shape)], {"weights": dw, "biases": db}


@attrs.define
class Shift(kit.Structure):
    """y = x + shift, ``shift`` of the input's per-sample shape starting at 0 (0-d on per-sample scalars);
    dE/dshift = sum over the batch of dE/dy."""

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        return [input_shapes[0]], {"shift": np.zeros(input_shapes[0])}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> kit.ForwardResult:
        return [inputs[0] + params["shift"]], None

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        return [grads[0]], {"shift": grads[0].sum(axis=0)}  # a NumPy scalar for a 0-d shift


@attrs.define
class Apply(kit.Structure):
    """y = activation(x): a layer with an activation that is not a Neuron (no loss fuses with it)."""

    activation: kit.Activation = kit.activation_field()

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        return [input_shapes[0]], {}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> kit.ForwardResult:
        a = self.activation.forward(inputs[0])
        return [a], (inputs[0], a)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        return [self.activation.backward(*cache, grads[0])], {}


@attrs.define
class Logistic(kit.Activation):
    """a = 1 / (1 + exp(-z)) = (1 + tanh(z / 2)) / 2 (the sigmoid); da/dz = a (1 - a)."""

    fusion: ClassVar[str | None] = "logistic"
    output_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return a * (1.0 - a)


@attrs.define
class HyperbolicTangent(kit.Activation):
    """a = tanh z; da/dz = 1 - a^2."""

    output_range: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.tanh(z)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return 1.0 - a * a


@attrs.define
class Ramp(kit.Activation):
    """a = max(z, 0) (the ReLU); da/dz = 1 for z > 0, else 0."""

    default_init: ClassVar[str] = "he"
    output_range: ClassVar[tuple[float, float] | None] = (0.0, math.inf)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return (z > 0).astype(z.dtype)


@attrs.define
class SoftArgmax(kit.Activation):
    """a_i = exp(z_i) / sum_j exp(z_j) over the last axis (the softmax); dE/dz_i = a_i (dE/da_i - sum_j a_j
    dE/da_j)."""

    fusion: ClassVar[str | None] = "softmax"
    reduces_last_axis: ClassVar[bool] = True
    output_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        return a * (grad_a - np.sum(grad_a * a, axis=-1, keepdims=True))


@kit.hookimpl
def tn_register_structures() -> list[type]:
    return [Affine, Shift, Apply]


@kit.hookimpl
def tn_register_activations() -> list[type]:
    return [Logistic, HyperbolicTangent, Ramp, SoftArgmax]


@kit.hookimpl
def tn_structure_examples() -> list[tuple[Any, ...]]:
    """Each layer on small inputs, for the conformance check (tests/core/test_layers.py; activation objects, as
    the names exist only while the plugin is registered)."""
    return [
        (Affine((2, 3), activation=HyperbolicTangent()), [(4, 2)]),
        (Affine(4, activation=Logistic(), init="lecun"), [(3,)]),
        (Affine(3, activation=Ramp()), [(5,)]),
        (Affine(4, activation=SoftArgmax()), [(2, 3)]),
        (Shift(), [(2, 3)]),
        (Shift(), [()]),
        (Apply(SoftArgmax()), [(3, 4)]),
    ]
