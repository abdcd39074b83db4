"""Dense models, built the same way in tensornet, PyTorch and JAX (Adam, lr 1e-3, cross-entropy on sigmoid outputs).

- ``mlp``: the seed's MLP, 32x32 -> Dense (15,15) tanh -> Dense (15,15) tanh -> Dense 26 sigmoid; also
  written by hand in plain NumPy (``MLPFloor``, the floor: no framework at all).
- ``residual``: 32x32 -> Dense 128 tanh -> 2 x ResWrap(Dense 64 tanh) -> Dense 26 sigmoid, where
  ResWrap(cell) is y = tanh(x + W cell(x) + b) (the seed's residual block).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.special import expit

import tn_core as tn
from benchmarks.harness import Spec
from tn_core.neuron import outer


def mlp_tn() -> tuple[tn.System, str, str]:
    x = tn.Input((32, 32))()
    h = tn.Dense((15, 15), activation="tanh")(x)
    h = tn.Dense((15, 15), activation="tanh")(h)
    y = tn.Dense((26,), activation="sigmoid")(h)
    return tn.System(inputs=[x], outputs=[y]), "ce", "adam"


def _bce_per_sample():  # type: ignore[no-untyped-def]
    """BCE on logits, summed over a sample's outputs and averaged over the batch (tensornet's ce)."""
    import torch
    from torch import nn

    bce = nn.BCEWithLogitsLoss(reduction="sum")

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bce(out, target) / out.shape[0]

    return loss


def mlp_torch():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    model = nn.Sequential(
        nn.Flatten(), nn.Linear(1024, 225), nn.Tanh(), nn.Linear(225, 225), nn.Tanh(), nn.Linear(225, 26)
    )
    return model, _bce_per_sample(), torch.optim.Adam(model.parameters(), lr=1e-3)


def bce_per_sample_jax(logits, target):  # type: ignore[no-untyped-def]
    """tensornet's ce on logits in JAX: sum over a sample's outputs of the stable BCE, averaged over the batch."""
    import jax.numpy as jnp

    per_element = jnp.maximum(logits, 0) - logits * target + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    return per_element.sum() / logits.shape[0]


def dense_init_jax(sizes: list[int], seed: int = 0) -> list[tuple]:  # type: ignore[type-arg]
    """[(W (in, out), b (out,))] for consecutive ``sizes``, Glorot-uniform weights, zero biases (float32)."""
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        limit = np.sqrt(6 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
        layers.append((jnp.asarray(w), jnp.zeros(fan_out, jnp.float32)))
    return layers


def mlp_jax():  # type: ignore[no-untyped-def]
    import jax.numpy as jnp

    def loss(params, x, y):  # type: ignore[no-untyped-def]
        (w1, b1), (w2, b2), (w3, b3) = params
        h = jnp.tanh(x.reshape(x.shape[0], -1) @ w1 + b1)
        h = jnp.tanh(h @ w2 + b2)
        return bce_per_sample_jax(h @ w3 + b3, y)

    return dense_init_jax([1024, 225, 225, 26]), loss


MLP_SIZES = (1024, 225, 225, 26)  # the mlp's layer widths, input first
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


def mlp_layer_views(flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(weights (out, in), biases (out,))] per layer of the mlp: views of the 1-d ``flat``, back to back."""
    views, start = [], 0
    for fan_in, fan_out in itertools.pairwise(MLP_SIZES):
        weights = flat[start:start + fan_out * fan_in].reshape(fan_out, fan_in)
        start += fan_out * fan_in
        views.append((weights, flat[start:start + fan_out]))
        start += fan_out
    return views


def adam_overwriting():  # type: ignore[no-untyped-def]
    """tn-accel's Adam loop (no weight decay) with p, m and v overwritten in place and no old value kept: the
    update of a framework that does not undo a non-finite step. Its own function, with no array passed twice,
    so that numba's loop stays vectorized. Only to measure what keeping the old values costs."""
    import numba

    @numba.njit(nogil=True, error_model="numpy")
    def loop(p, g, m, v, h):  # type: ignore[no-untyped-def]
        for k in range(p.size):
            mk = (g[k] - m[k]) * h[0] + m[k]
            vk = (g[k] * g[k] - v[k]) * h[1] + v[k]
            p[k] = p[k] - mk / (np.sqrt(vk) + h[2]) * h[3]
            m[k], v[k] = mk, vk

    return loop


class MLPFloor:
    """The floor: the ``mlp`` training step written by hand in plain NumPy, with no framework at all.

    It does per step what a framework-free NumPy program does and nothing more (no checks, no hooks, no
    graph), so tensornet's time per step minus the floor's is the framework's cost. Calling it runs one
    step on the batch ``x`` (N, 32, 32), ``y`` (N, 26) and returns the loss before the update:

    - forward: h_0 = x flattened, h_k = tanh(h_{k-1} W_k^T + b_k) (k = 1, 2), logits z = h_2 W_3^T + b_3;
      E = sum [softplus(z) - t z] / N (tensornet's ce on the sigmoid output);
    - backward: g_3 = dE/dz = (sigmoid(z) - t) / N; dW_k = g_k^T h_{k-1} (at N = 1 the outer product by
      ``tn_core.neuron.outer``, BLAS's product, as tensornet does), db_k = sum_n g_k,
      g_{k-1} = g_k W_k (1 - h_{k-1}^2); no gradient for x;
    - Adam (lr, betas 0.9/0.999, eps 1e-8) over whole buffers, no checks.

    The parameters are one float32 buffer ``params`` (per layer, weights (out, in) then biases, like
    tensornet's packed parameters; ``layers`` holds the views), their gradients ``grads`` (same layout,
    ``grad_layers``); every work array is allocated once. ``params`` (optional): initial values in that
    layout, copied in; by default Glorot-uniform weights and zero biases. ``fused``: Adam as tn-accel's fused
    kernel (``tn_accel.kernels._adam``) where True, as NumPy operations with one scratch buffer where False;
    by default the kernel where tn-accel is importable. The kernel updates the parameters in place (the old
    values it copies aside, which tensornet keeps to undo a failed step, go to a buffer the floor never
    reads) and writes m and v into a spare pair, swapped with the current one after each step (no copy).
    Writing m and v back into the buffers it reads would be correct elementwise, but numba's loop then
    falls back to scalar code, about 7x slower. ``keep_old=False`` (with the kernel) runs Adam as JAX's step
    does instead: p, m and v overwritten in one pass (``adam_overwriting``), nothing kept to undo a step
    that makes them non-finite.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, params: np.ndarray | None = None, fused: bool | None = None,
                 lr: float = 1e-3, keep_old: bool = True) -> None:
        n, widths = len(x), MLP_SIZES[1:]
        self.params = np.empty(sum(o * (i + 1) for i, o in itertools.pairwise(MLP_SIZES)), np.float32)
        self.grads, self.m, self.v, self.scratch = (np.zeros_like(self.params) for _ in range(4))
        self.layers, self.grad_layers = mlp_layer_views(self.params), mlp_layer_views(self.grads)
        if params is None:
            rng = np.random.default_rng(0)
            for w, b in self.layers:
                limit = math.sqrt(6 / sum(w.shape))
                w[...] = rng.uniform(-limit, limit, w.shape)
                b[...] = 0
        else:
            self.params[...] = params
        self.x, self.y, self.lr, self.t = x.reshape(n, -1), y, lr, 0
        self.h = [self.x] + [np.empty((n, w), np.float32) for w in widths]  # h_0, h_1, h_2, z
        self.g = [np.empty((n, w), np.float32) for w in widths]  # g_1, g_2, g_3
        self.tanh_slope = [np.empty((n, w), np.float32) for w in widths[:-1]]  # 1 - h_k^2
        self.kernel = None
        if fused or fused is None:
            try:
                from tn_accel.kernels import _adam
            except ImportError:
                if fused:
                    raise
            else:
                self.kernel = _adam if keep_old else adam_overwriting()
                # (1 - beta1, 1 - beta2, eps c, scale, decay): c and scale change each step
                self.h_kernel = np.array([1 - ADAM_BETA1, 1 - ADAM_BETA2, 0, 0, 0], np.float32)
                self.old_params = np.empty_like(self.params) if keep_old else None
                self.spare_state = (np.empty_like(self.params), np.empty_like(self.params))

    def __call__(self) -> float:
        h, g, y = self.h, self.g, self.y
        n = len(y)
        for k, (w, b) in enumerate(self.layers):
            np.matmul(h[k], w.T, out=h[k + 1])
            h[k + 1] += b
            if k + 1 < len(self.layers):
                np.tanh(h[k + 1], out=h[k + 1])
        z = h[-1]
        loss = float(np.sum(np.logaddexp(0, z) - y * z)) / n
        expit(z, out=g[-1])
        g[-1] -= y
        g[-1] *= 1 / n
        for k in reversed(range(len(self.layers))):
            (w, _), (dw, db) = self.layers[k], self.grad_layers[k]
            if n == 1:
                outer(g[k][0], h[k][0], dw)
            else:
                np.matmul(g[k].T, h[k], out=dw)
            np.sum(g[k], axis=0, out=db)
            if k:
                slope = self.tanh_slope[k - 1]
                np.multiply(h[k], h[k], out=slope)
                np.subtract(1, slope, out=slope)
                np.matmul(g[k], w, out=g[k - 1])
                g[k - 1] *= slope
        self.adam()
        return loss

    def adam(self) -> None:
        """m += (g - m)(1 - beta1), v += (g^2 - v)(1 - beta2), p -= lr c / (1 - beta1^t) m / (sqrt(v) + eps c),
        c = sqrt(1 - beta2^t) (Adam with its bias corrections folded into the scalars)."""
        p, grads, m, v, s = self.params, self.grads, self.m, self.v, self.scratch
        self.t += 1
        c = math.sqrt(1 - ADAM_BETA2**self.t)
        scale = self.lr * c / (1 - ADAM_BETA1**self.t)
        if self.kernel is not None:
            self.h_kernel[2:4] = ADAM_EPS * c, scale
            if self.old_params is None:
                self.kernel(p, grads, m, v, self.h_kernel)
                return
            new_m, new_v = self.spare_state
            self.kernel(p, grads, m, v, self.old_params, new_m, new_v, self.h_kernel)
            self.spare_state = (m, v)
            self.m, self.v = new_m, new_v
            return
        np.subtract(grads, m, out=s)
        s *= 1 - ADAM_BETA1
        m += s
        np.multiply(grads, grads, out=s)
        s -= v
        s *= 1 - ADAM_BETA2
        v += s
        np.sqrt(v, out=s)
        s += ADAM_EPS * c
        np.divide(m, s, out=s)
        s *= scale
        p -= s


def residual_tn() -> tuple[tn.System, str, str]:
    x = tn.Input((32, 32))()
    h = tn.Dense(128, activation="tanh")(x)
    for _ in range(2):
        h = tn.ResWrap(tn.Dense(64, activation="tanh"))(h)
    y = tn.Dense(26, activation="sigmoid")(h)
    return tn.System(inputs=[x], outputs=[y]), "ce", "adam"


def residual_torch():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class ResWrap(nn.Module):
        def __init__(self, size: int, inner: int) -> None:
            super().__init__()
            self.cell, self.proj = nn.Linear(size, inner), nn.Linear(inner, size)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x + self.proj(torch.tanh(self.cell(x))))

    model = nn.Sequential(
        nn.Flatten(), nn.Linear(1024, 128), nn.Tanh(), ResWrap(128, 64), ResWrap(128, 64), nn.Linear(128, 26)
    )
    return model, _bce_per_sample(), torch.optim.Adam(model.parameters(), lr=1e-3)


SPECS = [
    Spec("mlp", (32, 32), 26, mlp_tn, mlp_torch, mlp_jax, build_numpy=MLPFloor),
    Spec("residual", (32, 32), 26, residual_tn, residual_torch),
]
