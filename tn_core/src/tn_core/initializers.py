"""Weight initializers: ``init(shape, fan_in, fan_out, rng) -> ndarray``, registered by name.

The built-in ones register through the core's plugin like any other; layers
resolve an ``init`` field with :func:`resolve_initializer` and draw their
weights with :func:`init_weights`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tn_core.activation import Activation
from tn_core.errors import ConfigError
from tn_core.plugins import lookup

Initializer = Callable[[tuple[int, ...], int, int, np.random.Generator], np.ndarray]



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


def resolve_initializer(spec: Any) -> Initializer:
    """An initializer from a callable or a registered name."""
    if isinstance(spec, str):
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
