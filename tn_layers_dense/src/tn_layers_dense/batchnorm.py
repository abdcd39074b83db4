"""BatchNorm: per-channel normalization with batch statistics in training, running ones in inference."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, ForwardResult, Params, Shape, real_field


def _channel_sums(rows: np.ndarray, channels: int) -> np.ndarray:
    """Per-channel sums of ``rows`` (n, reps * channels), the channel being the fastest axis: two BLAS products."""
    per_column = np.ones(rows.shape[0], rows.dtype) @ rows
    return np.ones(per_column.size // channels, rows.dtype) @ per_column.reshape(-1, channels)


def _tiled(vector: np.ndarray, reps: int) -> np.ndarray:
    """A per-channel vector repeated along a row of (reps * channels) channels-last values."""
    return vector[np.newaxis].repeat(reps, axis=0).reshape(-1)


@attrs.define
class BatchNorm(kit.Structure):
    """Batch normalization per channel (the last axis): y = gain * (x - mu) / sqrt(var + eps) + bias.

    mu and var are taken over every other axis, the batch included; ``gain`` (starts at 1) and ``bias``
    (starts at 0) have shape (channels,).

    Training: mu and var are the batch's mean and biased variance over the m values of each channel,
    and the buffers follow running = (1 - momentum) * running + momentum * batch statistic, with the
    unbiased variance var * m / (m - 1) for ``running_var`` (PyTorch's meaning). Inference: mu and var
    are ``running_mean`` and ``running_var``, so each sample's output depends on that sample alone.
    """

    buffers: ClassVar[tuple[str, ...]] = ("running_mean", "running_var")

    momentum: float = real_field(0.1, lambda v: 0 <= v <= 1, "in [0, 1]")
    eps: float = real_field(1e-5, lambda v: v > 0, "> 0")

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        shape = input_shapes[0]
        if not shape:
            raise kit.ShapeError("needs inputs with at least one axis, the channels (last)")
        channels = shape[-1]
        return [shape], {
            "gain": np.ones(channels), "bias": np.zeros(channels),
            "running_mean": np.zeros(channels), "running_var": np.ones(channels),
        }

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        channels = x.shape[-1]
        rows = x.reshape(x.shape[0], -1)  # per-channel vectors are tiled along a row: every operation is flat
        reps = rows.shape[1] // channels
        m = rows.shape[0] * reps
        if training:
            if m == 1:
                raise kit.ShapeError(
                    f"{self!r}: training needs more than one value per channel for batch statistics, "
                    f"got inputs of shape {x.shape}"
                )
            mean = _channel_sums(rows, channels) / m
            centered = rows - _tiled(mean, reps)
            scratch = centered * centered
            var = _channel_sums(scratch, channels) / m
            momentum = self.momentum
            params["running_mean"][...] = (1 - momentum) * params["running_mean"] + momentum * mean
            params["running_var"][...] = (1 - momentum) * params["running_var"] + momentum * var * (m / (m - 1))
        else:
            centered = rows - _tiled(params["running_mean"], reps)
            scratch = np.empty_like(centered)
            var = params["running_var"]
        inv_std = 1.0 / np.sqrt(var + self.eps)
        y = np.multiply(centered, _tiled(params["gain"] * inv_std, reps), out=scratch)
        y += _tiled(params["bias"], reps)
        return [y.reshape(x.shape)], (centered, inv_std, m if training else None)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        """With xhat = (x - mu) / sqrt(var + eps) and sums over the m values of each channel:
        dgain = sum(dy xhat), dbias = sum(dy). Inference: dx = gain / sqrt(var + eps) dy.
        Training, through the batch statistics: dx = gain / sqrt(var + eps) (dy - dbias / m - xhat dgain / m)."""
        centered, inv_std, m = cache
        g = grads[0].reshape(centered.shape)
        channels = inv_std.shape[0]
        reps = centered.shape[1] // channels
        dx = g * centered  # first the products for dgain, then dx in the same memory
        param_grads = {"gain": _channel_sums(dx, channels) * inv_std, "bias": _channel_sums(g, channels)}
        if not kit.input_grad_wanted(0):
            return [None], param_grads
        scale = _tiled(params["gain"] * inv_std, reps)
        if m is None:
            return [np.multiply(g, scale, out=dx).reshape(grads[0].shape)], param_grads
        np.multiply(centered, _tiled(inv_std * param_grads["gain"] / m, reps), out=dx)
        dx += _tiled(param_grads["bias"] / m, reps)
        np.subtract(g, dx, out=dx)
        dx *= scale
        return [dx.reshape(grads[0].shape)], param_grads
