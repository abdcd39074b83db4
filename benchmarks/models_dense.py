"""Dense models, built the same way in tensornet, PyTorch and JAX (Adam, lr 1e-3, cross-entropy on sigmoid outputs).

- ``mlp``: the seed's MLP, 32x32 -> Dense (15,15) tanh -> Dense (15,15) tanh -> Dense 26 sigmoid.
- ``residual``: 32x32 -> Dense 128 tanh -> 2 x ResWrap(Dense 64 tanh) -> Dense 26 sigmoid, where
  ResWrap(cell) is y = tanh(x + W cell(x) + b) (the seed's residual block).
"""

from __future__ import annotations

import itertools

import numpy as np

import tn_core as tn
from benchmarks.harness import Spec


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
    Spec("mlp", (32, 32), 26, mlp_tn, mlp_torch, mlp_jax),
    Spec("residual", (32, 32), 26, residual_tn, residual_torch),
]
