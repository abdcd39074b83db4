"""Losses: E summed over a sample's output elements and averaged over the batch.

``evaluate(y, t, fused)`` returns (E, gradient). Unfused, y is the output and
the gradient dE/dy. *Fused* with the output layer's activation (a Neuron
whose activation declares this loss's ``fusion``), y is that layer's
pre-activation z and the gradient dE/dz: cross-entropy on a sigmoid output is
then computed from z, exact where the sigmoid saturates, with dE/dz = a - t.
The loss means the same either way: a function of the activated output.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
from scipy.special import expit

from tn_core.neuron import Neuron
from tn_core.plugins import resolve


class Loss:
    """Base class: ``evaluate(y, t, fused) -> (E, grad)`` (see the module doc for ``fused``)."""

    #: the ``Activation.fusion`` whose derivative this loss cancels, if any
    fusion: ClassVar[str | None] = None
    #: whether the loss of a sample depends on all the elements along its last axis (SoftmaxCE: the
    #: classes), so outputs of per-sample shape () are refused
    reduces_last_axis: ClassVar[bool] = False

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def target_shapes(self, output_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The per-sample target shapes this loss accepts for an output of ``output_shape`` (default: that shape)."""
        return [output_shape]

    def target_problem(self, t: np.ndarray) -> str | None:
        """What is wrong with targets ``t`` (a batch) for this loss, or None when they are fine."""
        return None

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

    Fused with a logistic output a = sigmoid(z), from z: log a = -softplus(-z),
    log(1 - a) = -softplus(z), so E = sum [t softplus(-z) + (1 - t) softplus(z)]
    and dE/dz = a - t, exact for any z. Unfused, a is clipped to [eps, 1 - eps].
    """

    fusion: ClassVar[str | None] = "logistic"
    eps: float = 1e-7

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        n = y.shape[0]
        if fused:
            value = float(np.sum(t * np.logaddexp(0, -y) + (1.0 - t) * np.logaddexp(0, y))) / n
            return value, (expit(y) - t) / n
        a = np.clip(y, self.eps, 1.0 - self.eps)
        value = -float(np.sum(t * np.log(a) + (1.0 - t) * np.log1p(-a))) / n
        return value, (a - t) / (a * (1.0 - a) * n)

    def target_problem(self, t: np.ndarray) -> str | None:
        """Targets are probabilities: in [0, 1]."""
        low, high = float(t.min(initial=0.0)), float(t.max(initial=1.0))
        if 0.0 <= low and high <= 1.0:
            return None
        return f"targets must lie in [0, 1], got values from {low:g} to {high:g}"


@attrs.define
class SoftmaxCE(Loss):
    """Softmax cross-entropy over the last axis: E = -sum t log softmax(z), from the logits z.

    z is a linear output, or the pre-activation of a Softmax output the loss
    fuses with (then E = -sum t log a for its output a): either way it is
    computed stably with log-sum-exp, and dE/dz = softmax(z) * sum(t) - t.
    """

    fusion: ClassVar[str | None] = "softmax"
    reduces_last_axis: ClassVar[bool] = True

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        n = y.shape[0]
        shifted = y - y.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        value = -float(np.sum(t * log_probs)) / n
        return value, (np.exp(log_probs) * t.sum(axis=-1, keepdims=True) - t) / n

    def target_problem(self, t: np.ndarray) -> str | None:
        """Targets are distributions over the last axis: non-negative, each summing to 1 (one-hot rows, soft labels)."""
        if t.size and float(t.min()) < 0.0:
            return f"targets must be distributions over the last axis, got a negative value {float(t.min()):g}"
        sums = t.sum(axis=-1)
        off = np.abs(sums - 1.0)
        if off.size and float(off.max()) > 1e3 * np.finfo(t.dtype).eps:
            worst = np.unravel_index(int(off.argmax()), off.shape)
            return (f"targets must be distributions over the last axis (each summing to 1), got a sum of "
                    f"{float(sums[worst]):g} at sample {worst[0]}")
        return None


BUILTIN_LOSSES = [Quad, CE, SoftmaxCE]


def resolve_loss(spec: Any) -> Loss:
    """A Loss from an instance, a subclass or a registered name ("softmax_ce" means SoftmaxCE)."""
    return resolve("loss", Loss, spec.replace("_", "") if isinstance(spec, str) else spec)
