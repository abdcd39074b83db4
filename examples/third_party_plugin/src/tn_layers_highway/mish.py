"""The Mish activation (Misra, 2019)."""

from __future__ import annotations

import attrs
import numpy as np
from scipy.special import expit
from tn_core import kit


@attrs.define
class Mish(kit.Activation):
    """a = z tanh(softplus z); da/dz = tanh(s) + z sigmoid(z) (1 - tanh(s)^2) with s = softplus z.

    softplus z = log(1 + e^z) is computed as logaddexp(0, z): stable for any z.
    """

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z * np.tanh(np.logaddexp(0, z))

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        t = np.tanh(np.logaddexp(0, z))
        return t + z * expit(z) * (1 - t * t)
