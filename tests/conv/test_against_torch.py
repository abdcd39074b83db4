"""Conv and pooling agree with PyTorch's (an independent implementation), when PyTorch is installed."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tests.conv.references import random_conv_config, resolve_pads

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_layout(x: np.ndarray) -> torch.Tensor:
    """(n, *spatial, C) channels last -> (n, C, *spatial)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))


CASES = [(rank, mode, seed) for rank in (1, 2, 3) for mode in ("same", "explicit") for seed in (0, 1)]


@pytest.mark.parametrize(("rank", "mode", "seed"), CASES)
def test_conv_matches_torch(rank: int, mode: str, seed: int) -> None:
    config = random_conv_config(np.random.default_rng(1000 + 10 * rank + seed), rank, mode)
    shape = config.pop("input_shape")
    conv = tn.Conv(**config)
    _, params = conv.build_checked([shape], np.random.default_rng(seed))
    x = np.random.default_rng(seed).normal(size=(2, *shape))
    (y,), _ = conv.forward(params, [x], False)
    xc = x.reshape(2, *shape[:rank], -1)
    extent = tuple((k - 1) * d + 1 for k, d in zip(config["kernel_shape"], config["dilation"]))
    pads = resolve_pads(config["pad"], shape[:rank], extent, config["kernel_stride"])
    padded = F.pad(_torch_layout(xc), [p for pair in reversed(pads) for p in pair])  # last axis first
    weights = torch.from_numpy(np.ascontiguousarray(np.moveaxis(params["weights"], -1, 1)))
    op = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    expected = op(padded, weights, torch.from_numpy(params["biases"]), stride=config["kernel_stride"],
                  dilation=config["dilation"]).numpy()
    np.testing.assert_allclose(y.reshape(2, *expected.shape[2:], -1), np.moveaxis(expected, 1, -1), atol=1e-12)


def test_max_and_avg_pool_match_torch() -> None:
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3))
    (y,), _ = tn.MaxPool((3, 2), stride=(2, 1)).forward({}, [x], False)
    expected = F.max_pool2d(_torch_layout(x), (3, 2), stride=(2, 1)).numpy()
    np.testing.assert_array_equal(y, np.moveaxis(expected, 1, -1))
    (y,), _ = tn.AvgPool((2, 3), stride=2, pad=((1, 1), (1, 1))).forward({}, [x], False)
    expected = F.avg_pool2d(_torch_layout(x), (2, 3), stride=2, padding=(1, 1), count_include_pad=False).numpy()
    np.testing.assert_allclose(y, np.moveaxis(expected, 1, -1), atol=1e-12)
