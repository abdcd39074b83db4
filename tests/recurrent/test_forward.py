"""Forward passes: go_backwards, slots, the LSTM's gates, Bidirectional merging (the references: test_reference.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tn_core as tn
from tn_layers_recurrent import GRU, LSTM, RNN, Bidirectional


def run(structure: tn.Structure, inputs: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], dict]:
    _, params = structure.build_checked([x.shape[1:] for x in inputs], np.random.default_rng(seed))
    outs, _ = structure.forward(params, inputs, training=False)
    return outs, params


@pytest.mark.parametrize("layer", [RNN, LSTM, GRU])
def test_go_backwards_reads_the_reversed_sequence_and_keeps_processing_order(layer) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 6, 2))
    backwards, params = run(layer(4, go_backwards=True), [x], 0)
    forwards, _ = layer(4).forward(params, [x[:, ::-1]], training=False)
    for got, want in zip(backwards, forwards):
        np.testing.assert_array_equal(got, want)
    # Row 0 of slot 0 is the state after reading only the last step x_{T-1}:
    first, _ = layer(4).forward(params, [x[:, -1:]], training=False)
    np.testing.assert_allclose(backwards[0][:, 0], first[0][:, 0])
    np.testing.assert_array_equal(backwards[0][:, -1], backwards[1])


def test_lstm_default_biases_open_the_forget_gate() -> None:
    _, params = LSTM(3).build_checked([(5, 2)], np.random.default_rng(0))
    np.testing.assert_array_equal(params["biases"], [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert params["weights"].shape == (12, 3 + 2)
    w_h = params["weights"][:, :3]
    np.testing.assert_allclose(w_h.T @ w_h, np.eye(3), atol=1e-12)  # orthogonal recurrent columns


def test_lstm_uses_its_input_gate() -> None:
    """The original library's LSTM skipped i; with i closed (bias -inf-ish) nothing enters the memory."""
    x = np.random.default_rng(2).normal(size=(2, 4, 3))
    _, params = LSTM(2).build_checked([(4, 3)], np.random.default_rng(0))
    params["biases"][2:4] = -50.0
    outs, _ = LSTM(2).forward(params, [x], training=False)
    np.testing.assert_allclose(outs[2], 0.0, atol=1e-15)


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_one_lstm_step_by_hand_fixes_the_gate_order() -> None:
    """One unit, one step: the rows of W and b are the gates f, i, g, o, the columns [h, x]."""
    rng = np.random.default_rng(4)
    w, b, (h, c, x) = rng.normal(size=(4, 2)), rng.normal(size=4), rng.normal(size=3)
    f, i, g, o = (w[k, 0] * h + w[k, 1] * x + b[k] for k in range(4))
    memory = sigmoid(f) * c + sigmoid(i) * math.tanh(g)
    state = sigmoid(o) * math.tanh(memory)
    outs, _ = LSTM(1).forward({"weights": w, "biases": b}, [np.full((1, 1, 1), x), np.full((1, 1), h),
                                                            np.full((1, 1), c)], training=False)
    np.testing.assert_allclose([o.item() for o in outs], [state, state, memory], rtol=1e-12)


def test_one_gru_step_by_hand_fixes_the_gate_order() -> None:
    """One unit, one step: the rows are the gates u, r, n; r scales the candidate's recurrent product."""
    rng = np.random.default_rng(5)
    w, b, (h, x) = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=2)
    u, r = (sigmoid(w[k, 0] * h + w[k, 1] * x + b[k]) for k in range(2))
    n = math.tanh(w[2, 1] * x + b[2] + r * (w[2, 0] * h))
    state = (1 - u) * n + u * h
    outs, _ = GRU(1).forward({"weights": w, "biases": b}, [np.full((1, 1, 1), x), np.full((1, 1), h)], training=False)
    np.testing.assert_allclose([o.item() for o in outs], [state, state], rtol=1e-12)


@pytest.mark.parametrize("merge", ["concat", "sum", "ave", "mul"])
def test_bidirectional_merges_the_two_directions_in_time_order(merge: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 3))
    outs, params = run(Bidirectional(LSTM(4), merge=merge), [x], 0)
    own = {d: {k.split("/")[1]: v for k, v in params.items() if k.startswith(d + "/")} for d in ("forward", "backward")}
    assert sorted(params) == ["backward/biases", "backward/weights", "forward/biases", "forward/weights"]
    ahead, _ = LSTM(4).reference_forward(own["forward"], [x])
    behind, _ = LSTM(4).reference_forward(own["backward"], [x[:, ::-1]])
    a, b = ahead[0], behind[0][:, ::-1]
    merged = {"concat": np.concatenate([a, b], axis=2), "sum": a + b, "ave": (a + b) / 2, "mul": a * b}[merge]
    np.testing.assert_allclose(outs[0], merged, rtol=1e-10)
    for got, want in zip(outs[1:], [*ahead[1:], *behind[1:]]):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert not np.allclose(own["forward"]["weights"], own["backward"]["weights"])
