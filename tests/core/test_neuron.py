"""tn_core.neuron's outer product: BLAS's product where it applies, the same numbers as NumPy's outer."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest
import scipy.linalg.blas  # loaded, as tn-accel loads it: outer takes BLAS's path

from tn_core import kit
from tn_core.neuron import blas_outer, outer


@pytest.mark.parametrize("seed", range(30))
def test_outer_is_numpy_s_outer(seed: int) -> None:
    """Random shapes on both sides of the BLAS path's longest rows (2048), both dtypes, with and without out
    (NaN before: BLAS must not read it)."""
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 300)), int(rng.choice([rng.integers(1, 64), rng.integers(64, 2049), 2100]))
    dtype = [np.float32, np.float64][seed % 2]
    a, b = rng.normal(size=rows).astype(dtype), rng.normal(size=cols).astype(dtype)
    out = np.full((rows, cols), np.nan, dtype) if seed % 3 else None
    result = outer(a, b, out)
    assert result.dtype == dtype and result.shape == (rows, cols)
    assert out is None or result is out
    np.testing.assert_array_equal(result, np.multiply.outer(a, b))


def test_non_finite_values_spread_as_in_numpy() -> None:
    a, b = np.array([np.inf, 0.0, np.nan, 2.0]), np.array([0.0, -np.inf, 1.0])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(outer(a, b), np.multiply.outer(a, b))


def test_no_rows_or_columns() -> None:
    for a, b in ((np.ones(0), np.ones(100)), (np.ones(5), np.ones(0))):
        for out in (None, np.empty((a.size, b.size))):
            assert outer(a, b, out).shape == (a.size, b.size)


@pytest.mark.parametrize("case", ["strided out", "fortran out", "float16", "mixed dtypes", "integers", "strided a"])
def test_other_arrays_get_numpy_s_outer_or_blas_s_with_the_same_numbers(case: str) -> None:
    """The out and dtype cases take NumPy's outer, a strided a still BLAS's product."""
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_sample_s_weight_gradient_is_the_product_over_the_batch(dtype: Any) -> None:
    rng = np.random.default_rng(1)
    x, weights, grad_z = (rng.normal(size=shape).astype(dtype) for shape in [(1, 6), (4, 6), (1, 4)])
    dx, dw, db = kit.affine_backward(x, weights, grad_z)
    np.testing.assert_allclose(dw, grad_z.T @ x, rtol=1e-6)
    np.testing.assert_allclose(dx, grad_z @ weights, rtol=1e-6)
    np.testing.assert_array_equal(db, grad_z[0])


def test_blas_s_path_is_taken_once_scipy_linalg_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
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
