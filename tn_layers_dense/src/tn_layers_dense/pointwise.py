"""Pointwise layers: element-wise math on tensors (the original library's Add, Mul and Activate, and more).

Every layer here passes a gradient to every input (the original library's pure-activation
layer passed none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, ForwardResult, Params, Shape, activation_field

Arrays = list[np.ndarray]


def _sum(xs: Arrays) -> np.ndarray:
    y = xs[0] + xs[1]
    for x in xs[2:]:
        y += x
    return y


def _difference(xs: Arrays) -> np.ndarray:
    y = xs[0] - xs[1]
    for x in xs[2:]:
        y -= x
    return y


def _product(xs: Arrays) -> np.ndarray:
    y = xs[0] * xs[1]
    for x in xs[2:]:
        y *= x
    return y


def _product_grads(xs: Arrays, g: np.ndarray) -> Arrays:
    """dE/dx_i = g prod_{j != i} x_j, from suffix products (no division, so zeros are fine)."""
    suffix: list[np.ndarray | None] = [None] * len(xs)
    for i in range(len(xs) - 2, -1, -1):
        suffix[i] = xs[i + 1] if suffix[i + 1] is None else xs[i + 1] * suffix[i + 1]
    grads, left = [], g
    for x, right in zip(xs, suffix):
        grads.append(left if right is None else left * right)
        left = left * x
    return grads


def _winner_grads(pick: Callable[..., np.ndarray]) -> Callable[[Arrays, np.ndarray], Arrays]:
    """dE/dx_i = g where x_i is the picked (first on ties) input, 0 elsewhere."""

    def grads(xs: Arrays, g: np.ndarray) -> Arrays:
        winner = pick(np.stack(xs), axis=0)
        return [np.where(winner == i, g, 0) for i in range(len(xs))]

    return grads


#: op name -> (forward(xs) -> y, backward(xs, dE/dy) -> [dE/dx_i])
OPS: dict[str, tuple[Callable[[Arrays], np.ndarray], Callable[[Arrays, np.ndarray], Arrays]]] = {
    "add": (_sum, lambda xs, g: [g] * len(xs)),
    "sub": (_difference, lambda xs, g: [g] + [-g] * (len(xs) - 1)),
    "mul": (_product, _product_grads),
    "max": (lambda xs: np.maximum.reduce(xs), _winner_grads(np.argmax)),
    "min": (lambda xs: np.minimum.reduce(xs), _winner_grads(np.argmin)),
}


@attrs.define
class Pointwise(kit.Structure):
    """y = op(x_1, ..., x_k) element by element over two or more inputs of one shape.

    ops: ``add`` (x_1 + ... + x_k), ``sub`` (x_1 - x_2 - ... - x_k), ``mul``
    (x_1 x_2 ... x_k), ``max`` and ``min``. Add, Sub and Mul are its named forms.
    """

    arity: ClassVar[tuple[int, int | None]] = (2, None)
    op: str = kit.choice_field("add", OPS)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        if len(set(input_shapes)) > 1:
            raise kit.ShapeError(f"element-wise {self.op!r} needs inputs of one shape, got {input_shapes}")
        return [input_shapes[0]], {}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        return [OPS[self.op][0](inputs)], inputs

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        return OPS[self.op][1](cache, grads[0]), {}


@attrs.define
class Add(Pointwise):
    """y = x_1 + x_2 + ... + x_k; dE/dx_i = dE/dy."""

    op: str = attrs.field(default="add", init=False)


@attrs.define
class Sub(Pointwise):
    """y = x_1 - x_2 - ... - x_k; dE/dx_1 = dE/dy, dE/dx_i = -dE/dy for i > 1."""

    op: str = attrs.field(default="sub", init=False)


@attrs.define
class Mul(Pointwise):
    """y = x_1 x_2 ... x_k; dE/dx_i = dE/dy prod_{j != i} x_j."""

    op: str = attrs.field(default="mul", init=False)


@attrs.define
class Activate(kit.Neuron):
    """y = activation(x): a pure activation layer (a Neuron with z = x, so losses can fuse with it)."""

    activation: kit.Activation = activation_field(attrs.NOTHING)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        return [input_shapes[0]], {}

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        return inputs[0], None

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        return [grad_z], {}


# Not called Scale: that name is the design contract's example of a third-party plugin.
@attrs.define
class Gain(kit.Structure):
    """y = s * x with a learned per-element ``gain`` s of the input's shape (starts at 1)."""

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        return [input_shapes[0]], {"gain": np.ones(input_shapes[0])}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        return [inputs[0] * params["gain"]], inputs[0]

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        g = grads[0]
        return [g * params["gain"]], {"gain": np.sum(g * cache, axis=0)}


@attrs.define
class Bias(kit.Structure):
    """y = x + b with learned per-element ``biases`` b of the input's shape (start at 0)."""

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        return [input_shapes[0]], {"biases": np.zeros(input_shapes[0])}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        return [inputs[0] + params["biases"]], None

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        return [grads[0]], {"biases": np.sum(grads[0], axis=0)}
