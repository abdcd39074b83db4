"""tn_core.neuron's outer product: a plugin's kernel (hook tn_array_kernels) or BLAS's product where they apply,
the same numbers as NumPy's outer."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.linalg.blas  # loaded, as tn-accel loads it: without a plugin's kernel, outer takes BLAS's path

from tests.plugin_modules import module_with, use_plugins
from tn_core import cli, kit
from tn_core.neuron import blas_outer, outer
from tn_core.plugins import Plugins

#: the shapes of the outs a spying kernel was given
TAKEN: list[tuple[int, ...]] = []


def spying_outer(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """A plugin's "outer" in NumPy, recording what it was given."""
    assert a.ndim == b.ndim == 1 and out.shape == (a.size, b.size) and out.flags.c_contiguous
    assert a.dtype == b.dtype == out.dtype and a.dtype in (np.float32, np.float64)
    TAKEN.append(out.shape)
    np.multiply.outer(a, b, out=out)


def plugin(name: str, answer: Callable[[], Any]) -> types.ModuleType:
    return module_with(name, tn_array_kernels=answer)


def plugins_of(monkeypatch: pytest.MonkeyPatch, *plugins: types.ModuleType) -> Plugins:
    """The core's built-ins and ``plugins`` as the process-wide plugins (no installed plugin's kernel)."""
    TAKEN.clear()
    return use_plugins(monkeypatch, *plugins)


@pytest.fixture(params=["core", "plugin kernel"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """outer with the core's own code (BLAS's or NumPy's), then with a plugin's kernel."""
    plugins_of(monkeypatch, *([plugin("fast", lambda: {"outer": spying_outer})] if request.param != "core" else []))
    return str(request.param)


@pytest.mark.parametrize("seed", range(30))
def test_outer_is_numpy_s_outer(seed: int, path: str) -> None:
    """Random shapes on both sides of the BLAS path's longest rows (2048), both dtypes, with and without out
    (NaN before: BLAS must not read it); a plugin's kernel takes every one of them."""
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 300)), int(rng.choice([rng.integers(1, 64), rng.integers(64, 2049), 2100]))
    dtype = [np.float32, np.float64][seed % 2]
    a, b = rng.normal(size=rows).astype(dtype), rng.normal(size=cols).astype(dtype)
    out = np.full((rows, cols), np.nan, dtype) if seed % 3 else None
    result = outer(a, b, out)
    assert result.dtype == dtype and result.shape == (rows, cols)
    assert out is None or result is out
    np.testing.assert_array_equal(result, np.multiply.outer(a, b))
    assert TAKEN == ([(rows, cols)] if path == "plugin kernel" else [])


def test_non_finite_values_spread_as_in_numpy(path: str) -> None:
    a, b = np.array([np.inf, 0.0, np.nan, 2.0]), np.array([0.0, -np.inf, 1.0])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(outer(a, b), np.multiply.outer(a, b))


def test_no_rows_or_columns(path: str) -> None:
    for a, b in ((np.ones(0), np.ones(100)), (np.ones(5), np.ones(0))):
        for out in (None, np.empty((a.size, b.size))):
            assert outer(a, b, out).shape == (a.size, b.size)
    assert TAKEN == []


@pytest.mark.parametrize("case", ["strided out", "fortran out", "float16", "mixed dtypes", "integers", "strided a"])
def test_other_arrays_get_numpy_s_outer_or_blas_s_with_the_same_numbers(case: str, path: str) -> None:
    """The out and dtype cases take NumPy's outer, a strided a still BLAS's product or the plugin's kernel."""
    rng = np.random.default_rng(0)
    dtype = {"float16": np.float16, "integers": np.int64}.get(case, np.float64)
    a, b = (rng.normal(size=5) * 10).astype(dtype), (rng.normal(size=70) * 10).astype(dtype)
    if case == "mixed dtypes":
        b = b.astype(np.float32)
    if case == "strided a":
        a = np.repeat(a, 2)[::2]
    out = {"strided out": np.zeros((5, 140), a.dtype)[:, ::2], "fortran out": np.zeros((5, 70), order="F")}.get(
        case, np.zeros((5, 70), np.result_type(a, b)))
    result = outer(a, b, out)
    assert result is out
    np.testing.assert_array_equal(out, np.multiply.outer(a, b))
    assert TAKEN == ([(5, 70)] if path == "plugin kernel" and case == "strided a" else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_sample_s_weight_gradient_is_the_product_over_the_batch(dtype: Any) -> None:
    rng = np.random.default_rng(1)
    x, weights, grad_z = (rng.normal(size=shape).astype(dtype) for shape in [(1, 6), (4, 6), (1, 4)])
    dx, dw, db = kit.affine_backward(x, weights, grad_z)
    np.testing.assert_allclose(dw, grad_z.T @ x, rtol=1e-6)
    np.testing.assert_allclose(dx, grad_z @ weights, rtol=1e-6)
    np.testing.assert_array_equal(db, grad_z[0])


def test_blas_s_path_is_taken_once_scipy_linalg_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    plugins_of(monkeypatch)  # no plugin's kernel
    calls = []

    def sgemm(*args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(args[0])
        return scipy.linalg.blas.sgemm(*args, **kwargs)

    a, b, out = np.ones(3, np.float32), np.arange(64, dtype=np.float32), np.empty((3, 64), np.float32)
    monkeypatch.setitem(sys.modules, "scipy.linalg.blas", types.SimpleNamespace(sgemm=sgemm))
    outer(a, b, out)
    assert calls == [1.0]
    monkeypatch.delitem(sys.modules, "scipy.linalg.blas")  # not loaded: NumPy's outer, no import
    np.testing.assert_array_equal(outer(a, 2 * b), np.multiply.outer(a, 2 * b))
    assert calls == [1.0] and "scipy.linalg.blas" not in sys.modules
    np.testing.assert_array_equal(out, np.multiply.outer(a, b))


def test_tn_core_does_not_load_scipy_linalg() -> None:
    """Its import adds 6 MiB to a process's resident memory: tensornet uses it where it is loaded anyway (as
    SciPy 1.10's scipy.special, which tensornet imports, loads it)."""
    code = ("import sys, scipy.special; before = 'scipy.linalg' in sys.modules; import tn_core, tn_core.neuron; "
            "print(before, 'scipy.linalg' in sys.modules)")
    before, after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout.split()
    assert after == before


def test_a_copy_scipy_makes_is_written_into_out() -> None:
    """Should SciPy copy ``c`` rather than write into it, the product still lands in ``out``."""
    a, b, out = np.arange(3.0), np.arange(4.0), np.full((3, 4), np.nan)

    def copying_gemm(*args: Any, c: np.ndarray, **kwargs: Any) -> np.ndarray:
        return scipy.linalg.blas.dgemm(*args, c=np.array(c, order="F"), **kwargs)

    assert blas_outer(copying_gemm, a, b, out) is out
    np.testing.assert_array_equal(out, np.multiply.outer(a, b))


# -- the tn_array_kernels hook ------------------------------------------------------------


def test_a_plugin_s_kernel_comes_before_blas_and_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even for rows longer than BLAS's path takes; the hook is asked once, not at registration."""
    asked = []
    plugins = plugins_of(monkeypatch, plugin("fast", lambda: asked.append(1) or {"outer": spying_outer}))
    assert asked == []
    a, b = np.arange(3.0), np.arange(5000.0)
    for _ in range(3):
        np.testing.assert_array_equal(outer(a, b), np.multiply.outer(a, b))
    assert TAKEN == [(3, 5000)] * 3 and asked == [1]
    plugins.unregister("fast")
    outer(a, b)
    assert len(TAKEN) == 3


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (["outer"], r"\['outer'\], not a dict"),
        ({1: spying_outer}, r"1: <function spying_outer at \w+>, not a primitive name and a function"),
        ({"outer": "spying_outer"}, r"'outer': 'spying_outer', not a primitive name and a function"),
    ],
)
def test_a_malformed_answer_is_skipped_with_a_warning(answer: Any, error: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = plugins_of(monkeypatch, plugin("odd", lambda: answer))
    with pytest.warns(RuntimeWarning, match="plugin 'odd' from tn-odd 1.0: its array kernels are not used: "
                                            f"PluginError: tn_array_kernels returned {error}"):
        assert plugins.array_kernels() == {}
    np.testing.assert_array_equal(outer(np.ones(2), np.ones(3)), np.ones((2, 3)))  # the core's outer


def test_a_hook_that_raises_and_a_primitive_two_plugins_give_are_reported_by_tn_plugins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_compiler() -> None:
        raise ImportError("No module named 'numba'")

    one, two = (plugin(name, lambda: {"outer": spying_outer}) for name in ("one", "two"))
    plugins = plugins_of(monkeypatch, plugin("broken", no_compiler), one, two)
    with pytest.warns(RuntimeWarning, match="plugin 'broken' .*: its array kernels are not used: ImportError"):
        assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "\nbroken 1.0\n  array kernels: FAILED: ImportError: No module named 'numba'\n" in out
    assert ("\none 1.0\n  array kernels: outer\n  ambiguous: array kernel for outer (not used), also registered by "
            "plugin 'two' from tn-two 1.0\n") in out
    assert plugins.array_kernels() == {}
    outer(np.ones(2), np.ones(3))
    assert TAKEN == []  # neither plugin's kernel
