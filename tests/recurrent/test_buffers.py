"""The recurrent layers' reused arrays (kit.reusable_empty): never while a cache, an output or a view refers to them."""

from __future__ import annotations

import numpy as np

import tn_core as tn


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
