"""The seed's neuron: the affine map z = x W^T + b, its activation, and the
weight initializers. Dense, Conv and the recurrent cells all build on this
module so the math has one home.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from tn_core.activation import Activation, resolve_activation
from tn_core.errors import ConfigError
from tn_core.fields import labelled
from tn_core.structure import BackwardResult, ForwardResult, Params, Structure

Initializer = Callable[[tuple[int, ...], int, int, np.random.Generator], np.ndarray]


# -- affine map -----------------------------------------------------------------


def affine_forward(x: np.ndarray, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
    """z = x W^T + b for x of shape (N, in), W (out, in), b (out,)."""
    z = x @ weights.T
    z += biases
    return z


def affine_backward(
    x: np.ndarray, weights: np.ndarray, grad_z: np.ndarray, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dE/dx, dE/dW, dE/db) from dE/dz: dx = g W, dW = g^T x, db = sum_n g.

    dE/dx is None when ``input_grad`` is False (pass ``tn.input_grad_wanted(k)``).
    """
    grad_w = np.outer(grad_z[0], x[0]) if len(x) == 1 else grad_z.T @ x  # outer: 5x faster for one sample
    return (grad_z @ weights if input_grad else None), grad_w, grad_z.sum(axis=0)


# -- initializers -----------------------------------------------------------------


def xavier(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He normal: N(0, 2 / fan_in), for ReLU-family activations."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def lecun(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """LeCun normal: N(0, 1 / fan_in)."""
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=shape)


def orthogonal(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """A (semi-)orthogonal matrix over (shape[0], rest), from a QR decomposition."""
    rows, cols = shape[0], int(np.prod(shape[1:]))
    q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return (q if rows >= cols else q.T).reshape(shape)


def zeros(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """All zeros."""
    return np.zeros(shape)


BUILTIN_INITIALIZERS: list[Initializer] = [xavier, he, lecun, orthogonal, zeros]


def resolve_initializer(spec: Any) -> Initializer:
    """An initializer from a callable or a registered name."""
    if isinstance(spec, str):
        from tn_core.plugins import lookup

        return lookup("initializer", spec)
    if callable(spec):
        return spec
    raise ConfigError(f"init must be a registered initializer name or a callable, got {spec!r}")


def init_weights(
    spec: Any, activation: Activation | None, shape: tuple[int, ...], fan_in: int, fan_out: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Weights of ``shape`` from ``spec``, or the activation's default when spec is None.

    ConfigError if the initializer returns another shape.
    """
    if spec is None:
        spec = activation.default_init if activation is not None else "xavier"
    weights = np.asarray(resolve_initializer(spec)(shape, fan_in, fan_out, rng), dtype=np.float64)
    if weights.shape != tuple(shape):
        raise ConfigError(f"init {spec!r} returned weights of shape {weights.shape}, expected {tuple(shape)}")
    return weights


def init_name(spec: Any) -> Any:
    """Validate an ``init`` field value at construction (None, a name, or a callable)."""
    if spec is None:
        return None
    resolve_initializer(spec)
    return spec


def activation_field(default: Any = "linear") -> Any:
    """An attrs field holding an Activation, given as an object, class or name (errors name the class)."""
    return attrs.field(default=default, converter=labelled(resolve_activation))


# -- structures whose output is an activated pre-activation ------------------------


class Neuron(Structure):
    """A Structure whose slot-0 output is ``activation(z)``.

    Subclasses have an ``activation`` field and implement the part before the
    activation::

        pre_activation(params, inputs, training) -> (z, cache)
        pre_activation_backward(params, cache, grad_z) -> (input grads, param grads)

    Losses fused with the output activation (cross-entropy on a sigmoid) hand
    dE/dz straight to ``backward_from_preactivation``, which skips the
    activation's derivative: that is what keeps them stable when it saturates.
    """

    activation: Activation

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        raise NotImplementedError

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        z, cache = self.pre_activation(params, inputs, training)
        a = self.activation.forward(z)
        return [a], (z, a, cache)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        z, a, inner = cache
        return self.pre_activation_backward(params, inner, self.activation.backward(z, a, grads[0]))

    def backward_from_preactivation(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        return self.pre_activation_backward(params, cache[2], grad_z)
