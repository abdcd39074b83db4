"""The standard activations (the original library's neurons), registered by tn-layers-dense.

Each keeps the dtype of z and is stable for |z| up to 1e4 in float32 and
float64: no overflow, no NaN, no division by zero, so no warnings under
NumPy's default error handling (a result that underflows to 0, such as
exp(-1e4), is the correct limit; NumPy does not report underflow unless
asked to). The ReLU family (ReLU, LeakyReLU, ELU, GELU, SiLU/Swish, Softplus)
initializes weights with He by default, the others with Xavier.
"""

from __future__ import annotations

import math
from typing import ClassVar

import attrs
import numpy as np
from scipy.special import erfc, expit

from tn_core import kit
from tn_core.kit import real_field

_RSQRT2 = 1.0 / math.sqrt(2.0)
_RSQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@attrs.define
class Sigmoid(kit.Activation):
    """a = 1 / (1 + exp(-z)); da/dz = a (1 - a)."""

    fusion: ClassVar[str | None] = "logistic"
    output_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return expit(z)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return a * (1.0 - a)


@attrs.define
class Tanh(kit.Activation):
    """a = tanh z; da/dz = 1 - a^2."""

    output_range: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.tanh(z)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return 1.0 - a * a


@attrs.define
class ReLU(kit.Activation):
    """a = z for z > 0, alpha z otherwise (alpha > 0 is the original library's leaky ReLU); da/dz = 1 or alpha."""

    default_init: ClassVar[str] = "he"
    alpha: float = real_field(0.0, lambda v: v >= 0, ">= 0")

    @property
    def output_range(self) -> tuple[float, float]:  # type: ignore[override]
        """[0, inf) for the plain ReLU, the whole line when leaky."""
        return (0.0, math.inf) if self.alpha == 0 else (-math.inf, math.inf)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, z, self.alpha * z) if self.alpha else np.maximum(z, 0)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.where(z > 0, 1.0, self.alpha).astype(z.dtype)

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        """grad_a masked by z > 0 (10x cheaper than building the derivative array)."""
        if self.alpha:
            return np.where(z > 0, grad_a, self.alpha * grad_a)
        return grad_a * (z > 0)


@attrs.define
class LeakyReLU(ReLU):
    """ReLU with a default slope alpha = 0.01 for z <= 0."""

    alpha: float = real_field(0.01, lambda v: v >= 0, ">= 0")


@attrs.define
class ELU(kit.Activation):
    """a = z for z > 0, alpha (exp(z) - 1) otherwise; da/dz = 1 or alpha exp(z)."""

    default_init: ClassVar[str] = "he"
    alpha: float = real_field(1.0, lambda v: v > 0, "> 0")

    @property
    def output_range(self) -> tuple[float, float]:  # type: ignore[override]
        """(-alpha, inf)."""
        return (-self.alpha, math.inf)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.where(z > 0, 1.0, self.alpha * np.exp(np.minimum(z, 0))).astype(z.dtype)


@attrs.define
class GELU(kit.Activation):
    """Exact GELU (as PyTorch's default): a = z Phi(z), Phi the standard normal CDF via erfc;
    da/dz = Phi(z) + z phi(z), phi(z) = exp(-z^2 / 2) / sqrt(2 pi)."""

    default_init: ClassVar[str] = "he"
    output_range: ClassVar[tuple[float, float] | None] = (-0.17, math.inf)  # min z Phi(z) = -0.16997 at z = -0.752

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z * (0.5 * erfc(-z * _RSQRT2))

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # z^2 = inf past sqrt(max float) gives phi = 0, its limit
            return 0.5 * erfc(-z * _RSQRT2) + z * (_RSQRT2PI * np.exp(-0.5 * (z * z)))


@attrs.define
class Softplus(kit.Activation):
    """a = log(1 + exp(z)), computed as logaddexp(0, z); da/dz = sigmoid(z)."""

    default_init: ClassVar[str] = "he"
    output_range: ClassVar[tuple[float, float] | None] = (0.0, math.inf)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.logaddexp(0, z)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return expit(z)


@attrs.define
class SiLU(kit.Activation):
    """a = z sigmoid(z); da/dz = s (1 + z (1 - s)) with s = sigmoid(z)."""

    default_init: ClassVar[str] = "he"
    output_range: ClassVar[tuple[float, float] | None] = (-0.279, math.inf)  # min z sigmoid(z) = -0.27846 at z = -1.278

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z * expit(z)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        s = expit(z)
        return s * (1.0 + z * (1.0 - s))


Swish = kit.alias(SiLU, "Swish")


@attrs.define
class Softsign(kit.Activation):
    """a = z / (1 + |z|); da/dz = 1 / (1 + |z|)^2."""

    output_range: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z / (1.0 + np.abs(z))

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        r = 1.0 / (1.0 + np.abs(z))
        return r * r


@attrs.define
class HardTanh(kit.Activation):
    """a = clip(z, -1, 1); da/dz = 1 for |z| < 1, 0 otherwise."""

    output_range: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.clip(z, -1.0, 1.0)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return (np.abs(z) < 1.0).astype(z.dtype)


@attrs.define
class Softmax(kit.Activation):
    """a_i = exp(z_i) / sum_j exp(z_j) over the last axis (computed from z - max z).

    Not element-wise: dE/dz_i = a_i (dE/da_i - sum_j a_j dE/da_j).
    """

    fusion: ClassVar[str | None] = "softmax"
    reduces_last_axis: ClassVar[bool] = True
    output_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        e /= e.sum(axis=-1, keepdims=True)
        return e

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        return a * (grad_a - np.sum(grad_a * a, axis=-1, keepdims=True))
