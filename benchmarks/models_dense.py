"""The seed's MLP: 32x32 -> Dense (15,15) tanh -> Dense (15,15) tanh -> Dense 26 sigmoid, Adam, ce."""

from __future__ import annotations

import tn_core as tn
from benchmarks.harness import Spec


def mlp_tn() -> tuple[tn.System, str, str]:
    x = tn.Input((32, 32))()
    h = tn.Dense((15, 15), activation="tanh")(x)
    h = tn.Dense((15, 15), activation="tanh")(h)
    y = tn.Dense((26,), activation="sigmoid")(h)
    return tn.System(inputs=[x], outputs=[y]), "ce", "adam"


def mlp_torch():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    model = nn.Sequential(
        nn.Flatten(), nn.Linear(1024, 225), nn.Tanh(), nn.Linear(225, 225), nn.Tanh(), nn.Linear(225, 26)
    )
    bce = nn.BCEWithLogitsLoss(reduction="sum")

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bce(out, target) / out.shape[0]

    return model, loss, torch.optim.Adam(model.parameters(), lr=1e-3)


SPECS = [Spec("mlp", (32, 32), 26, mlp_tn, mlp_torch)]
