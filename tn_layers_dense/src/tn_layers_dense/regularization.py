"""Dropout and LayerNorm."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, ForwardResult, Params, Shape, real_field


@attrs.define
class Dropout(kit.Structure):
    """Inverted dropout: in training each element is zeroed with probability ``rate``, the rest scaled up.

    Training: y = x m / (1 - rate), m ~ Bernoulli(1 - rate) per element, drawn from the System's seeded
    generator (``kit.forward_rng()``); inference: y = x. E[y] = x either way. No parameters.
    """

    rate: float = real_field(0.5, lambda v: 0 <= v < 1, "in [0, 1)")

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        return [input_shapes[0]], {}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        if not training or self.rate == 0:
            return [x], None
        mask = (kit.forward_rng().random(x.shape, dtype=x.dtype) >= self.rate).astype(x.dtype)
        mask *= 1.0 / (1.0 - self.rate)
        return [x * mask], mask

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        return [grads[0] if cache is None else grads[0] * cache], {}


@attrs.define
class LayerNorm(kit.Structure):
    """Layer normalization over all of a sample's elements: y = gain * (x - mu) / sqrt(var + eps) + biases.

    mu and var are the mean and (biased) variance of each sample's elements; ``gain`` (starts at 1) and
    ``biases`` (start at 0) have the per-sample shape. Training and inference compute the same thing
    (no running statistics, unlike BatchNorm).
    """

    eps: float = real_field(1e-5, lambda v: v > 0, "> 0")

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        shape = input_shapes[0]
        return [shape], {"gain": np.ones(shape), "biases": np.zeros(shape)}

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        axes = tuple(range(1, x.ndim))
        centered = x - x.mean(axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True) + self.eps)
        xhat = centered * inv_std
        return [xhat * params["gain"] + params["biases"]], (xhat, inv_std)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        """dx = inv_std (d - mean(d) - xhat mean(d xhat)) with d = dE/dxhat = gain dE/dy."""
        xhat, inv_std = cache
        g = grads[0]
        axes = tuple(range(1, g.ndim))
        d = g * params["gain"]
        dx = inv_std * (d - d.mean(axis=axes, keepdims=True) - xhat * np.mean(d * xhat, axis=axes, keepdims=True))
        return [dx], {"gain": np.sum(g * xhat, axis=0), "biases": np.sum(g, axis=0)}
