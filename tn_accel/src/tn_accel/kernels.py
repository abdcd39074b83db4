"""The fused optimizer kernels (one compiled pass over a parameter, its gradient and its state) and the
core's array primitives as numba loops.

Each kernel evaluates the expressions of its optimizer's ``propose`` (tn_core.optimizers) in the same
order and in the parameter's dtype (its scalars cast to that dtype first, as NumPy casts Python
floats), so it computes NumPy's values. It updates the parameter in place, each old value first copied
into ``old_p``, writes the new state values into the arrays it is given and returns whether all new
values are finite (the ``tn_optimizer_kernels`` hook's protocol for kernels marked ``in_place``: the
optimizer puts the old values back where they are not). In place, a step of the seed MLP with Adam
takes 0.91-0.94 of the time at batch 1 (0.88-0.98 at batch 32) that it took writing the new values
aside and copying them over (``python -m benchmarks.accel --forms``).

The scalars travel as one small array of that dtype: numba takes arrays faster than NumPy scalars (about
1 us a call instead of 5). numba compiles each kernel on first use per dtype and keeps the machine code
on disk (``cache=True``: in ``__pycache__`` beside this file, or in the user's cache folder where that is
read-only), so later processes load it instead of compiling.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

import tn_core as tn

# error_model="numpy": x / 0 gives inf (checked below) instead of raising, and the loops vectorize
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _sgd(p, g, old_p, h):  # type: ignore[no-untyped-def]
    """p' = p - g lr; h = (lr,)."""
    lr = h[0]
    ok = True
    for k in range(p.size):
        old_p[k] = p[k]
        pk = p[k] - g[k] * lr
        p[k] = pk
        ok &= math.isfinite(pk)
    return ok


@_jit
def _momentum(p, g, v, old_p, new_v, h, nesterov):  # type: ignore[no-untyped-def]
    """v' = v mu + g; p' = p - v' lr, or p - (v' mu + g) lr with nesterov; h = (lr, mu)."""
    lr, mu = h[0], h[1]
    ok = True
    for k in range(p.size):
        old_p[k] = p[k]
        vk = v[k] * mu + g[k]
        pk = p[k] - ((vk * mu + g[k]) * lr if nesterov else vk * lr)
        p[k], new_v[k] = pk, vk
        ok &= math.isfinite(pk) & math.isfinite(vk)
    return ok


@_jit
def _rmsprop(p, g, s, old_p, new_s, h):  # type: ignore[no-untyped-def]
    """s' = (g^2 - s)(1 - rho) + s; p' = p - g / (sqrt(s') + eps) lr; h = (lr, 1 - rho, eps)."""
    lr, one_minus_rho, eps = h[0], h[1], h[2]
    ok = True
    for k in range(p.size):
        old_p[k] = p[k]
        sk = (g[k] * g[k] - s[k]) * one_minus_rho + s[k]
        pk = p[k] - g[k] / (np.sqrt(sk) + eps) * lr
        p[k], new_s[k] = pk, sk
        ok &= math.isfinite(pk) & math.isfinite(sk)
    return ok


@_jit
def _adam(p, g, m, v, old_p, new_m, new_v, h):  # type: ignore[no-untyped-def]
    """m' = (g - m)(1 - beta1) + m; v' = (g^2 - v)(1 - beta2) + v;
    p' = p - (m' / (sqrt(v') + eps c) scale + p decay), c = sqrt(1 - beta2^t), scale = lr c / (1 - beta1^t)
    (decay = lr weight_decay for AdamW; the term is left out where decay is 0, as Adam's propose does);
    h = (1 - beta1, 1 - beta2, eps c, scale, decay)."""
    one_minus_beta1, one_minus_beta2, eps_c, scale, decay = h[0], h[1], h[2], h[3], h[4]
    ok = True
    for k in range(p.size):
        old_p[k] = p[k]
        mk = (g[k] - m[k]) * one_minus_beta1 + m[k]
        vk = (g[k] * g[k] - v[k]) * one_minus_beta2 + v[k]
        step = mk / (np.sqrt(vk) + eps_c) * scale
        if decay != 0:
            step += p[k] * decay
        pk = p[k] - step
        p[k], new_m[k], new_v[k] = pk, mk, vk
        ok &= math.isfinite(pk) & math.isfinite(mk) & math.isfinite(vk)
    return ok


# The kernels as the optimizer calls them: kernel(optimizer, p, g, state, old_p, new_state) -> all finite, in
# place (``in_place``). The arrays are C-contiguous of one dtype and shape (the optimizer checks), so
# reshape(-1) makes views; the compiled loops cannot raise once they run.


def in_place(kernel: Any) -> Any:
    """Mark ``kernel`` as updating the parameter in place (the hook's ``in_place`` attribute)."""
    kernel.in_place = True
    return kernel


@in_place
def sgd(opt: tn.SGD, p: np.ndarray, g: np.ndarray, state: list, old_p: np.ndarray, new_state: list) -> bool:
    return _sgd(p.reshape(-1), g.reshape(-1), old_p.reshape(-1), np.array([opt.lr], p.dtype))


@in_place
def momentum(opt: tn.Momentum, p: np.ndarray, g: np.ndarray, state: list, old_p: np.ndarray, new_state: list) -> bool:
    (v,), (new_v,) = state, new_state
    return _momentum(p.reshape(-1), g.reshape(-1), v.reshape(-1), old_p.reshape(-1), new_v.reshape(-1),
                     np.array([opt.lr, opt.momentum], p.dtype), opt.nesterov)


@in_place
def rmsprop(opt: tn.RMSProp, p: np.ndarray, g: np.ndarray, state: list, old_p: np.ndarray, new_state: list) -> bool:
    (s,), (new_s,) = state, new_state
    return _rmsprop(p.reshape(-1), g.reshape(-1), s.reshape(-1), old_p.reshape(-1), new_s.reshape(-1),
                    np.array([opt.lr, 1.0 - opt.rho, opt.eps], p.dtype))


@in_place
def adam(opt: tn.Adam, p: np.ndarray, g: np.ndarray, state: list, old_p: np.ndarray, new_state: list) -> bool:
    (m, v), (new_m, new_v) = state, new_state
    c = math.sqrt(1.0 - opt.beta2**opt.steps)
    decay = opt.lr * opt.weight_decay if isinstance(opt, tn.AdamW) else 0.0
    h = np.array([1.0 - opt.beta1, 1.0 - opt.beta2, opt.eps * c, opt.lr * c / (1.0 - opt.beta1**opt.steps), decay],
                 p.dtype)
    return _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                 old_p.reshape(-1), new_m.reshape(-1), new_v.reshape(-1), h)


@_jit
def outer(a, b, out):  # type: ignore[no-untyped-def]
    """out[i, j] = a[i] b[j] (the core's primitive "outer"): one write of ``out`` from start to end, where
    NumPy's loop restarts at every row and BLAS packs its operands first."""
    for i in range(a.size):
        ai = a[i]
        for j in range(b.size):
            out[i, j] = ai * b[j]


#: what the plugin registers: {optimizer class: (its state names, as its propose names them; kernel)}
KERNELS: dict[type, tuple[tuple[str, ...], Any]] = {
    tn.SGD: ((), sgd),
    tn.Momentum: (("velocity",), momentum),
    tn.RMSProp: (("square",), rmsprop),
    tn.Adam: (("m", "v"), adam),
    tn.AdamW: (("m", "v"), adam),
}

#: {primitive name: kernel} (hook ``tn_array_kernels``)
ARRAY_KERNELS: dict[str, Any] = {"outer": outer}
