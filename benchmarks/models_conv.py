"""The seed's conv net, without and with batch normalization, Adam, ce.

- ``conv``: 32x32 -> 3 x Conv (5,5) 5 channels "same" ReLU -> Dense 26 sigmoid.
- ``conv_bn``: the same with a BatchNorm after each Conv (after its ReLU), so that the two differ by
  the BatchNorm layers alone.

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


SPECS = [
    Spec("conv", (32, 32), 26, conv_tn, conv_torch),
    Spec("conv_bn", (32, 32), 26, partial(conv_tn, batch_norm=True), partial(conv_torch, batch_norm=True)),
]
