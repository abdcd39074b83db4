"""tn-accel's numba kernels give the NumPy path's values, state, errors and files.

Each test runs the same steps twice: with the optimizer class the kernel serves, and with a subclass that
changes nothing (a subclass keeps the NumPy path: tests/accel/test_kernel_hook.py), and a spy confirms that
only the first ran the kernel. Skipped where numba (or tn-accel) cannot be imported.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")
kernels = pytest.importorskip("tn_accel.kernels")

import tn_core as tn  # noqa: E402
import tn_core.plugins  # noqa: E402
from tn_accel import plugin as accel_plugin  # noqa: E402
from tn_core import cli  # noqa: E402
from tn_core.plugins import Plugins, get_plugins  # noqa: E402
from tn_layers_dense import plugin as dense_plugin  # noqa: E402

SHAPES = [(17, 9), (9,), (), (3, 4, 5)]  # 153 numbers: the vector loop and its remainder; a 0-d parameter
OPTIMIZERS = [
    tn.SGD(lr=0.1),
    tn.Momentum(lr=0.05, momentum=0.9),
    tn.Momentum(lr=0.05, momentum=0.8, nesterov=True),
    tn.RMSProp(lr=1e-2, rho=0.8, eps=1e-7),
    tn.Adam(lr=1e-2),
    tn.Adam(lr=3e-3, beta1=0.5, beta2=0.9, eps=1e-6),
    tn.AdamW(lr=1e-2, weight_decay=0.1),
]
DTYPES = [np.float32, np.float64]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[type]]:
    """tn-accel's kernels (besides core and dense) as the process-wide plugins, each call of a kernel recorded
    as its optimizer's class."""
    plugins = Plugins()
    plugins.register(tn_core.builtins, "core", "", "tn-core")
    plugins.register(dense_plugin, "dense", "", "tn-layers-dense")
    plugins.register(accel_plugin, "accel", "", "tn-accel")
    monkeypatch.setattr(tn_core.plugins, "_plugins", plugins)
    recorded: list[type] = []
    table = plugins.optimizer_kernels()
    for cls, (names, kernel) in list(table.items()):
        @functools.wraps(kernel)  # keeps its in_place
        def spy(opt: Any, *arrays: Any, kernel: Any = kernel) -> bool:
            recorded.append(type(opt))
            return kernel(opt, *arrays)

        table[cls] = (names, spy)
    yield recorded


def twins(optimizer: tn.Optimizer) -> tuple[tn.Optimizer, tn.Optimizer]:
    """A fresh copy of ``optimizer`` (the kernel's class) and one of a subclass that changes nothing (NumPy)."""
    fields = {field.name: getattr(optimizer, field.name) for field in tn_core.optimizers.attrs.fields(type(optimizer))
              if field.init}
    plain = type(f"Plain{type(optimizer).__name__}", (type(optimizer),), {})
    return type(optimizer)(**fields), plain(**fields)


def assert_close(a: np.ndarray, b: np.ndarray) -> None:
    """float64 to 1e-12, float32 to 4 units in the last place."""
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == np.float64:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    else:
        np.testing.assert_array_max_ulp(a, b, maxulp=4)


def assert_same_state(a: tn.Optimizer, b: tn.Optimizer) -> None:
    sa, sb = a.state(), b.state()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert_close(np.asarray(sa[key]), np.asarray(sb[key])) if key != "steps" else None
    assert a.steps == b.steps


def draws(dtype: Any, steps: int, seed: int = 0) -> list[list[np.ndarray | None]]:
    """Gradients for SHAPES over ``steps`` steps, of every scale; parameter 1 has none at step 2."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        grads: list[np.ndarray | None] = [(rng.normal(size=s) * 10.0 ** rng.integers(-4, 3)).astype(dtype)
                                          for s in SHAPES]
        if t == 2:
            grads[1] = None
        out.append(grads)
    return out


def start(dtype: Any) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_a_kernel_gives_the_numpy_path_s_parameters_and_state(
    optimizer: tn.Optimizer, dtype: Any, calls: list[type]
) -> None:
    fused, plain = twins(optimizer)
    a, b = start(dtype), start(dtype)
    for grads in draws(dtype, 6):
        fused.step(a, grads)
        plain.step(b, grads)
        for x, y in zip(a, b):
            assert_close(x, y)
        assert_same_state(fused, plain)
    assert calls == [type(optimizer)] * (6 * len(SHAPES) - 1)
    assert not all(np.array_equal(x, y) for x, y in zip(a, start(dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("fault", ["inf gradient", "nan gradient", "huge step", "g^2 overflows"])
def test_a_step_that_would_go_non_finite_changes_nothing(
    optimizer: tn.Optimizer, dtype: Any, fault: str, calls: list[type]
) -> None:
    big = float(np.finfo(dtype).max)
    errors = []
    for opt in twins(optimizer):
        params = start(dtype)
        for grads in draws(dtype, 2):
            opt.step(params, grads)
        grads = [np.ones(s, dtype) for s in SHAPES]
        if fault == "huge step":
            opt.lr = 0.9 * big
            params[3][...] = -0.5 * big
        else:
            bad = {"inf gradient": np.inf, "nan gradient": np.nan, "g^2 overflows": 2 * np.sqrt(big)}
            grads[3][1, 2, 3] = bad[fault]
        if fault == "g^2 overflows" and isinstance(opt, (tn.SGD, tn.Momentum)):
            opt.step(params, grads)  # no squares: a finite step
            continue
        before, state = [p.copy() for p in params], {k: np.copy(v) for k, v in opt.state().items()}
        with pytest.raises(tn.NonFiniteError, match="parameter [0-3]") as caught:
            opt.step(params, grads)
        errors.append((caught.value.parameter, caught.value.cause))  # type: ignore[attr-defined]
        for p, q in zip(params, before):
            np.testing.assert_array_equal(p, q)
        assert opt.state().keys() == state.keys()
        for key, value in opt.state().items():
            np.testing.assert_array_equal(value, state[key])
    expected = (3, "gradient") if "gradient" in fault else (errors[0][0], "update") if errors else None
    assert all(error == expected for error in errors)  # the kernel's is the NumPy path's
    assert type(optimizer) in calls


def test_the_first_step_failing_leaves_no_state(calls: list[type]) -> None:
    adam, p = tn.Adam(), np.ones((4, 4), np.float32)
    with pytest.raises(tn.NonFiniteError, match="gradient of parameter 0"):
        adam.step([p], [np.full((4, 4), np.nan, np.float32)])
    assert adam.state().keys() == {"steps"} and adam.steps == 0 and calls == [tn.Adam]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_state_moves_between_the_kernel_and_numpy(optimizer: tn.Optimizer, dtype: Any, calls: list[type]) -> None:
    first_fused, first_plain = twins(optimizer)
    a, b = start(dtype), start(dtype)
    gradients = draws(dtype, 5)
    for grads in gradients[:3]:
        first_fused.step(a, grads)
        first_plain.step(b, grads)
    then_plain, then_fused = twins(optimizer)[1], twins(optimizer)[0]
    then_plain.load_state(first_fused.state())  # kernel -> NumPy
    then_fused.load_state(first_plain.state())  # NumPy -> kernel
    for grads in gradients[3:]:
        then_plain.step(a, grads)
        then_fused.step(b, grads)
    for x, y in zip(a, b):
        assert_close(x, y)
    assert_same_state(then_fused, then_plain)


def test_read_only_gradients_and_a_0d_parameter(calls: list[type]) -> None:
    fused, plain = twins(tn.Adam(lr=0.1))
    g = np.arange(6.0).reshape(2, 3)
    g.setflags(write=False)
    a, b = [np.ones((2, 3)), np.array(2.0)], [np.ones((2, 3)), np.array(2.0)]
    fused.step(a, [g, np.array(-1.0)])
    plain.step(b, [g, np.array(-1.0)])
    for x, y in zip(a, b):
        assert_close(x, y)
    assert a[1].shape == () and calls == [tn.Adam, tn.Adam]


def test_a_non_contiguous_parameter_takes_numpy_with_the_same_result(calls: list[type]) -> None:
    fused, plain = twins(tn.RMSProp(lr=0.1))
    a, b = np.ones((4, 6))[:, ::2], np.ones((4, 3))
    g = np.linspace(-1, 1, 12).reshape(4, 3)
    fused.step([a], [g])
    plain.step([b], [g])
    np.testing.assert_array_equal(a, b)
    assert calls == []


def blobs(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    labels = np.arange(n) % 3
    return rng.normal(size=(n, 6)) + labels[:, None], np.eye(3)[labels]


def classifier() -> tn.System:
    rng = np.random.default_rng(0)
    x = tn.Input((6,))()
    h = tn.Dense(8, activation="tanh")(x, rng=rng)
    return tn.System([x], [tn.Dense(3, activation="sigmoid")(h, rng=rng)], dtype=np.float32)


def test_training_and_model_files_are_the_same_with_and_without_kernels(tmp_path: Path, calls: list[type]) -> None:
    x, y = blobs(64)
    fused, plain = classifier(), classifier()
    options: dict[str, Any] = {"epochs": 3, "batch_size": 16, "loss": "ce", "shuffle": False, "verbose": 0}
    fused.fit(x, y, optimizer="adam", lr=1e-2, **options)
    plain.fit(x, y, optimizer=twins(tn.Adam(lr=1e-2))[1], **options)
    assert calls.count(tn.Adam) == 3 * 4  # epochs x batches: one call for the System's 4 packed parameters
    for (_, _, p), (_, _, q) in zip(fused.parameters(), plain.parameters()):
        assert_close(p, q)
    tn.save(fused, tmp_path / "fused.tn")
    again = tn.load(tmp_path / "fused.tn")
    assert type(again.optimizer) is tn.Adam and again.optimizer.steps == 12
    without = twins(again.optimizer)[1]
    without.load_state(again.optimizer.state())
    fused.fit(x, y, optimizer="adam", lr=1e-2, **options)
    again.fit(x, y, optimizer="adam", lr=1e-2, **options)  # the loaded Adam, with its kernel
    plain.fit(x, y, optimizer=without, **options)
    for (_, _, p), (_, _, q), (_, _, r) in zip(fused.parameters(), again.parameters(), plain.parameters()):
        np.testing.assert_array_equal(p, q)
        assert_close(p, r)


def test_kernels_register_for_the_five_built_in_optimizers() -> None:
    table = accel_plugin.tn_optimizer_kernels()
    assert table == kernels.KERNELS
    assert {cls: names for cls, (names, _) in table.items()} == {
        tn.SGD: (), tn.Momentum: ("velocity",), tn.RMSProp: ("square",), tn.Adam: ("m", "v"), tn.AdamW: ("m", "v")}


def test_the_installed_plugin_serves_the_built_ins(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        version = importlib.metadata.version("tn-accel")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("tn-accel is importable but not installed")
    found = get_plugins().optimizer_kernels()
    assert all(found[cls] == kernels.KERNELS[cls] for cls in kernels.KERNELS)
    assert get_plugins().array_kernels() == {"outer": kernels.outer}
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    listed = ("  array kernels: outer\n  optimizer kernels: Adam, AdamW, Momentum, RMSProp, SGD\n"
              "  distribution: tn-accel\n")
    assert f"\naccel {version}\n{listed}" in out


@pytest.mark.parametrize("seed", range(12))
def test_the_outer_kernel_is_numpy_s_outer(seed: int) -> None:
    """Random shapes, both dtypes, contiguous and strided vectors, into an out holding NaN: NumPy's numbers."""
    rng = np.random.default_rng(seed)
    dtype = DTYPES[seed % 2]
    rows, cols = int(rng.integers(1, 300)), int(rng.integers(1, 3000))
    a, b = ((rng.normal(size=2 * n) * 10.0 ** rng.integers(-15, 15)).astype(dtype) for n in (rows, cols))
    a, b = (a[::2], b[:cols]) if seed % 3 else (a[:rows], b[::2])
    out = np.full((rows, cols), np.nan, dtype)
    assert kernels.outer(a, b, out) is None
    assert a.dtype == b.dtype == dtype
    np.testing.assert_array_equal(out, np.multiply.outer(a, b))


def test_the_outer_kernel_spreads_non_finite_values_as_numpy_does() -> None:
    a, b = np.array([np.inf, 0.0, np.nan, 2.0]), np.array([0.0, -np.inf, 1.0, 1e308])
    out = np.empty((4, 4))
    kernels.outer(a, b, out)
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_array_equal(out, np.multiply.outer(a, b))


def test_a_batch_1_step_takes_the_outer_kernel(calls: list[type], monkeypatch: pytest.MonkeyPatch) -> None:
    """Dense's weight gradient of one sample is the kernel's (the installed plugins' array kernels, spied on)."""
    taken = []
    table = get_plugins().array_kernels()
    monkeypatch.setitem(table, "outer", lambda a, b, out: taken.append(out.shape) or kernels.outer(a, b, out))
    x = tn.Input((5,))()
    # float64: in float32 the two paths sum in different orders and differ by several ulps of a small entry
    system = tn.System([x], [tn.Dense(3, activation="tanh")(x)], dtype=np.float64)
    pgrads, _ = system.gradients(np.ones((1, 5)), np.zeros((1, 3)))
    assert taken == [(3, 5)]
    twice, _ = system.gradients(np.ones((2, 5)), np.zeros((2, 3)))  # the mean over two equal samples: the same
    np.testing.assert_allclose(pgrads[system["dense_1"]]["weights"], twice[system["dense_1"]]["weights"], rtol=1e-12)
