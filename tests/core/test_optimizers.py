"""Each optimizer's update against a hand computation over a few steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tn_core as tn
from tn_core.optimizers import resolve_optimizer

GRADS = [np.array([0.5, -1.0]), np.array([0.25, 2.0]), np.array([-1.0, 0.1])]
START = np.array([1.0, -2.0])


def run(optimizer: tn.Optimizer) -> np.ndarray:
    p = START.copy()
    for g in GRADS:
        optimizer.step([p], [g.copy()])
    return p


def test_sgd() -> None:
    expected = START - 0.1 * sum(GRADS)
    np.testing.assert_allclose(run(tn.SGD(lr=0.1)), expected)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum(nesterov: bool) -> None:
    p, v = START.copy(), np.zeros(2)
    for g in GRADS:
        v = 0.9 * v + g
        p = p - 0.1 * (g + 0.9 * v if nesterov else v)
    np.testing.assert_allclose(run(tn.Momentum(lr=0.1, momentum=0.9, nesterov=nesterov)), p)


def test_rmsprop() -> None:
    p, s = START.copy(), np.zeros(2)
    for g in GRADS:
        s = 0.9 * s + 0.1 * g * g
        p = p - 0.01 * g / (np.sqrt(s) + 1e-8)
    np.testing.assert_allclose(run(tn.RMSProp(lr=0.01)), p)


def hand_adam(decay: float) -> np.ndarray:
    p, m, v = START.copy(), np.zeros(2), np.zeros(2)
    for t, g in enumerate(GRADS, start=1):
        p = p - 0.01 * decay * p
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return p


def test_adam() -> None:
    np.testing.assert_allclose(run(tn.Adam(lr=0.01)), hand_adam(0.0))


def test_adamw() -> None:
    np.testing.assert_allclose(run(tn.AdamW(lr=0.01, weight_decay=0.1)), hand_adam(0.1))


def test_first_adam_step_moves_each_weight_by_lr() -> None:
    p = START.copy()
    tn.Adam(lr=0.01).step([p], [np.array([3.0, -1e-3])])
    np.testing.assert_allclose(p - START, [-0.01, 0.01], rtol=1e-4)


def test_parameters_without_gradient_are_left_alone() -> None:
    a, b = START.copy(), START.copy()
    opt = tn.Adam(lr=0.1)
    opt.step([a, b], [np.ones(2), None])
    np.testing.assert_array_equal(b, START)
    assert not np.array_equal(a, START)


def test_state_round_trip_resumes_exactly() -> None:
    first = tn.Adam(lr=0.01)
    p = START.copy()
    first.step([p], [GRADS[0]])
    second = tn.Adam(lr=0.01)
    second.load_state(first.state())
    q = p.copy()
    first.step([p], [GRADS[1]])
    second.step([q], [GRADS[1]])
    np.testing.assert_array_equal(p, q)


def test_names_and_validation() -> None:
    for name in ["sgd", "momentum", "rmsprop", "adam", "adamw", "Adam"]:
        assert isinstance(resolve_optimizer(name), tn.Optimizer)
    assert resolve_optimizer("sgd", lr=0.5).lr == 0.5
    with pytest.raises(tn.UnknownNameError, match="did you mean 'adam'"):
        resolve_optimizer("adm")
    with pytest.raises(tn.ConfigError, match="SGD: lr must be a real number > 0"):
        tn.SGD(lr=-1.0)
    with pytest.raises(tn.ConfigError, match="momentum must be a real number in"):
        tn.Momentum(momentum=1.5)
    assert math.isclose(tn.Adam().lr, 1e-3)


@pytest.mark.parametrize("bad", ["a", True, float("nan"), float("inf"), [0.1]])
def test_non_numeric_hyperparameters_are_config_errors(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError, match="Adam: lr must be a real number > 0"):
        tn.Adam(lr=bad)
    with pytest.raises(tn.ConfigError, match="AdamW: weight_decay must be a real number >= 0"):
        tn.AdamW(weight_decay=bad)
    with pytest.raises(tn.ConfigError, match="RMSProp: lr must be a real number > 0"):
        resolve_optimizer("rmsprop", lr=bad)
    with pytest.raises(tn.ConfigError, match="SGD: lr must be a real number > 0"):
        tn.SGD(lr=None)


def test_a_refused_learning_rate_leaves_the_optimizer_unchanged() -> None:
    adam = tn.Adam(lr=0.01)
    with pytest.raises(tn.ConfigError):
        resolve_optimizer(adam, lr=-1)
    assert adam.lr == 0.01
