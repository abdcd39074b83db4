"""fit, evaluate and predict on data larger than memory: array-likes read a batch at a time, and batch streams."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tn_core as tn

from .helpers import params
from .parallel_emulation import run_ranks

N, SHAPE, CLASSES = 203, (4, 4), 3  # 203 samples: batches of 16 leave a last batch of 11


def network(dtype: type = np.float64) -> tn.System:
    rng = np.random.default_rng(0)
    x = tn.Input(SHAPE)()
    h = tn.Dense(6, activation="tanh")(x, rng=rng)
    return tn.System([x], [tn.Dense(CLASSES, activation="sigmoid")(h, rng=rng)], dtype=dtype)


def pixels(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 4, 4) and one-hot float targets."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    return rng.integers(0, 4, (n, *SHAPE), dtype=np.uint8), np.eye(CLASSES)[labels]


def memmap(path: Path, array: np.ndarray) -> np.memmap:
    out = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
    out[:] = array
    out.flush()
    return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)


FIT = {"epochs": 2, "batch_size": 16, "lr": 0.05, "loss": "ce", "seed": 3, "verbose": 0}


def fitted(x: Any, y: Any = None, **kwargs: Any) -> tuple[dict, list[np.ndarray]]:
    s = network()
    hist = s.fit(x, y, **{**FIT, **kwargs})
    return hist, params(s)


def assert_same(a: tuple[dict, list[np.ndarray]], b: tuple[dict, list[np.ndarray]]) -> None:
    assert a[0] == b[0]
    for p, q in zip(a[1], b[1]):
        np.testing.assert_array_equal(p, q)


class SortedReads:
    """An h5py-like dataset: rows by a slice or strictly increasing indices only; counts the rows read."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self.read: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = np.arange(len(self.array))[key]
        if not isinstance(key, slice) and not (np.ndim(key) == 1 and np.all(np.diff(key) > 0)):
            raise TypeError(f"indexing elements must be in increasing order, got {key!r}")
        self.read.append(rows)
        return self.array[key].copy()


# -- array-likes --------------------------------------------------------------------------------------------------


def test_a_uint8_memmap_trains_as_the_same_data_in_a_float_array(tmp_path: Path) -> None:
    x, y = pixels()
    xv, yv = pixels(50, seed=1)
    on_disk = memmap(tmp_path / "x.u8", x), memmap(tmp_path / "y.f8", y)
    validation = memmap(tmp_path / "xv.u8", xv), yv
    expected = fitted(x.astype(np.float64), y, validation=(xv.astype(np.float64), yv))
    assert_same(fitted(*on_disk, validation=validation), expected)  # shuffled by the same seed
    assert_same(fitted(*on_disk, validation=validation, shuffle=False),
                fitted(x.astype(np.float64), y, validation=(xv.astype(np.float64), yv), shuffle=False))
    np.save(tmp_path / "x.npy", x)
    assert_same(fitted(np.load(tmp_path / "x.npy", mmap_mode="r"), y, validation=validation), expected)


def test_in_memory_uint8_data_is_never_cast_whole() -> None:
    x = np.random.default_rng(0).integers(0, 256, (20_000, 32, 32), dtype=np.uint8)  # 20 MB; as float32 80 MB
    y = np.eye(4)[np.arange(20_000) % 4]
    i = tn.Input((32, 32))()
    s = tn.System([i], [tn.Dense(4, activation="sigmoid")(i)])
    tracemalloc.start()
    try:
        s.fit(x, y, epochs=1, batch_size=500, loss="ce", verbose=0)
        s.evaluate(x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * x.nbytes * 4, peak  # a float32 copy alone would be 4 x.nbytes


def test_shuffled_batches_read_sorted_rows_once_per_epoch() -> None:
    x, y = pixels()
    reads = SortedReads(x)
    assert_same(fitted(reads, y, epochs=3), fitted(x.astype(np.float64), y, epochs=3))
    rows = np.concatenate(reads.read)
    assert len(rows) == 3 * N  # every sample once per epoch, nothing read twice or whole
    assert sorted(rows[:N]) == list(range(N))


def test_h5py_datasets_train_like_arrays(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    x, y = pixels()
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"], f["y"] = x, y
    with h5py.File(tmp_path / "data.h5", "r") as f:
        assert_same(fitted(f["x"], f["y"], validation=(f["x"], f["y"])),
                    fitted(x.astype(np.float64), y, validation=(x.astype(np.float64), y)))
        s = network()
        np.testing.assert_array_equal(s.predict(f["x"], batch_size=50)[0],
                                      s.predict(x.astype(np.float64), batch_size=50)[0])


def test_evaluate_and_predict_on_memmaps(tmp_path: Path) -> None:
    x, y = pixels()
    s = network()
    s.fit(x, y, **FIT)
    mx, my = memmap(tmp_path / "x", x), memmap(tmp_path / "y", y)
    assert s.evaluate(mx, my, batch_size=64) == s.evaluate(x.astype(np.float64), y, batch_size=64)
    np.testing.assert_array_equal(s.predict(mx, batch_size=64)[0], s.predict(x.astype(np.float64), batch_size=64)[0])


def test_bad_array_likes_fail_before_reading_or_name_the_samples(tmp_path: Path) -> None:
    x, y = pixels()
    s = network()
    with pytest.raises(tn.ShapeError, match=r"fit: inputs\[0\] has shape \(203, 16\), expected \(N, 4, 4\)"):
        s.fit(memmap(tmp_path / "flat", x.reshape(N, 16)), y, verbose=0)
    words = SortedReads(np.full((N, *SHAPE), "a"))
    with pytest.raises(tn.ShapeError, match=r"fit: inputs\[0\]: cannot be read as a float64 array: its values are <U1"):
        s.fit(words, y, verbose=0)
    assert words.read == []
    bad = x.astype(np.float16)
    bad[100, 0, 0] = np.nan
    with pytest.raises(tn.NonFiniteError, match=r"fit: inputs\[0\] \(samples \[96, 97, 98, 99, \.\.\.\]\): 1 NaN"):
        s.fit(bad, y, batch_size=32, shuffle=False, verbose=0)
    assert s.step == 3  # the batches before it trained
    with pytest.raises(tn.ShapeError, match=r"predict: inputs\[0\] has shape \(203, 4\)"):
        s.predict(SortedReads(np.zeros((N, 4), np.uint8)))


def test_each_rank_reads_only_its_share() -> None:
    x, y = pixels()
    expected = fitted(x.astype(np.float64), y)

    def work(system: tn.System, rank: int) -> tuple[list[np.ndarray], np.ndarray]:
        reads = SortedReads(x)
        system.fit(reads, y, **FIT)
        return params(system), np.concatenate(reads.read)

    results = run_ranks(2, work, build=network)
    for final, _ in results:
        for a, b in zip(final, expected[1]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    rows0, rows1 = results[0][1], results[1][1]
    assert len(rows0) + len(rows1) == 2 * N and abs(len(rows0) - len(rows1)) <= 2 * 13
    assert not set(rows0[:N // 2]) & set(rows1[:N // 2])


# -- streams of batches ---------------------------------------------------------------------------------------------


def batches_of(x: np.ndarray, y: np.ndarray, size: int = 16) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x[k:k + size], y[k:k + size]) for k in range(0, len(x), size)]


class Loader:
    """A re-iterable loader: a fresh pass over the batches at each iter(), with a len()."""

    def __init__(self, batches: list) -> None:
        self.batches = batches
        self.passes = 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator:
        self.passes += 1
        return iter(self.batches)


def test_a_generator_a_list_and_a_loader_train_like_unshuffled_arrays() -> None:
    x, y = pixels()
    batches = batches_of(x, y)
    expected = fitted(x.astype(np.float64), y, epochs=3, shuffle=False, validation=Loader(batches))
    loader = Loader(batches)
    assert_same(fitted(loader, epochs=3, validation=Loader(batches)), expected)
    assert loader.passes == 3
    assert_same(fitted(batches, epochs=3, validation=Loader(batches)), expected)
    generator = (batch for _ in range(3) for batch in batches)  # one-shot: read on across the epochs
    assert_same(fitted(generator, epochs=3, steps_per_epoch=len(batches), validation=Loader(batches)), expected)


def test_steps_per_epoch_takes_the_first_batches_of_a_re_iterable() -> None:
    x, y = pixels()
    s = network()
    hist = s.fit(Loader(batches_of(x, y)), steps_per_epoch=4, **FIT)
    assert s.step == 2 * 4 and len(hist["loss"]) == 2
    assert_same((hist, params(s)), fitted(x[:64].astype(np.float64), y[:64], shuffle=False))


def test_evaluate_and_predict_on_streams() -> None:
    x, y = pixels()
    s = network()
    s.fit(x, y, **FIT)
    scores = s.evaluate(x.astype(np.float64), y)
    assert s.evaluate(Loader(batches_of(x, y))) == pytest.approx(scores, rel=1e-12)
    assert s.evaluate(iter(batches_of(x, y, size=50)), steps=2) == s.evaluate(x[:100], y[:100], batch_size=50)
    outputs = s.predict(x.astype(np.float64))[0]
    np.testing.assert_array_equal(s.predict(iter(batches_of(x, y)))[0], outputs)  # (x, y) tuples: y ignored
    np.testing.assert_array_equal(s.predict(xb for xb, _ in batches_of(x, y))[0], outputs)
    np.testing.assert_array_equal(s.predict((xb for xb, _ in batches_of(x, y)), steps=2)[0], outputs[:32])


class Sized:
    """A loader of ``batches`` whose len() says ``length``."""

    def __init__(self, batches: list, length: int) -> None:
        self.batches, self.length = batches, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.batches)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda s, x, y: s.fit(iter(batches_of(x, y)), verbose=0), tn.ConfigError,
         r"fit: steps_per_epoch is required for batches from an iterable without len\(\)"),
        (lambda s, x, y: s.fit(iter(batches_of(x, y)), steps_per_epoch=13, epochs=2, verbose=0), tn.ConfigError,
         r"fit \(epoch 2\): the batches ran out after 0 of 13 steps; a one-shot iterator \(a generator\) feeds"),
        (lambda s, x, y: s.fit(batches_of(x, y), steps_per_epoch=14, verbose=0), tn.ConfigError,
         r"fit: the batches ran out after 13 of 14 steps; steps must not exceed what one pass"),
        (lambda s, x, y: s.fit([*batches_of(x, y)[:2], (x[:5, :2], y[:5])], verbose=0), tn.ShapeError,
         r"fit: batch 3: inputs\[0\] has shape \(5, 2, 4\), expected \(N, 4, 4\)"),
        (lambda s, x, y: s.fit([(x[:5], y[:4])], verbose=0), tn.ShapeError,
         r"fit: batch 1: targets\[0\] has shape \(4, 3\), expected \(N, 3\) with N = 5"),
        (lambda s, x, y: s.fit([x[:5]], verbose=0), tn.ConfigError, r"fit: y \(the targets\) is missing"),
        (lambda s, x, y: s.fit([(x[:5], y[:5], None)], verbose=0), tn.ShapeError,
         r"fit: batch 1: expected a pair \(x, y\), got tuple of 3"),
        (lambda s, x, y: s.fit(x, verbose=0), tn.ConfigError, r"fit: y \(the targets\) is missing"),
        (lambda s, x, y: s.fit(batches_of(x, y), shuffle=True, verbose=0), tn.ConfigError,
         "shuffle=True cannot reorder a stream"),
        (lambda s, x, y: s.fit(x, y, steps_per_epoch=3, verbose=0), tn.ConfigError,
         r"fit: steps are for a stream of batches"),
        (lambda s, x, y: s.fit(x, y, validation=iter(batches_of(x, y)), verbose=0), tn.ConfigError,
         "validation is a one-shot iterator"),
        (lambda s, x, y: s.fit(x, y, validation=x, verbose=0), tn.ConfigError,
         r"fit: validation must be a pair \(x, y\) or a loader of \(x, y\) batches, got ndarray"),
        (lambda s, x, y: s.fit(x, y, validation="held out", verbose=0), tn.ConfigError,
         r"fit: validation must be a pair .* got str"),
        (lambda s, x, y: s.fit(x, y, validation=3, verbose=0), tn.ConfigError,
         r"fit: validation must be a pair .* got int"),
        (lambda s, x, y: s.fit(x, y, callbacks=tn.EarlyStopping(), verbose=0), tn.ConfigError,
         "fit: callbacks must be a list of callbacks, got EarlyStopping"),
        (lambda s, x, y: s.fit(Sized(batches_of(x, y), 0), verbose=0), tn.ConfigError,
         r"fit: the Sized has len\(\) 0: no batches to take"),
        (lambda s, x, y: s.fit(x, y, validation=Sized(batches_of(x, y), 0), verbose=0), tn.ConfigError,
         r"fit validation: the Sized has len\(\) 0"),
        (lambda s, x, y: s.evaluate(Sized(batches_of(x, y), -1)), tn.ConfigError,
         r"evaluate: len\(\) of the Sized raised ValueError"),
        (lambda s, x, y: s.predict(Sized(batches_of(x, y), 0)), tn.ConfigError, "predict: the Sized has len"),
        (lambda s, x, y: s.fit(42, verbose=0), tn.ConfigError, "expected arrays or an iterable of"),
        (lambda s, x, y: s.fit(batches_of(x, y), steps_per_epoch=0, verbose=0), tn.ConfigError,
         "fit: steps_per_epoch must be an int >= 1, got 0"),
        (lambda s, x, y: s.evaluate(iter([])), tn.ConfigError, "evaluate: the iterable gave no batches"),
        (lambda s, x, y: s.evaluate(x, y, steps=2), tn.ConfigError, "evaluate: steps are for a stream"),
        (lambda s, x, y: s.predict(x, steps=-1), tn.ConfigError, "predict: steps must be an int >= 1"),
    ],
)
def test_bad_streams_and_options_are_named(call: Any, error: type, match: str) -> None:
    x, y = pixels()
    with pytest.raises(error, match=match):
        call(network(), x, y)


# -- bounded memory -----------------------------------------------------------------------------------------------

# VmHWM: the peak resident set of this process image (ru_maxrss would count the forking parent's before exec)
PEAK = textwrap.dedent("""
    import sys
    import numpy as np
    import tn_core as tn

    n = int(sys.argv[2])
    x = np.memmap(sys.argv[1], dtype=np.uint8, mode="r", shape=(n, 32, 32))
    y = np.eye(26, dtype=np.float32)[np.arange(n) % 26]
    i = tn.Input((32, 32))()
    s = tn.System([i], [tn.Dense(26, activation="sigmoid")(i)], seed=0)
    hist = s.fit(x, y, epochs=1, batch_size=1000, lr=1e-4, loss="ce", seed=0, verbose=0)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    print(int(status["VmHWM"].split()[0]) // 1024, hist["loss"][0], s.step)
""")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc (Linux)")
def test_one_epoch_on_a_300_mb_uint8_memmap_peaks_under_600_mb(tmp_path: Path) -> None:
    n = 300_000
    path = tmp_path / "x.u8"
    out = np.memmap(path, dtype=np.uint8, mode="w+", shape=(n, 32, 32))
    rng = np.random.default_rng(0)
    for start in range(0, n, 50_000):
        out[start:start + 50_000] = rng.integers(0, 256, (50_000, 32, 32), dtype=np.uint8)
    out.flush()
    del out
    # the data path alone: no other plugin's compiler (numba) in memory, one BLAS thread's buffers
    env = {**os.environ, "TN_PLUGINS": "dense", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", PEAK, str(path), str(n)], capture_output=True, text=True, timeout=300,
                         env=env)
    assert run.returncode == 0, run.stderr
    peak_mb, loss, steps = run.stdout.split()
    assert int(steps) == 300 and np.isfinite(float(loss))
    assert int(peak_mb) < 600, f"peak resident memory {peak_mb} MB (the float32 copy alone would be 1200 MB)"
