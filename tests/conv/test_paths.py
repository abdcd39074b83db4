"""Conv's fast paths equal the plain correlation math; the choice between them; the batch over slices and threads."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

import tn_core as tn
from tests.conv.references import random_conv_config
from tn_core.testing import check_gradients
from tn_layers_conv import correlation, parallel, paths
from tn_layers_conv.window import Window, window

# every rank with every padding mode, with random sizes, strides, dilations and channels
CASES = [(rank, mode, seed) for rank in (1, 2, 3) for mode in ("valid", "same", "explicit") for seed in (0, 1, 2)]


def _geometry(rank: int, mode: str, seed: int) -> tuple[Window, int, np.random.Generator]:
    """A random layer geometry, its number of output channels, and a generator for its arrays."""
    rng = np.random.default_rng(1000 * rank + 10 * seed + len(mode))
    config = random_conv_config(rng, rank, mode)
    if seed == 2:  # stride 1 too
        config["stride"] = (1,) * rank
    geo = window(config["input_shape"], config["kernel_shape"], config["stride"], config["dilation"], config["pad"])
    return geo, int(rng.integers(1, 5)), rng


def _arrays(geo: Window, out_size: int, rng: np.random.Generator, dtype: type = np.float64) -> tuple:
    """x, W and g for a batch of 4."""
    x = rng.normal(size=(4, *geo.spatial, geo.channels)).astype(dtype)
    w = rng.normal(size=(out_size, *geo.kernel, geo.channels)).astype(dtype)
    g = rng.normal(size=(4, *geo.out, out_size)).astype(dtype)
    return x, w, g


def test_the_cases_give_every_path_work() -> None:
    geometries = [_geometry(*case)[0] for case in CASES]
    assert any(all(s == 1 for s in geo.stride) for geo in geometries)
    assert any(any(s > 1 for s in geo.stride) for geo in geometries)
    assert any(any(d > 1 for d in geo.dilation) for geo in geometries)
    assert all(any(path.applies(geo) for geo in geometries) for path in paths.PATHS.values())


@pytest.mark.parametrize(("rank", "mode", "seed"), CASES)
def test_every_path_equals_the_plain_math_in_float64(rank: int, mode: str, seed: int) -> None:
    geo, out_size, rng = _geometry(rank, mode, seed)
    x, w, g = _arrays(geo, out_size, rng)
    z = correlation.correlate(geo, x, w)
    dw, dx = correlation.weight_gradient(geo, x, g), correlation.input_gradient(geo, g, w)
    assert z.shape == g.shape and dw.shape == w.shape and dx.shape == x.shape
    for path in paths.PATHS.values():
        if not path.applies(geo):
            continue
        for fast, plain in [(paths.correlate(geo, x, w, path), z), (paths.weight_gradient(geo, x, g, path), dw),
                            (paths.input_gradient(geo, g, w, path), dx)]:
            assert fast.shape == plain.shape and fast.dtype == plain.dtype
            np.testing.assert_allclose(fast, plain, rtol=1e-10, atol=1e-10, err_msg=path.name)


@pytest.mark.parametrize(("rank", "mode", "seed"), [(2, "same", 2), (3, "explicit", 2), (1, "valid", 2)])
def test_paths_agree_in_float32_to_its_precision(rank: int, mode: str, seed: int) -> None:
    geo, out_size, rng = _geometry(rank, mode, seed)
    x, w, g = _arrays(geo, out_size, rng, np.float32)
    results = {}
    for path in paths.PATHS.values():
        results[path.name] = (paths.correlate(geo, x, w, path), paths.weight_gradient(geo, x, g, path),
                              paths.input_gradient(geo, g, w, path))
        assert all(a.dtype == np.float32 for a in results[path.name]), path.name
    for name, arrays in results.items():
        for a, b in zip(arrays, results["plain"]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max(), err_msg=name)


@pytest.fixture(params=list(paths.PATHS))
def only_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    """Every Conv runs ``path`` (where it applies)."""
    path = paths.PATHS[request.param]
    real = paths.choose
    monkeypatch.setattr(paths, "choose", lambda geo, *args: path if path.applies(geo) else real(geo, *args))
    yield path


@pytest.mark.parametrize(("layer", "shape"), [
    (tn.Conv((3, 3), out_shape=(2,), pad=True, activation="tanh"), (5, 4, 3)),
    (tn.Conv((2, 3), out_shape=(3,), stride=(2, 1), dilation=(1, 2), pad=((1, 0), (2, 1))), (6, 7, 2)),
    (tn.Conv1D(3, out_shape=(2,), dilation=2, pad="same"), (9, 2)),
    (tn.Conv3D(2, out_shape=(2,), pad=1), (3, 4, 3, 2)),
])
def test_numerical_gradients_by_each_path(layer: tn.Structure, shape: tuple, only_path: type) -> None:
    check_gradients(layer, [shape], batch_size=2, max_coords=25)


def test_choose_picks_the_path_of_lowest_estimated_cost() -> None:
    geo = window((16, 16, 4), (5, 5), (1, 1), (1, 1), True)
    for n, step in itertools.product((1, 32, 256), paths.STEPS):
        costs = {path: paths.cost(path, geo, 8, n, step) for path in paths.PATHS.values()}
        assert all(c > 0 for c in costs.values())
        assert costs[paths.choose(geo, 8, n, step)] == min(costs.values())
    small, large = (paths.cost(paths.Plain, geo, 8, n, "correlate") for n in (32, 256))
    assert small < large


def test_the_layer_runs_the_chosen_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The layer asks ``choose`` once for each of z, dW, and dx where it is wanted."""
    asked = []
    real = paths.choose

    def spy(geo: Window, out_size: int, n: int, step: str) -> type:
        asked.append((out_size, n, step))
        return real(geo, out_size, n, step)

    monkeypatch.setattr(paths, "choose", spy)
    x = tn.Input((6, 5, 2))()
    y = tn.Conv((3, 3), out_shape=(4,))(x)
    system = tn.System([x], [tn.Conv((2, 2), out_shape=(1,))(y)], dtype=np.float64)
    state = system.forward([np.zeros((3, 6, 5, 2))], training=True)
    _, grads, fused = system.loss_gradients(state, [np.zeros((3, 3, 2, 1))], "quad")
    system.backward(state, grads, fused, input_grads=False)
    assert asked == [(4, 3, "correlate"), (1, 3, "correlate"), (1, 3, "weight_gradient"), (1, 3, "input_gradient"),
                     (4, 3, "weight_gradient")]


def _run(structure: tn.Structure, shape: tuple, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    _, params = structure.build_checked([shape], np.random.default_rng(0))
    (y,), cache = structure.forward(params, [x], True)
    (dx,), grads = structure.backward(params, cache, [g])
    return [y, dx, grads["weights"], grads["biases"]]


@pytest.mark.parametrize(("structure", "shape"), [
    (tn.Conv((3, 3), out_shape=(4,), pad=True), (9, 8, 3)),
    (tn.Conv((2, 3, 2), out_shape=(2,), stride=(2, 1, 2), pad=1), (5, 6, 4, 2)),
    (tn.Conv1D(3, out_shape=(2,), dilation=2), (11, 2)),
])
def test_batch_slices_on_threads_give_the_one_slice_result(structure, shape, only_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, *shape))
    (out_shape,), _ = structure.build_checked([shape], rng)
    g = rng.normal(size=(7, *out_shape))
    monkeypatch.setattr(parallel, "threads", lambda: 1)
    monkeypatch.setattr(parallel, "SLICE_BYTES", 1 << 40)
    whole = _run(structure, shape, x, g)
    monkeypatch.setattr(parallel, "threads", lambda: 3)
    monkeypatch.setattr(parallel, "SLICE_BYTES", 1)  # one sample per slice
    calls = []
    real = parallel.over_batch

    def spy(work, n, sample_bytes):  # type: ignore[no-untyped-def]
        calls.append(n)
        return real(work, n, sample_bytes)

    monkeypatch.setattr(paths, "over_batch", spy)
    sliced = _run(structure, shape, x, g)
    assert calls == [7, 7, 7], "the conv layer's z, dW and dx did not go through over_batch"
    for a, b in zip(whole, sliced):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_slices_cover_the_batch_once_within_the_byte_budget() -> None:
    for n, sample_bytes in [(1, 10), (7, 1 << 20), (32, 1 << 10), (256, 115200), (3, 1 << 30)]:
        parts = parallel.over_batch(lambda s: s, n, sample_bytes)
        assert len(parts) <= parallel.slice_count(n, sample_bytes)
        assert [i for s in parts for i in range(n)[s]] == list(range(n))
        assert max(s.stop - s.start for s in parts) * sample_bytes <= max(parallel.SLICE_BYTES, sample_bytes)


def test_threads_run_the_slices_only_when_each_gets_work(monkeypatch: pytest.MonkeyPatch) -> None:
    pooled = []

    class Pool:
        def map(self, work, parts):  # type: ignore[no-untyped-def]
            pooled.append(len(parts))
            return map(work, parts)

    monkeypatch.setattr(parallel, "threads", lambda: 2)
    monkeypatch.setattr(parallel, "_pool", lambda: Pool())
    parallel.over_batch(lambda s: s, 32, parallel.SLICE_BYTES // 32)  # one slice: inline
    assert pooled == []
    parallel.over_batch(lambda s: s, 32, parallel.SLICE_BYTES // 8)  # four slices: on the threads
    assert pooled == [4]
