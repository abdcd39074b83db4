"""Backpropagation through time against finite differences (float64), on random sizes."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tests.recurrent.references import LAYERS, SMOOTH, random_case
from tn_core.testing import check_gradients, check_system_gradients
from tn_layers_recurrent import GRU, LSTM, RNN, Bidirectional


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", SMOOTH)
def test_gradients_wrt_inputs_initial_carries_and_params(name: str, seed: int) -> None:
    rng, n, steps, features, size = random_case(seed, max_steps=7)
    structure = LAYERS[name](size, bool(rng.integers(2)))
    carries = len(structure.carry_names)
    for given in range(carries + 1):  # the sequence alone, then with each initial carry
        shapes = [(steps, *features)] + [(size,)] * given
        check_gradients(structure, shapes, batch_size=n, seed=seed, max_coords=25)


#: gate biases that keep the carry open, so 50 steps back the gradient is still large
CARRY_BIASES = {"rnn-tanh": None, "lstm": slice(0, 3), "gru": slice(0, 3)}


@pytest.mark.parametrize("name", list(CARRY_BIASES))
def test_gradients_through_50_steps(name: str) -> None:
    """Only the final state is scored, so dE/dx_0 and dE/d(initial carries) cross all 50 steps."""
    structure = LAYERS[name](3, False)
    x, carries = tn.Input((50, 2))(), [tn.Input((3,))() for _ in structure.carry_names]
    inst = structure(x, *carries, rng=np.random.default_rng(0))
    if CARRY_BIASES[name] is not None:
        inst.params["biases"][CARRY_BIASES[name]] = 4.0
    inst.params["weights"][:, 3:] *= 0.3
    s = tn.System([x, *carries], [inst[1]], dtype=np.float64)
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(2, 50, 2))] + [rng.normal(size=(2, 3)) for _ in carries]
    targets = [rng.normal(size=(2, 3))]
    _, xgrads = s.gradients(inputs, targets)
    assert np.abs(xgrads[0][:, 0]).max() > 10 * 1e-6  # well above the check's absolute tolerance
    check_system_gradients(s, inputs, targets, max_coords=15)


@pytest.mark.parametrize("merge", ["concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("layer", [RNN, LSTM, GRU])
def test_bidirectional_gradients(layer, merge: str) -> None:  # type: ignore[no-untyped-def]
    check_gradients(Bidirectional(layer(3), merge=merge), [(5, 2)], batch_size=2, max_coords=20)
