"""The seed's recurrent nets on 32x32 block letters read row by row (32 steps of 32 features).

Two recurrent layers of 20 units, then Dense 26 sigmoid on the whole state
sequence of the second (slot 0, 32 x 20 flattened, as in the seed's
LSTMNetwork notebook); Adam, cross-entropy. The PyTorch twins compute the
same function class (nn.LSTM orders its gates i, f, g, o and has two bias
vectors; that changes the parametrization, not the function).
"""

from __future__ import annotations

from typing import Any

import tn_core as tn
from benchmarks.harness import Spec


def _recurrent_tn(layer: str) -> tuple[tn.System, str, str]:
    cell = getattr(tn, layer)
    x = tn.Input((32, 32))()
    h = cell(20)(x)
    h = cell(20)(h)
    y = tn.Dense((26,), activation="sigmoid")(h)
    return tn.System(inputs=[x], outputs=[y]), "ce", "adam"


def _recurrent_torch(layer: str) -> Any:
    import torch
    from torch import nn

    cell = getattr(nn, layer)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = cell(32, 20, batch_first=True)
            self.second = cell(20, 20, batch_first=True)
            self.out = nn.Linear(32 * 20, 26)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            states, _ = self.second(self.first(x)[0])
            return self.out(states.reshape(x.shape[0], -1))

    model = Net()
    bce = nn.BCEWithLogitsLoss(reduction="sum")

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bce(out, target) / out.shape[0]

    return model, loss, torch.optim.Adam(model.parameters(), lr=1e-3)


SPECS = [
    Spec("lstm", (32, 32), 26, lambda: _recurrent_tn("LSTM"), lambda: _recurrent_torch("LSTM")),
    Spec("rnn", (32, 32), 26, lambda: _recurrent_tn("RNN"), lambda: _recurrent_torch("RNN")),
]
