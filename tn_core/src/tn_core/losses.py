"""Losses: E summed over a sample's output elements and averaged over the batch.

Each loss returns (E, gradient). The gradient is dE/dy for the output y, or,
when the loss is *fused* with the output layer's activation, dE/dz for that
layer's pre-activation z: cross-entropy on a sigmoid output gives a - t with
no sigmoid slope in it, which stays right when the sigmoid saturates.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core.neuron import Neuron
from tn_core.plugins import resolve


class Loss:
    """Base class: ``evaluate(y, t, fused) -> (E, grad)``."""

    #: the ``Activation.fusion`` whose derivative this loss cancels, if any
    fusion: ClassVar[str | None] = None

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def can_fuse(self, structure: Any) -> bool:
        """Whether ``structure`` is a Neuron whose activation declares this loss's fusion."""
        return (
            self.fusion is not None
            and isinstance(structure, Neuron)
            and getattr(structure.activation, "fusion", None) == self.fusion
        )


@attrs.define
class Quad(Loss):
    """E = 0.5 * sum (y - t)^2, so dE/dy = y - t (the seed's quadratic error)."""

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        n = y.shape[0]
        diff = y - t
        return float(0.5 * np.vdot(diff, diff) / n), diff / n


@attrs.define
class CE(Loss):
    """Binary cross-entropy on outputs in (0, 1): E = -sum [t log a + (1 - t) log(1 - a)].

    Fused with a Sigmoid output, dE/dz = a - t.
    """

    fusion: ClassVar[str | None] = "logistic"
    eps: float = 1e-7

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        n = y.shape[0]
        a = np.clip(y, self.eps, 1.0 - self.eps)
        value = -float(np.sum(t * np.log(a) + (1.0 - t) * np.log1p(-a))) / n
        grad = (y - t) / n if fused else (a - t) / (a * (1.0 - a) * n)
        return value, grad


@attrs.define
class SoftmaxCE(Loss):
    """Softmax cross-entropy over the last axis: E = -sum t log softmax(z).

    On a linear output z (logits) it is computed stably with log-sum-exp and
    dE/dz = softmax(z) * sum(t) - t. Fused with a Softmax output a, dE/dz is
    the same expression in a.
    """

    fusion: ClassVar[str | None] = "softmax"
    eps: float = 1e-12

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        n = y.shape[0]
        if fused:
            probs = y
            log_probs = np.log(np.maximum(y, self.eps))
        else:
            shifted = y - y.max(axis=-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            probs = np.exp(log_probs)
        value = -float(np.sum(t * log_probs)) / n
        grad = (probs * t.sum(axis=-1, keepdims=True) - t) / n
        return value, grad


BUILTIN_LOSSES = [Quad, CE, SoftmaxCE]


def resolve_loss(spec: Any) -> Loss:
    """A Loss from an instance, a subclass or a registered name ("softmax_ce" means SoftmaxCE)."""
    return resolve("loss", Loss, spec.replace("_", "") if isinstance(spec, str) else spec)
