"""MaxPool, AvgPool and GlobalAvgPool against naive loop references; gradients; tie-breaking."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tests.conv.references import resolve_pads, sliding
from tn_core.testing import check_gradients

POOLS = [(pool, rank, mode) for pool in ("MaxPool", "AvgPool") for rank in (1, 2, 3)
         for mode in ("valid", "same", "explicit")]


def _random_pool(pool: str, rank: int, mode: str) -> tuple[tn.Structure, tuple[int, ...], dict]:
    rng = np.random.default_rng(hash((pool, rank, mode)) % 2**32)
    window = tuple(int(k) for k in rng.integers(1, 4, size=rank))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=rank))
    spatial = tuple(int(n) for n in rng.integers(max(window), 8 if rank < 3 else 5, size=rank))
    pad = {"same": True, "valid": False}.get(mode)
    if mode == "explicit":
        pad = tuple((int(rng.integers(0, k)), int(rng.integers(0, k))) for k in window)
    channels = tuple(int(c) for c in rng.integers(1, 4, size=int(rng.integers(0, 3))))
    layer = getattr(tn, pool)(window, stride=stride, pad=pad)
    return layer, spatial + channels, {"window": window, "stride": stride, "pad": pad}


def _naive_pool(pool: str, x: np.ndarray, config: dict) -> np.ndarray:
    """Max of the window's input elements, or their mean (padding is not an input element)."""
    window, stride = config["window"], config["stride"]
    pads = resolve_pads(config["pad"], x.shape[1:1 + len(window)], window, stride)
    ones = (1,) * len(window)
    if pool == "MaxPool":
        return sliding(x, window, stride, ones, pads, -np.inf, lambda taps: np.max(taps, axis=0))
    total = sliding(x, window, stride, ones, pads, 0.0, lambda taps: np.sum(taps, axis=0))
    count = sliding(np.ones_like(x[:1, ..., :1]), window, stride, ones, pads, 0.0, lambda taps: np.sum(taps, axis=0))
    return total / count


@pytest.mark.parametrize(("pool", "rank", "mode"), POOLS)
def test_pooling_matches_naive_loops(pool: str, rank: int, mode: str) -> None:
    layer, shape, config = _random_pool(pool, rank, mode)
    (out_shape,), _ = layer.build_checked([shape], np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(3, *shape))
    (y,), _ = layer.forward({}, [x], False)
    expected = _naive_pool(pool, x.reshape(3, *shape[:rank], -1), config)
    assert y.shape == (3, *out_shape) == (3, *expected.shape[1:-1], *shape[rank:])
    np.testing.assert_allclose(y.reshape(expected.shape), expected, rtol=1e-12)


@pytest.mark.parametrize(("pool", "rank", "mode"), POOLS)
def test_pooling_gradients(pool: str, rank: int, mode: str) -> None:
    layer, shape, _ = _random_pool(pool, rank, mode)
    check_gradients(layer, [shape], batch_size=2, max_coords=30)


def test_stride_defaults_to_the_window() -> None:
    assert tn.MaxPool((2, 3)).stride == (2, 3)
    assert tn.AvgPool((2,))(tn.Input((7, 6, 3))()).shape == (3, 6, 3)  # a 1-D window pools the first axis only
    assert tn.AvgPool2D(2).stride == (2, 2)
    assert tn.MaxPool((2, 2))(tn.Input((7, 6, 3))()).shape == (3, 3, 3)


def test_max_pool_ties_send_the_gradient_to_the_first_maximum() -> None:
    layer = tn.MaxPool((2, 2), stride=1)
    x = np.zeros((1, 3, 3))  # every window is a four-way tie
    _, cache = layer.forward({}, [x], True)
    (dx,), _ = layer.backward({}, cache, [np.ones((1, 2, 2))])
    # each window's gradient goes to its top-left element, once per window that starts there
    np.testing.assert_array_equal(dx[0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_max_pool_padding_never_wins() -> None:
    x = -np.ones((1, 3, 1)) * np.array([5.0, 6.0, 7.0])[:, np.newaxis]
    (y,), _ = tn.MaxPool((2,), pad=True).forward({}, [x], False)  # windows [-5, -6], [-7, pad]
    np.testing.assert_array_equal(y[0, :, 0], [-5.0, -7.0])


def test_avg_pool_counts_only_input_elements() -> None:
    x = np.arange(1.0, 4.0).reshape(1, 3)
    (y,), _ = tn.AvgPool((2,), pad=True).forward({}, [x], False)  # windows [1, 2], [3, pad]
    np.testing.assert_array_equal(y[0], [1.5, 3.0])


@pytest.mark.parametrize(("axes", "shape", "out"), [(None, (4, 3, 2), (2,)), (1, (4, 3, 2), (3, 2)),
                                                    (2, (5, 2, 3), (3,)), (None, (6, 3), (3,))])
def test_global_avg_pool(axes: int | None, shape: tuple, out: tuple) -> None:
    layer = tn.GlobalAvgPool(axes)
    assert layer(tn.Input(shape)()).shape == out
    x = np.random.default_rng(0).normal(size=(2, *shape))
    (y,), _ = layer.forward({}, [x], False)
    np.testing.assert_allclose(y, x.mean(axis=tuple(range(1, 1 + len(shape) - len(out)))))
    check_gradients(layer, [shape], batch_size=2)


def test_pooling_keeps_float32() -> None:
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 3)).astype(np.float32)
    for layer in (tn.MaxPool((2, 2), pad=True), tn.AvgPool((3, 2), stride=1, pad=True), tn.GlobalAvgPool()):
        (y,), cache = layer.forward({}, [x], True)
        (dx,), _ = layer.backward({}, cache, [np.ones_like(y)])
        assert y.dtype == dx.dtype == np.float32, type(layer).__name__


def test_window_offsets_are_computed_once_per_geometry() -> None:
    """A layer's Window is made once per input shape; every forward and backward reuses its offsets."""
    layer = tn.MaxPool((2, 3), stride=(1, 2))
    geo = layer.geometry((5, 7, 3))
    assert layer.geometry((5, 7, 3)) is geo
    offsets = geo.offsets()
    assert geo.offsets() is offsets and geo.offsets(1) is geo.offsets(1)
    assert len(offsets) == 6 and len(geo.offsets(1)) == 2
    assert offsets[5] == (slice(None), slice(1, 5, 1), slice(2, 7, 2))  # kernel offset (1, 2); out (4, 3)
