"""Work arrays reused across steps: never while anything (a cache, an output, a view) still refers to them."""

from __future__ import annotations

import numpy as np

import tn_core as tn
from tn_layers_recurrent import buffers


def test_an_array_is_reused_only_once_nothing_refers_to_it() -> None:
    held = [buffers.empty((3, 5), np.float32) for _ in range(buffers.KEEP + 3)]
    assert len({id(a) for a in held}) == len(held)
    view = held[0][1:]
    first = id(held[0])  # the pool keeps it alive, so the id stays its own
    del held
    again = buffers.empty((3, 5), np.float32)
    assert id(again) != first  # the view still refers to it
    assert again.shape == (3, 5) and again.dtype == np.float32
    del view, again
    assert id(buffers.empty((3, 5), np.float32)) == first
    assert id(buffers.empty((3, 5), np.float64)) != first


def test_outputs_and_states_of_earlier_steps_are_never_overwritten() -> None:
    rng = np.random.default_rng(0)
    x = tn.Input((6, 3))()
    lstm = tn.LSTM(4)(x)
    gru = tn.GRU(4)(lstm)
    s = tn.System([x], [gru[0], lstm[2]], dtype=np.float64)
    data = rng.normal(size=(5, 6, 3))
    targets = [rng.normal(size=(5, 6, 4)), rng.normal(size=(5, 4))]
    outputs, state = s.guess([data], return_state=True)
    kept = [o.copy() for o in outputs]
    pgrads, _ = s.backward(state, s.loss_gradients(state, targets, "quad")[1])
    for _ in range(3):  # other batches of the same shape, forward and backward
        s.gradients([rng.normal(size=(5, 6, 3))], targets)
    for got, want in zip(outputs, kept):
        np.testing.assert_array_equal(got, want)
    again, _ = s.backward(state, s.loss_gradients(state, targets, "quad")[1])
    for inst, grads in pgrads.items():
        for key, g in grads.items():
            np.testing.assert_array_equal(again[inst][key], g)
