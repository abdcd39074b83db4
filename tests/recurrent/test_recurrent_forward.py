"""Forward passes against step-by-step references; go_backwards; slots; Bidirectional merging."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.recurrent import reference
from tn_layers_recurrent import GRU, LSTM, RNN, Bidirectional


def random_case(seed: int) -> tuple[np.random.Generator, int, int, tuple[int, ...], int]:
    """(rng, batch, steps, per-step feature shape, size) drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    features = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(1, 3)))
    return rng, int(rng.integers(1, 5)), int(rng.integers(1, 9)), features, int(rng.integers(1, 6))


def run(structure: tn.Structure, inputs: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], dict]:
    _, params = structure.build_checked([x.shape[1:] for x in inputs], np.random.default_rng(seed))
    outs, _ = structure.forward(params, inputs, training=False)
    return outs, params


def reference_of(structure: tn.Structure, x: np.ndarray, params: dict, carries: list[np.ndarray]) -> list:
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    if structure.go_backwards:
        flat = flat[:, ::-1]
    w, b = params["weights"], params["biases"]
    if isinstance(structure, LSTM):
        return reference.lstm(flat, w, b, *carries)
    if isinstance(structure, GRU):
        return reference.gru(flat, w, b, *carries)
    return reference.rnn(flat, w, b, *carries, activation=structure.activation.forward)


LAYERS = [
    lambda size: RNN(size),
    lambda size: RNN(size, activation="relu"),
    lambda size: LSTM(size),
    lambda size: GRU(size),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("make", LAYERS, ids=["rnn-tanh", "rnn-relu", "lstm", "gru"])
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("with_carries", [False, True])
def test_matches_step_by_step_reference(make, seed: int, backwards: bool, with_carries: bool) -> None:  # type: ignore[no-untyped-def]
    rng, n, steps, features, size = random_case(seed)
    structure = make(size)
    structure = attrs.evolve(structure, go_backwards=backwards)
    x = rng.normal(size=(n, steps, *features))
    carries = [rng.normal(size=(n, size)) for _ in structure.carry_names]
    outs, params = run(structure, [x, *carries] if with_carries else [x], seed)
    expected = reference_of(structure, x, params, carries if with_carries else [np.zeros((n, size))] * len(carries))
    assert [o.shape for o in outs] == [(n, steps, size)] + [(n, size)] * len(carries)
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


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
    """The seed's LSTM skipped i; with i closed (bias -inf-ish) nothing enters the memory."""
    x = np.random.default_rng(2).normal(size=(2, 4, 3))
    _, params = LSTM(2).build_checked([(4, 3)], np.random.default_rng(0))
    params["biases"][2:4] = -50.0
    outs, _ = LSTM(2).forward(params, [x], training=False)
    np.testing.assert_allclose(outs[2], 0.0, atol=1e-15)


@pytest.mark.parametrize("merge", ["concat", "sum", "ave", "mul"])
def test_bidirectional_merges_the_two_directions_in_time_order(merge: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 3))
    outs, params = run(Bidirectional(LSTM(4), merge=merge), [x], 0)
    own = {d: {k.split("/")[1]: v for k, v in params.items() if k.startswith(d + "/")} for d in ("forward", "backward")}
    assert sorted(params) == ["backward/biases", "backward/weights", "forward/biases", "forward/weights"]
    ahead = reference.lstm(x, own["forward"]["weights"], own["forward"]["biases"], *[np.zeros((2, 4))] * 2)
    behind = reference.lstm(x[:, ::-1], own["backward"]["weights"], own["backward"]["biases"], *[np.zeros((2, 4))] * 2)
    a, b = ahead[0], behind[0][:, ::-1]
    merged = {"concat": np.concatenate([a, b], axis=2), "sum": a + b, "ave": (a + b) / 2, "mul": a * b}[merge]
    np.testing.assert_allclose(outs[0], merged, rtol=1e-10)
    for got, want in zip(outs[1:], [*ahead[1:], *behind[1:]]):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert not np.allclose(own["forward"]["weights"], own["backward"]["weights"])
