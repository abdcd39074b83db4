"""Test-only helpers: random layer configurations, and a layer's own reference run as a Structure.

The references themselves (each cell's ``step`` and ``step_backward``) live
in tn_layers_recurrent.recurrent beside the fast path they define.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_layers_recurrent import GRU, LSTM, RNN, Recurrent

#: every cell, and RNN with an activation other than its default
LAYERS = {
    "rnn-tanh": lambda size, back: RNN(size, go_backwards=back),
    "rnn-relu": lambda size, back: RNN(size, activation="relu", go_backwards=back),
    "rnn-sigmoid": lambda size, back: RNN(size, activation="sigmoid", go_backwards=back),
    "lstm": lambda size, back: LSTM(size, go_backwards=back),
    "gru": lambda size, back: GRU(size, go_backwards=back),
}
#: the cells whose gradients finite differences can check (ReLU's kink at 0 would trip them)
SMOOTH = [name for name in LAYERS if name != "rnn-relu"]


def random_case(seed: int, max_steps: int = 8) -> tuple[np.random.Generator, int, int, tuple[int, ...], int]:
    """(rng, batch, steps, per-step feature shape of 1 or 2 axes, size), all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    features = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(1, 3)))
    return rng, int(rng.integers(1, 5)), int(rng.integers(1, max_steps + 1)), features, int(rng.integers(1, 6))


@attrs.define
class Reference(kit.Structure):
    """``layer`` run by its reference (``reference_forward``/``reference_backward``), so that
    ``check_gradients`` can check the reference itself against finite differences."""

    arity: ClassVar[tuple[int, int | None]] = (1, 3)
    layer: Recurrent

    def build(self, input_shapes: list[kit.Shape], rng: np.random.Generator) -> kit.BuildResult:
        return self.layer.build_checked(input_shapes, rng)

    def forward(self, params: kit.Params, inputs: list[np.ndarray], training: bool) -> kit.ForwardResult:
        return self.layer.reference_forward(params, inputs)

    def backward(self, params: kit.Params, cache: Any, grads: list[np.ndarray]) -> kit.BackwardResult:
        return self.layer.reference_backward(params, cache, grads)
