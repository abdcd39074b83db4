"""The neuron (as in the original library): the affine map z = x W^T + b and its activation.
Dense, Conv and the recurrent cells all build on this module so the math
has one home (initializers: :mod:`tn_core.initializers`).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from tn_core.activation import Activation
from tn_core.plugins import get_plugins
from tn_core.structure import BackwardResult, ForwardResult, Params, Structure, gradient_target

# -- affine map -----------------------------------------------------------------


def affine_forward(x: np.ndarray, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
    """z = x W^T + b for x of shape (N, in), W (out, in), b (out,)."""
    z = x @ weights.T
    z += biases
    return z


def affine_backward(
    x: np.ndarray, weights: np.ndarray, grad_z: np.ndarray, input_grad: bool = True, biases: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dE/dx, dE/dW, dE/db) from dE/dz: dx = g W, dW = g^T x, db = sum_n g.

    dE/dx is None when ``input_grad`` is False (pass ``tn.input_grad_wanted(k)``). dE/dW, and dE/db when the
    ``biases`` array is given, are computed into the System's gradient buffer where it offers one for them
    (:func:`gradient_target`).
    """
    out = gradient_target(weights)
    if len(x) == 1:  # outer: 5x faster than a product over one sample
        grad_w = outer(grad_z[0], x[0], out)
    else:
        grad_w = np.matmul(grad_z.T, x, out=out)
    grad_b = np.add.reduce(grad_z, axis=0, out=None if biases is None else gradient_target(biases))  # sum_n g
    return (grad_z @ weights if input_grad else None), grad_w, grad_b


#: BLAS's matrix product by dtype, in SciPy's BLAS module
_PRODUCTS = {np.dtype(np.float32): "sgemm", np.dtype(np.float64): "dgemm"}


def outer(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a b^T for 1-d ``a`` and ``b``, into ``out`` where given: ``np.multiply.outer(a, b, out=out)``.

    For float32 and float64 arrays (``out`` C-contiguous) it is the first of these that applies, each
    giving NumPy's numbers (BLAS's but for the sign of a zero):

    - a plugin's kernel (hook ``tn_array_kernels``, primitive ``"outer"``): tn-accel's numba loop takes
      0.12-0.35 of NumPy's time for rows of up to 2048 numbers, 0.15-0.18 for (225, 1024);
    - for rows of up to 2048 numbers, BLAS's matrix product of a column and a row (k = 1, beta = 0), in
      0.4-1.0 of NumPy's time, 0.5-1.0 for (225, 1024): NumPy's loop restarts for every row, and is faster
      for longer rows (``python -m benchmarks.outer``, one thread, float32). It is SciPy's, used where
      ``scipy.linalg`` is loaded but never imported for it: that import alone adds 6 MiB to a process's
      resident memory;
    - NumPy's outer.
    """
    name = _PRODUCTS.get(a.dtype)
    if (name is None or b.dtype != a.dtype or not a.size or not b.size
            or (out is not None and not (out.dtype == a.dtype and out.flags.c_contiguous))):
        return np.multiply.outer(a, b, out=out)
    if out is None:
        out = np.empty((a.size, b.size), a.dtype)
    kernel = get_plugins().array_kernels().get("outer")
    if kernel is not None:
        kernel(a, b, out)
        return out
    blas = sys.modules.get("scipy.linalg.blas")
    if blas is None or b.size > 2048:
        return np.multiply.outer(a, b, out=out)
    return blas_outer(getattr(blas, name), a, b, out)


def blas_outer(gemm: Any, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` = a b^T by SciPy's ``gemm`` (sgemm or dgemm, of out's dtype; out C-contiguous): the product of a
    column and a row, k = 1, beta = 0, written as BLAS's column-major (b.size, a.size) matrix in out's memory."""
    column_major = out.T
    written = gemm(1.0, b.reshape(1, -1), a.reshape(1, -1), beta=0.0, c=column_major, trans_a=1, overwrite_c=1)
    if written is not column_major:  # SciPy copied after all
        np.copyto(out, written.T)
    return out


# -- structures whose output is an activated pre-activation ------------------------


class Neuron(Structure):
    """A Structure whose slot-0 output is ``activation(z)``.

    Subclasses have an ``activation`` field and implement the part before the
    activation::

        pre_activation(params, inputs, training) -> (z, cache)
        pre_activation_backward(params, cache, grad_z) -> (input grads, param grads)

    A loss fused with the activation (cross-entropy on a sigmoid) is computed
    from z and hands dE/dz straight to ``backward_from_preactivation``, which
    skips the activation's derivative: that is what keeps it exact when the
    activation saturates.
    """

    activation: Activation

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        raise NotImplementedError

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        z, cache = self.pre_activation(params, inputs, training)
        a = self.activation.forward(z)
        return [a], (z, a, cache)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        z, a, inner = cache
        return self.pre_activation_backward(params, inner, self.activation.backward(z, a, grads[0]))

    @staticmethod
    def preactivation(cache: Any) -> np.ndarray:
        """z, from the cache ``forward`` returned."""
        return cache[0]

    def backward_from_preactivation(
        self, params: Params, cache: Any, grad_z: np.ndarray, grad_a: np.ndarray | None = None
    ) -> BackwardResult:
        """Backward from dE/dz of fused losses, plus dE/da from the output's other readers (if any)."""
        z, a, inner = cache
        if grad_a is not None:
            grad_z = grad_z + self.activation.backward(z, a, grad_a)
        return self.pre_activation_backward(params, inner, grad_z)
