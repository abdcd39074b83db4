"""Recurrent layers inside Systems: stacking, weight sharing, hand-unrolled cells, dtypes, files, learning."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tn_core.testing import check_system_gradients


@pytest.mark.parametrize("seed", range(3))
def test_hand_unrolled_clone_cell_equals_rnn(seed: int) -> None:
    """The original library's way: Split the sequence, one Clone'd Dense cell per step on [state, x_t], Join."""
    rng = np.random.default_rng(seed)
    n, steps, features, size = (int(v) for v in rng.integers(1, 6, size=4))
    x, h0 = tn.Input((steps, features))(), tn.Input((size,))()
    rnn = tn.RNN(size)(x, h0)
    columns = tn.Split()(x)
    cell = tn.Clone(tn.Dense(size, activation="tanh"))
    state, states = h0, []
    for t in range(steps):
        state = cell(tn.FlatConcat()(state, columns[t]))
        states.append(state)
    hand = tn.System([x, h0], [tn.Join()(*states), state], dtype=np.float64)
    fused = tn.System([x, h0], [rnn[0], rnn[1]], dtype=np.float64)
    for key in ("weights", "biases"):
        states[0].params[key][...] = rng.normal(size=rnn.params[key].shape)
        rnn.params[key][...] = states[0].params[key]

    inputs = [rng.normal(size=(n, steps, features)), rng.normal(size=(n, size))]
    targets = [rng.normal(size=(n, steps, size)), rng.normal(size=(n, size))]
    for got, want in zip(fused.guess(inputs), hand.guess(inputs)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    p_fused, x_fused = fused.gradients(inputs, targets)
    p_hand, x_hand = hand.gradients(inputs, targets)
    assert list(p_hand) == [states[0]]  # one entry: the summed gradient of every use of the cell
    for key in ("weights", "biases"):
        np.testing.assert_allclose(p_fused[rnn][key], p_hand[states[0]][key], rtol=1e-10, atol=1e-12)
    for got, want in zip(x_fused, x_hand):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_cloned_lstm_sums_the_gradients_of_both_uses() -> None:
    rng = np.random.default_rng(0)
    a, b = tn.Input((5, 2))(), tn.Input((5, 2))()
    shared = tn.Clone(tn.LSTM(3))
    left, right = shared(a), shared(b)
    assert left.params is right.params
    s = tn.System([a, b], [left[1], right[0]], dtype=np.float64)
    assert len(s.groups) == 1
    check_system_gradients(s, [rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, 2))],
                           [rng.normal(size=(2, 3)), rng.normal(size=(2, 5, 3))])


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_stacked_layers_read_slot_0_and_train_with_a_fused_sigmoid(layer: str) -> None:
    rng = np.random.default_rng(0)
    x = tn.Input((6, 2, 2))()
    h = getattr(tn, layer)(4)(x)
    h = getattr(tn, layer)(3, go_backwards=True)(h)
    assert h.input_shapes == [(6, 4)]
    y = tn.Dense(5, activation="sigmoid")(h)
    assert y.input_shapes == [(6, 3)]
    s = tn.System([x], [y], dtype=np.float64)
    check_system_gradients(s, [rng.normal(size=(3, 6, 2, 2))], [rng.random((3, 5))], loss="ce", max_coords=20)


def test_bidirectional_in_a_system() -> None:
    rng = np.random.default_rng(0)
    x = tn.Input((5, 3))()
    bi = tn.Bidirectional(tn.GRU(4))(x)
    assert bi.output_shapes == [(5, 8), (4,), (4,)]
    y = tn.Dense(2)(tn.Concatenate()(bi[1], bi[2]))
    s = tn.System([x], [y, bi[0]], dtype=np.float64)
    check_system_gradients(s, [rng.normal(size=(2, 5, 3))], [rng.normal(size=(2, 2)), rng.normal(size=(2, 5, 8))])


def test_float32_stays_float32_and_one_sample_works_as_in_the_original_library() -> None:
    rng = np.random.default_rng(0)
    x = tn.Input((7, 3))()
    lstm = tn.LSTM(4)(x)
    s = tn.System([x], [lstm[0], lstm[1], lstm[2]])
    batch = rng.normal(size=(5, 7, 3)).astype(np.float32)
    outs = s.guess([batch])
    assert [o.dtype for o in outs] == [np.float32] * 3
    assert [o.shape for o in outs] == [(5, 7, 4), (5, 4), (5, 4)]
    single = s.guess([batch[2]])
    assert [o.shape for o in single] == [(7, 4), (4,), (4,)]
    for got, want in zip(single, outs):
        np.testing.assert_allclose(got, want[2], rtol=1e-5, atol=1e-6)
    _, state = s.guess([batch], return_state=True)
    s.learn(state, [np.zeros((5, 7, 4)), np.zeros((5, 4)), np.zeros((5, 4))], method="adam")
    assert all(p.dtype == np.float32 for _, _, p in s.parameters())


def test_prefixed_bidirectional_parameters_round_trip_through_a_weights_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = tn.Input((4, 2))()
    bi = tn.Bidirectional(tn.LSTM(3))(x)
    s = tn.System([x], [bi[0]], dtype=np.float64)
    data = rng.normal(size=(2, 4, 2))
    before = s.guess([data])[0]
    s.save_weights(tmp_path / "bi.npz")
    for _, _, p in s.parameters():
        p[...] = 0.0
    s.load_weights(tmp_path / "bi.npz")
    np.testing.assert_array_equal(s.guess([data])[0], before)
    assert sorted(key for _, key, _ in s.parameters()) == [
        "backward/biases", "backward/weights", "forward/biases", "forward/weights"]


def test_lstm_learns_to_add_up_a_sequence() -> None:
    """The sign of the sum over 12 steps decides the class (the last step alone gets ~60%)."""
    rng = np.random.default_rng(0)
    x = tn.Input((12, 1))()
    h = tn.LSTM(8)(x, rng=rng)
    y = tn.Dense(1, activation="sigmoid")(h[1], rng=rng)
    s = tn.System([x], [y], seed=0)
    data = rng.normal(size=(512, 12, 1)).astype(np.float32)
    labels = (data.sum(axis=1) > 0).astype(np.float32)
    for _ in range(5):
        for k in range(0, 512, 32):
            _, state = s.guess([data[k : k + 32]], return_state=True)
            s.learn(state, [labels[k : k + 32]], method="adam", scale=2e-2, loss="ce")
    test = rng.normal(size=(256, 12, 1)).astype(np.float32)
    accuracy = np.mean((s.guess([test])[0] > 0.5) == (test.sum(axis=1) > 0))
    assert accuracy > 0.9
