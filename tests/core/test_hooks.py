"""Training-time hooks: a plugin sees and may change the gradients around every update."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core.plugins import get_plugins


class Recorder:
    """Logs each update and scales gradients (stands in for clipping or an Allreduce)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.events: list[tuple] = []

    @tn.hookimpl
    def tn_before_update(self, system, grads, optimizer, step) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("before", step, type(optimizer).__name__))
        for group in grads.values():
            for g in group.values():
                g *= self.factor

    @tn.hookimpl
    def tn_after_update(self, system, grads, optimizer, step, loss) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("after", step, round(loss, 6)))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    plugin = Recorder(factor=0.0)
    get_plugins().register(plugin, "recorder-test")
    yield plugin
    get_plugins().unregister("recorder-test")


def test_hooks_wrap_each_update_and_may_change_gradients(recorder: Recorder) -> None:
    x = tn.Input((3,))()
    y = Affine(2)(x)
    s = tn.System([x], [y], dtype=np.float64)
    before = y.params["weights"].copy()
    losses = []
    for _ in range(2):
        _, state = s.guess([np.ones((4, 3))], return_state=True)
        losses.append(s.learn(state, [np.zeros((4, 2))], method="sgd", scale=0.1))
    np.testing.assert_array_equal(y.params["weights"], before)  # the hook zeroed every gradient
    assert recorder.events == [
        ("before", 0, "SGD"), ("after", 0, round(losses[0], 6)),
        ("before", 1, "SGD"), ("after", 1, round(losses[1], 6)),
    ]


def test_a_learning_rate_schedule_as_a_hook() -> None:
    class Halve:
        @tn.hookimpl
        def tn_before_update(self, system, grads, optimizer, step) -> None:  # type: ignore[no-untyped-def]
            optimizer.lr = 0.1 * 0.5**step

    get_plugins().register(Halve(), "halve-test")
    try:
        x = tn.Input((1,))()
        y = Affine(1, init="zeros")(x)
        s = tn.System([x], [y], dtype=np.float64)
        for _ in range(3):
            _, state = s.guess([np.zeros((1, 1))], return_state=True)
            s.learn(state, [np.ones((1, 1))], method="sgd")  # dE/db = b - 1
        b = 0.0
        for step in range(3):
            b -= 0.1 * 0.5**step * (b - 1.0)
        assert y.params["biases"][0] == pytest.approx(b)
    finally:
        get_plugins().unregister("halve-test")
