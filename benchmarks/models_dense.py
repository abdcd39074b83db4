"""Dense models, built the same way in tensornet and PyTorch (Adam, lr 1e-3, cross-entropy on sigmoid outputs).

- ``mlp``: the seed's MLP, 32x32 -> Dense (15,15) tanh -> Dense (15,15) tanh -> Dense 26 sigmoid.
- ``residual``: 32x32 -> Dense 128 tanh -> 2 x ResWrap(Dense 64 tanh) -> Dense 26 sigmoid, where
  ResWrap(cell) is y = tanh(x + W cell(x) + b) (the seed's residual block).
"""

from __future__ import annotations

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
    Spec("mlp", (32, 32), 26, mlp_tn, mlp_torch),
    Spec("residual", (32, 32), 26, residual_tn, residual_torch),
]
