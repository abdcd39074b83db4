"""Conv splits the batch into slices run on threads: the result must not depend on the split."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tn_layers_conv import parallel


def _run(structure: tn.Structure, shape: tuple, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    _, params = structure.build_checked([shape], np.random.default_rng(0))
    (y,), cache = structure.forward(params, [x], True)
    (dx,), grads = structure.backward(params, cache, [g])
    return [y, dx, grads["weights"], grads["biases"]]


@pytest.mark.parametrize(("structure", "shape"), [
    (tn.Conv((3, 3), out_shape=(4,), pad=True), (9, 8, 3)),
    (tn.Conv((2, 3, 2), out_shape=(2,), kernel_stride=(2, 1, 2), pad=1), (5, 6, 4, 2)),
    (tn.Conv1D(3, out_shape=(2,), dilation=2), (11, 2)),
])
def test_batch_slices_on_threads_give_the_one_slice_result(structure, shape, monkeypatch) -> None:  # type: ignore[no-untyped-def]
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

    monkeypatch.setattr("tn_layers_conv.conv.over_batch", spy)
    sliced = _run(structure, shape, x, g)
    assert calls, "the conv layer did not go through over_batch"
    for a, b in zip(whole, sliced):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_slices_cover_the_batch_once_within_the_byte_budget(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for n, sample_bytes in [(1, 10), (7, 1 << 20), (32, 1 << 10), (256, 115200), (3, 1 << 30)]:
        parts = parallel.over_batch(lambda s: s, n, sample_bytes)
        assert [i for s in parts for i in range(n)[s]] == list(range(n))
        assert max(s.stop - s.start for s in parts) * sample_bytes <= max(parallel.SLICE_BYTES, sample_bytes)


def test_threads_run_the_slices_only_when_each_gets_work(monkeypatch) -> None:  # type: ignore[no-untyped-def]
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


def test_scratch_is_reused_per_thread() -> None:
    a = parallel.scratch("test", (4, 5), np.float32)
    b = parallel.scratch("test", (2, 3), np.float32)
    assert np.shares_memory(a, b)
    assert b.shape == (2, 3) and b.dtype == np.float32
