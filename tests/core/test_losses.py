"""Losses: values against their formulas, gradients against finite differences, fusion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, log_softmax, softmax

import tn_core as tn
from tn_core.losses import resolve_loss


def finite_difference(f, y: np.ndarray, eps: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    grad = np.zeros_like(y)
    for index in np.ndindex(y.shape):
        old = y[index]
        y[index] = old + eps
        up = f(y)
        y[index] = old - eps
        down = f(y)
        y[index] = old
        grad[index] = (up - down) / (2 * eps)
    return grad


def random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), *rng.integers(1, 5, size=int(rng.integers(1, 3))))
    return rng.normal(size=shape), rng.random(size=shape)


@pytest.mark.parametrize("seed", range(5))
def test_quad(seed: int) -> None:
    y, t = random_case(seed)
    value, grad = tn.Quad().evaluate(y, t, fused=False)
    assert value == pytest.approx(0.5 * np.sum((y - t) ** 2) / len(y))
    np.testing.assert_allclose(grad, finite_difference(lambda v: tn.Quad().evaluate(v, t, False)[0], y), atol=1e-7)


@pytest.mark.parametrize("seed", range(5))
def test_ce_on_probabilities_and_fused_with_sigmoid(seed: int) -> None:
    z, t = random_case(seed)
    a = expit(z)
    loss = tn.CE()
    value, grad = loss.evaluate(a, t, fused=False)
    assert value == pytest.approx(-np.sum(t * np.log(a) + (1 - t) * np.log(1 - a)) / len(a))
    numeric = finite_difference(lambda v: loss.evaluate(v, t, False)[0], a)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    fused_value, grad_z = loss.evaluate(z, t, fused=True)  # fused: computed from the pre-activation z
    assert fused_value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(grad_z, finite_difference(lambda v: loss.evaluate(v, t, True)[0], z), atol=1e-7)
    np.testing.assert_allclose(grad_z, (a - t) / len(a), rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_softmax_ce_on_logits_and_fused(seed: int) -> None:
    z, t = random_case(seed)
    t = t / t.sum(axis=-1, keepdims=True)
    loss = resolve_loss("softmax_ce")
    value, grad = loss.evaluate(z, t, fused=False)
    assert value == pytest.approx(-np.sum(t * log_softmax(z, axis=-1)) / len(z))
    np.testing.assert_allclose(grad, finite_difference(lambda v: loss.evaluate(v, t, False)[0], z), atol=1e-7)
    fused_value, fused_grad = loss.evaluate(z, t, fused=True)  # fused with a Softmax output: from its z too
    assert fused_value == pytest.approx(-np.sum(t * np.log(softmax(z, axis=-1))) / len(z), rel=1e-12)
    np.testing.assert_allclose(fused_grad, grad, atol=1e-12)


def test_softmax_ce_is_stable_for_huge_logits() -> None:
    z = np.array([[1e4, -1e4, 0.0]])
    t = np.array([[0.0, 1.0, 0.0]])
    value, grad = tn.SoftmaxCE().evaluate(z, t, fused=False)
    assert value == pytest.approx(2e4)
    assert np.all(np.isfinite(grad))


def test_fused_ce_stays_right_when_the_sigmoid_saturates() -> None:
    x = tn.Input((1,))()
    y = tn.Dense((1,), activation="sigmoid", init="zeros")(x)
    s = tn.System([x], [y], dtype=np.float32)
    y.params["biases"][:] = 60.0  # sigmoid(60) == 1.0 in float32
    pgrads, _ = s.gradients([np.ones((1, 1))], [np.zeros((1, 1))], loss="ce")
    assert pgrads[y]["biases"][0] == pytest.approx(1.0)  # a - t, not 0 and not NaN


def test_unknown_loss_name_suggests() -> None:
    with pytest.raises(tn.UnknownNameError, match="did you mean 'quad'"):
        resolve_loss("qaud")
    with pytest.raises(tn.ConfigError):
        resolve_loss(3)


@pytest.mark.parametrize(("loss", "activation", "targets", "message"), [
    ("ce", "sigmoid", [[0.0, 1.5]], r"\(CE\): targets must lie in \[0, 1\], got values from 0 to 1.5"),
    ("ce", "sigmoid", [[-0.5, 1.0]], r"\(CE\): targets must lie in \[0, 1\], got values from -0.5 to 1"),
    ("softmax_ce", "softmax", [[-0.5, 1.5]], r"\(SoftmaxCE\): targets must be distributions .* a negative value -0.5"),
    ("softmax_ce", "linear", [[0.3, 0.3]], r"\(SoftmaxCE\): targets must be distributions .* a sum of 0.6 at sample 0"),
    ("softmax_ce", "linear", [[0.0, 0.0]], r"\(SoftmaxCE\): targets must be distributions .* a sum of 0 at sample 0"),
])
def test_targets_that_do_not_suit_the_loss_are_a_shape_error_naming_the_output(
    loss: str, activation: str, targets: list, message: str
) -> None:
    x = tn.Input((2,))()
    s = tn.System([x], [tn.Dense(2, activation=activation)(x)], dtype=np.float64)
    before = [array.copy() for _, _, array in s.parameters()]
    with pytest.raises(tn.ShapeError, match=r"true outputs\[0\] for output dense_1\[0\] " + message):
        s.gradients([np.ones((1, 2))], [np.array(targets)], loss=loss)
    data = np.ones((8, 2)), np.repeat(np.array(targets), 8, axis=0)
    with pytest.raises(tn.ShapeError, match=message):
        s.fit(*data, loss=loss, epochs=2, verbose=0)
    assert s.step == 0 and all(np.array_equal(a, b) for a, b in zip(before, [a for _, _, a in s.parameters()]))


def test_soft_labels_summing_to_one_in_float32_are_accepted() -> None:
    t = np.random.default_rng(0).random((64, 10)).astype(np.float32)
    t /= t.sum(axis=1, keepdims=True)
    assert tn.SoftmaxCE().target_problem(t, (10,)) is None
    assert tn.CE().target_problem(t, (10,)) is None
