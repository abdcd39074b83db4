"""The Activation protocol. The standard activations live in tn-layers-dense."""

from __future__ import annotations

from typing import Any, ClassVar

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
