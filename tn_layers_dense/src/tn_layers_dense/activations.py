"""The standard activations (the seed's neurons). Each is stable for |z| up to 1e4."""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np
from scipy.special import expit

import tn_core as tn


@attrs.define
class Linear(tn.Activation):
    """a = z."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.ones_like(z)

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        return grad_a


@attrs.define
class Sigmoid(tn.Activation):
    """a = 1 / (1 + exp(-z)); da/dz = a (1 - a)."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        return expit(z)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return a * (1.0 - a)


@attrs.define
class Tanh(tn.Activation):
    """a = tanh z; da/dz = 1 - a^2."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.tanh(z)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return 1.0 - a * a


@attrs.define
class ReLU(tn.Activation):
    """a = z for z > 0, alpha * z otherwise (alpha > 0 is the seed's leaky ReLU)."""

    default_init: ClassVar[str] = "he"
    alpha: float = attrs.field(default=0.0, converter=float)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, z, self.alpha * z) if self.alpha else np.maximum(z, 0)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.where(z > 0, 1.0, self.alpha).astype(z.dtype)


ACTIVATIONS = [Linear, Sigmoid, Tanh, ReLU]
