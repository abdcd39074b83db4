"""The Activation protocol and Linear, the default activation. The standard activations live in tn-layers-dense."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core.plugins import resolve


class Activation:
    """An element-wise nonlinearity a = sigma(z), used inside layers.

    Subclasses (attrs classes) implement ``forward(z)`` and
    ``derivative(z, a)`` = da/dz. A non-element-wise activation (Softmax)
    overrides ``backward(z, a, grad_a) -> grad_z`` instead.
    """

    #: initializer a layer uses with this activation unless told otherwise
    default_init: ClassVar[str] = "xavier"
    #: which loss gradient simplifies through this activation (matched with ``Loss.fusion``):
    #: "logistic" if a = 1 / (1 + exp(-z)) element-wise (binary cross-entropy: dE/dz = a - t),
    #: "softmax" if a = softmax(z) over the last axis (categorical cross-entropy: dE/dz = a sum(t) - t)
    fusion: ClassVar[str | None] = None
    #: whether outputs depend on all the elements along the last axis (Softmax normalizes over it):
    #: layers refuse to apply it to per-sample scalars, where the last axis would be the batch
    reduces_last_axis: ClassVar[bool] = False
    #: (low, high): the interval every output lies in (None: not declared). Losses check their outputs with it:
    #: binary cross-entropy wants probabilities (within [0, 1]), losses taking logits want (-inf, inf)
    output_range: ClassVar[tuple[float, float] | None] = None

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement derivative")

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        """dE/dz from dE/da (chain rule through an element-wise map)."""
        return grad_a * self.derivative(z, a)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.forward(z)


def resolve_activation(spec: Any) -> Activation:
    """An Activation from an instance, a subclass, or a registered name."""
    return resolve("activation", Activation, spec)


@attrs.define
class Linear(Activation):
    """a = z (the identity; the default activation of every layer)."""

    output_range: ClassVar[tuple[float, float] | None] = (-math.inf, math.inf)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.ones_like(z)

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        return grad_a
