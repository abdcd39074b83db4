"""tn_core.neuron's outer product: BLAS's rank-one update where it applies, the same numbers as NumPy's outer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tn_core import kit
from tn_core.neuron import outer


@pytest.mark.parametrize("seed", range(30))
def test_outer_is_numpy_s_outer(seed: int) -> None:
    """Random shapes on both sides of the BLAS path's row lengths (64-2048), both dtypes, with and without out."""
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
    a, b = np.array([np.inf, 0.0, np.nan, 2.0]), np.concatenate([[0.0, -np.inf, 1.0], np.ones(61)])  # BLAS's path
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(outer(a, b), np.multiply.outer(a, b))


@pytest.mark.parametrize("case", ["strided out", "fortran out", "float16", "mixed dtypes", "integers", "strided a"])
def test_other_arrays_get_numpy_s_outer(case: str) -> None:
    rng = np.random.default_rng(0)
    dtype = {"float16": np.float16, "integers": np.int64}.get(case, np.float64)
    a, b = (rng.normal(size=5) * 10).astype(dtype), (rng.normal(size=7) * 10).astype(dtype)
    if case == "mixed dtypes":
        b = b.astype(np.float32)
    if case == "strided a":
        a = np.repeat(a, 2)[::2]
    out = {"strided out": np.zeros((5, 14), a.dtype)[:, ::2], "fortran out": np.zeros((5, 7), order="F")}.get(
        case, np.zeros((5, 7), np.result_type(a, b)))
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
