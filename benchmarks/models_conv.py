"""Conv nets, Adam: the seed's, without and with batch normalization (ce), and a small one (softmax_ce).

- ``conv``: 32x32 -> 3 x Conv (5,5) 5 channels "same" ReLU -> Dense 26 sigmoid.
- ``conv_bn``: the same with a BatchNorm after each Conv (after its ReLU), so that the two differ by
  the BatchNorm layers alone.
- ``small_conv``: 8x8 -> Conv (3,3) 16 channels "same" ReLU -> MaxPool (2,2) -> Dense 10 logits, softmax
  cross-entropy: a net where per-step overhead and small convolutions dominate (also in JAX).

tensornet keeps channels last (N, H, W, C; a (32, 32) image is one channel);
the PyTorch twins work in NCHW and permute back to channels last before
the Dense layer, so both compute the same function with the same parameters.
"""

from __future__ import annotations

from functools import partial

import tn_core as tn
from benchmarks.harness import Spec
from benchmarks.models_dense import _bce_per_sample


def conv_tn(batch_norm: bool = False) -> tuple[tn.System, str, str]:
    x = tn.Input((32, 32))()
    h = x
    for _ in range(3):
        h = tn.Conv((5, 5), out_shape=(5,), pad=True, activation="relu")(h)
        if batch_norm:
            h = tn.BatchNorm()(h)
    y = tn.Dense((26,), activation="sigmoid")(h)
    return tn.System(inputs=[x], outputs=[y]), "ce", "adam"


def conv_torch(batch_norm: bool = False):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class ConvNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            for channels in (1, 5, 5):
                layers += [nn.Conv2d(channels, 5, 5, padding="same"), nn.ReLU()]
                if batch_norm:
                    layers.append(nn.BatchNorm2d(5))
            self.convs = nn.Sequential(*layers)
            self.dense = nn.Linear(32 * 32 * 5, 26)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.convs(x.unsqueeze(1))  # (N, 1, 32, 32)
            return self.dense(h.permute(0, 2, 3, 1).flatten(1))  # flattened channels last, as tensornet

    model = ConvNet()
    return model, _bce_per_sample(), torch.optim.Adam(model.parameters(), lr=1e-3)


def small_conv_tn() -> tuple[tn.System, str, str]:
    x = tn.Input((8, 8))()
    h = tn.Conv((3, 3), out_shape=(16,), pad=True, activation="relu")(x)
    h = tn.MaxPool((2, 2))(h)
    y = tn.Dense((10,))(h)
    return tn.System(inputs=[x], outputs=[y]), "softmax_ce", "adam"


def small_conv_torch():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class SmallConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.pool, self.dense = nn.Conv2d(1, 16, 3, padding=1), nn.MaxPool2d(2), nn.Linear(256, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.pool(torch.relu(self.conv(x.unsqueeze(1))))  # (N, 16, 4, 4)
            return self.dense(h.permute(0, 2, 3, 1).flatten(1))

    model = SmallConv()
    return model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3)


def small_conv_jax():  # type: ignore[no-untyped-def]
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    kernel = rng.uniform(-1 / 3, 1 / 3, (3, 3, 1, 16)).astype(np.float32)  # HWIO
    dense = rng.uniform(-1 / 16, 1 / 16, (256, 10)).astype(np.float32)
    params = (jnp.asarray(kernel), jnp.zeros(16, jnp.float32), jnp.asarray(dense), jnp.zeros(10, jnp.float32))

    def loss(params, x, y):  # type: ignore[no-untyped-def]
        kernel, bias, w, b = params
        layout = ("NHWC", "HWIO", "NHWC")
        h = jax.lax.conv_general_dilated(x[..., None], kernel, (1, 1), "SAME", dimension_numbers=layout)
        h = jax.nn.relu(h + bias)
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")  # (N, 4, 4, 16)
        logits = h.reshape(h.shape[0], -1) @ w + b
        return -(y * jax.nn.log_softmax(logits)).sum() / x.shape[0]

    return params, loss


SPECS = [
    Spec("conv", (32, 32), 26, conv_tn, conv_torch),
    Spec("conv_bn", (32, 32), 26, partial(conv_tn, batch_norm=True), partial(conv_torch, batch_norm=True)),
    Spec("small_conv", (8, 8), 10, small_conv_tn, small_conv_torch, small_conv_jax),
]
