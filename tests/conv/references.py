"""Naive loop references for the conv layers and random layer configurations to test them on.

The references loop over output positions and window offsets in Python and
compute padding themselves, independently of tn_layers_conv.window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def same_pads(spatial: tuple[int, ...], extent: tuple[int, ...], stride: tuple[int, ...]) -> list[tuple[int, int]]:
    """TensorFlow's "same": out = ceil(in / stride), the odd padding element after."""
    pads = []
    for n, e, s in zip(spatial, extent, stride):
        total = max((math.ceil(n / s) - 1) * s + e - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def resolve_pads(pad: Any, spatial: tuple[int, ...], extent: tuple[int, ...], stride: tuple[int, ...]) -> list:
    if pad is True:
        return same_pads(spatial, extent, stride)
    if pad is False:
        return [(0, 0)] * len(spatial)
    return [tuple(p) for p in pad]


def sliding(
    x: np.ndarray, window: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
    pads: list, fill: float, reduce: Callable[[list[np.ndarray]], np.ndarray],
) -> np.ndarray:
    """For x (n, *spatial, C): reduce([x at each window offset]) for every window position, by loops."""
    rank = len(window)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    extent = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    out = [(xp.shape[1 + a] - extent[a]) // stride[a] + 1 for a in range(rank)]
    first = None
    for p in np.ndindex(*out):
        taps = []
        for q in np.ndindex(*window):
            pos = tuple(p[a] * stride[a] + q[a] * dilation[a] for a in range(rank))
            taps.append(xp[(slice(None), *pos)])
        value = reduce(taps)
        if first is None:
            first = np.empty((x.shape[0], *out, value.shape[-1]))
        first[(slice(None), *p)] = value
    return first


def naive_conv(x: np.ndarray, weights: np.ndarray, biases: np.ndarray, stride: tuple[int, ...],
               dilation: tuple[int, ...], pad: Any) -> np.ndarray:
    """z[n, p, o] = b[o] + sum_{q, c} xp[n, p * stride + q * dilation, c] W[o, q, c]; x (n, *spatial, C)."""
    kernel = weights.shape[1:-1]
    extent = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    pads = resolve_pads(pad, x.shape[1:1 + len(kernel)], extent, stride)
    offsets = list(np.ndindex(*kernel))

    def reduce(taps: list[np.ndarray]) -> np.ndarray:
        return biases + sum(t @ weights[(slice(None), *q)].T for t, q in zip(taps, offsets))

    return sliding(x, kernel, stride, dilation, pads, 0.0, reduce)


def random_conv_config(rng: np.random.Generator, rank: int, pad_mode: str) -> dict[str, Any]:
    """A random Conv configuration and input shape whose window fits (sizes odd or even)."""
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 4, size=rank))
        stride = tuple(int(s) for s in rng.integers(1, 4, size=rank))
        dilation = tuple(int(d) for d in rng.integers(1, 3, size=rank))
        spatial = tuple(int(n) for n in rng.integers(2, 8 if rank < 3 else 5, size=rank))
        pad: Any = {"same": True, "valid": False}.get(pad_mode)
        if pad_mode == "explicit":
            pad = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, size=(rank, 2)))
        extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
        padded = [n + sum(p) for n, p in zip(spatial, resolve_pads(pad, spatial, tuple(extent), stride))]
        if all(p >= e for p, e in zip(padded, extent)):
            break
    channels = tuple(int(c) for c in rng.integers(1, 4, size=int(rng.integers(0, 3))))
    out_shape = [(), (int(rng.integers(1, 4)),), (2, 2)][int(rng.integers(0, 3))]
    return {
        "kernel_shape": kernel, "stride": stride, "dilation": dilation, "pad": pad,
        "out_shape": out_shape, "input_shape": spatial + channels,
    }
