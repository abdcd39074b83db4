"""The gates' slopes, written into arrays the caller gives (reused across steps through ``kit.reusable_empty``)."""

from __future__ import annotations

import numpy as np


def sigmoid_slope(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = a (1 - a), the sigmoid's derivative from its output."""
    np.subtract(1, a, out=out)
    out *= a
    return out


def tanh_slope(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = 1 - a^2, tanh's derivative from its output."""
    np.multiply(a, a, out=out)
    np.subtract(1, out, out=out)
    return out
