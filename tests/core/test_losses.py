"""Losses: values against their formulas, gradients against finite differences, fusion, names, class-id
targets, and which outputs each loss suits."""

from __future__ import annotations

import re
import warnings
from typing import Any

import attrs
import numpy as np
import pytest
from scipy.special import expit, log_softmax, softmax

import tn_core as tn
from tests.core import make_loss_references
from tests.core.layers import Affine, Apply
from tests.torch_references import inputs_match, reference_fixture
from tn_core import kit
from tn_core.losses import LOSS_NAMES, loss_names, resolve_loss
from tn_core.testing import check_system_gradients


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
    loss = tn.BinaryCE()
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
    y = Affine((1,), activation="logistic", init="zeros")(x)
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
    ("ce", "logistic", [[0.0, 1.5]], r"\(BinaryCE\): targets must lie in \[0, 1\], got values from 0 to 1.5"),
    ("ce", "logistic", [[-0.5, 1.0]], r"\(BinaryCE\): targets must lie in \[0, 1\], got values from -0.5 to 1"),
    ("softmax_ce", "softargmax", [[-0.5, 1.5]],
     r"\(SoftmaxCE\): targets must be distributions .* a negative value -0.5"),
    ("softmax_ce", "linear", [[0.3, 0.3]], r"\(SoftmaxCE\): targets must be distributions .* a sum of 0.6 at sample 0"),
    ("softmax_ce", "linear", [[0.0, 0.0]], r"\(SoftmaxCE\): targets must be distributions .* a sum of 0 at sample 0"),
])
def test_targets_that_do_not_suit_the_loss_are_a_shape_error_naming_the_output(
    loss: str, activation: str, targets: list, message: str
) -> None:
    x = tn.Input((2,))()
    s = tn.System([x], [Affine(2, activation=activation)(x)], dtype=np.float64)
    before = [array.copy() for _, _, array in s.parameters()]
    with pytest.raises(tn.ShapeError, match=r"true outputs\[0\] for output affine_1\[0\] " + message):
        s.gradients([np.ones((1, 2))], [np.array(targets)], loss=loss)
    data = np.ones((8, 2)), np.repeat(np.array(targets), 8, axis=0)
    with pytest.raises(tn.ShapeError, match=message):
        s.fit(*data, loss=loss, epochs=2, verbose=0)
    assert s.step == 0 and all(np.array_equal(a, b) for a, b in zip(before, [a for _, _, a in s.parameters()]))


def test_soft_labels_summing_to_one_in_float32_are_accepted() -> None:
    t = np.random.default_rng(0).random((64, 10)).astype(np.float32)
    t /= t.sum(axis=1, keepdims=True)
    assert tn.SoftmaxCE().target_problem(t, (10,)) is None
    assert tn.BinaryCE().target_problem(t, (10,)) is None


# -- every named loss: formula, finite differences, fusion ------------------------------------------------------


def by_formula(loss: tn.Loss, y: np.ndarray, t: np.ndarray) -> float:
    """E from the formulas (activated outputs for the probability losses), reduced as the loss says."""
    if isinstance(loss, tn.Quad):
        return float(0.5 * np.sum((y - t) ** 2) / len(y))
    if isinstance(loss, (tn.MSE, tn.MAE)):
        return float(np.mean((y - t) ** 2) if isinstance(loss, tn.MSE) else np.mean(np.abs(y - t)))
    if isinstance(loss, tn.BinaryCE):
        a = expit(y) if loss.from_logits else y
        total = -np.sum(t * np.log(a) + (1 - t) * np.log(1 - a))
        return float(total / (y.size if loss.mean else len(y)))
    total = -np.sum(t * log_softmax(y, axis=-1))
    return float(total / (y.size // y.shape[-1] if loss.mean else len(y)))


def case_for(loss: tn.Loss, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and targets of a random shape that suit ``loss``: probabilities for CE on probabilities,
    distributions over the last axis for SoftmaxCE, normal values for the regression losses."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), *rng.integers(1, 5, size=int(rng.integers(1, 3))))
    y = rng.normal(size=shape)
    if isinstance(loss, tn.BinaryCE):
        return (y if loss.from_logits else expit(y)), rng.random(shape)
    if isinstance(loss, tn.SoftmaxCE):
        t = rng.random(shape) + 0.1
        return y, t / t.sum(axis=-1, keepdims=True)
    return y, rng.normal(size=shape)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", list(LOSS_NAMES))
def test_every_named_loss_matches_its_formula_and_finite_differences(name: str, seed: int) -> None:
    loss = resolve_loss(name)
    y, t = case_for(loss, seed)
    value, grad = loss.evaluate(y, t, fused=False)
    assert value == pytest.approx(by_formula(loss, y, t), rel=1e-10)
    np.testing.assert_allclose(grad, finite_difference(lambda v: loss.evaluate(v, t, False)[0], y), atol=1e-7)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", [name for name, (cls, _) in LOSS_NAMES.items() if cls.fusion])
def test_fused_losses_are_the_same_loss_computed_from_the_pre_activation(name: str, seed: int) -> None:
    loss = resolve_loss(name)
    z, t = case_for(tn.SoftmaxCE() if isinstance(loss, tn.SoftmaxCE) else tn.BinaryCE(from_logits=True), seed)
    value, grad = loss.evaluate(z, t, fused=True)
    activated = softmax(z, axis=-1) if isinstance(loss, tn.SoftmaxCE) else expit(z)
    if isinstance(loss, tn.SoftmaxCE):
        count = z.size // z.shape[-1] if loss.mean else len(z)
        assert value == pytest.approx(-np.sum(t * np.log(activated)) / count, rel=1e-10)
    else:
        assert value == pytest.approx(by_formula(tn.BinaryCE(mean=loss.mean), activated, t), rel=1e-10)
    np.testing.assert_allclose(grad, finite_difference(lambda v: loss.evaluate(v, t, True)[0], z), atol=1e-7)


def test_ce_from_logits_is_exact_for_huge_logits() -> None:
    z, t = np.array([[1e4, -1e4, 0.0]]), np.array([[0.0, 1.0, 1.0]])
    value, grad = tn.BinaryCE(from_logits=True).evaluate(z, t, fused=False)
    assert value == pytest.approx(2e4 + np.log(2.0))
    np.testing.assert_allclose(grad, [[1.0, -1.0, -0.5]])


@pytest.mark.parametrize(("logits", "probabilities"), [("sigmoid_ce", "ce"), ("bce_with_logits", "bce"),
                                                       (tn.BinaryCE(from_logits=True), tn.BinaryCE())])
def test_a_logit_loss_on_a_linear_output_is_the_probability_loss_on_a_sigmoid_output(
    logits: Any, probabilities: Any
) -> None:
    rng = np.random.default_rng(3)
    x = tn.Input((4,))()
    linear, sigmoid = Affine(3)(x), Affine(3, activation="logistic")(x)
    for key in ("weights", "biases"):
        sigmoid.params[key][...] = linear.params[key] = rng.normal(size=linear.params[key].shape)
    on_logits = tn.System([x], [linear], dtype=np.float64)
    on_probabilities = tn.System([x], [sigmoid], dtype=np.float64)
    xs, ts = rng.normal(size=(5, 4)), rng.random((5, 3))
    value = on_logits.loss_gradients(on_logits.forward([xs]), [ts], logits)[0]
    expected_value = on_probabilities.loss_gradients(on_probabilities.forward([xs]), [ts], probabilities)[0]
    assert value == pytest.approx(expected_value, rel=1e-10)
    grads = on_logits.gradients([xs], [ts], loss=logits)[0]
    expected = on_probabilities.gradients([xs], [ts], loss=probabilities)[0]
    for key in ("weights", "biases"):
        np.testing.assert_allclose(grads[linear][key], expected[sigmoid][key], rtol=1e-10)
    check_system_gradients(on_logits, [xs], [ts], loss=logits)


@pytest.mark.parametrize("name", ["mse", "mae", "bce_with_logits", "categorical_crossentropy"])
def test_keras_names_in_a_system_match_finite_differences(name: str) -> None:
    rng = np.random.default_rng(4)
    x = tn.Input((3,))()
    y = Affine((2, 4), activation="hyperbolictangent")(x)
    s = tn.System([x], [Affine((2, 4))(y)], dtype=np.float64)
    t = rng.random((5, 2, 4))
    check_system_gradients(s, [rng.normal(size=(5, 3))], [t / t.sum(axis=-1, keepdims=True)], loss=name)


# PyTorch case -> (tensornet name, output, target, fused): fused losses get the pre-activation as output
TORCH_CASES = {
    "mse": ("mse", "y", "t", False),
    "mae": ("mean_absolute_error", "y", "t", False),
    "bce": ("binary_crossentropy", "a", "p", False),
    "bce_with_logits": ("bce_with_logits", "z", "p", False),
    "bce_with_logits/fused": ("bce", "z", "p", True),
    "ce_ids": ("sparse_categorical_crossentropy", "logits", "ids", False),
    "ce_ids/fused": ("sparse_categorical_crossentropy", "logits", "ids", True),
    "ce_soft": ("categorical_crossentropy", "logits", "soft", False),
}

reference = reference_fixture(make_loss_references)


def test_the_committed_loss_references_were_made_from_the_scripts_inputs() -> None:
    inputs_match(make_loss_references)


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_keras_names_equal_pytorch(reference: dict[str, np.ndarray], case: str) -> None:
    name, output, target, fused = TORCH_CASES[case]
    torch_case = case.split("/")[0]
    value, grad = resolve_loss(name).evaluate(reference[output], reference[target], fused)
    assert value == pytest.approx(float(reference[f"{torch_case}_value"]), rel=1e-12)
    np.testing.assert_allclose(grad, reference[f"{torch_case}_grad"], rtol=1e-10, atol=1e-15)


# -- class ids ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mean", [False, True])
def test_class_ids_mean_what_one_hot_rows_mean(seed: int, mean: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), *rng.integers(1, 4, size=int(rng.integers(0, 2))), int(rng.integers(2, 6)))
    z, ids = rng.normal(size=shape), rng.integers(0, shape[-1], size=shape[:-1])
    loss = tn.SoftmaxCE(mean=mean)
    for fused in (False, True):
        value, grad = loss.evaluate(z, ids, fused)
        one_hot_value, one_hot_grad = loss.evaluate(z, np.eye(shape[-1])[ids], fused)
        assert value == pytest.approx(one_hot_value, rel=1e-12)
        np.testing.assert_allclose(grad, one_hot_grad, atol=1e-15)
        numeric = finite_difference(lambda v, fused=fused: loss.evaluate(v, ids, fused)[0], z)
        np.testing.assert_allclose(grad, numeric, atol=1e-7)
    assert loss.evaluate(z, ids.astype(np.float32), False)[0] == pytest.approx(value)  # ids as fit casts them


@pytest.mark.parametrize("activation", ["softargmax", "linear"])
@pytest.mark.parametrize("name", ["softmax_ce", "sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_class_id_targets_in_a_system_fused_and_unfused(activation: str, name: str) -> None:
    rng = np.random.default_rng(5)
    x = tn.Input((4,))()
    y = Affine((3, 5), activation=activation)(Affine(6, activation="hyperbolictangent")(x))  # 3 positions of 5 classes
    s = tn.System([x], [y], dtype=np.float64)
    xs, ids = rng.normal(size=(4, 4)), rng.integers(0, 5, size=(4, 3))
    with_ids, with_rows = s.gradients([xs], [ids], loss=name), s.gradients([xs], [np.eye(5)[ids]], loss=name)
    for inst, grads in with_rows[0].items():
        for key, g in grads.items():
            np.testing.assert_allclose(with_ids[0][inst][key], g, atol=1e-14)
    np.testing.assert_allclose(with_ids[1][0], with_rows[1][0], atol=1e-14)
    check_system_gradients(s, [xs], [ids], loss=name)


def test_class_ids_one_sample_at_a_time_and_a_batch_as_long_as_the_classes() -> None:
    x = tn.Input((2,))()
    s = tn.System([x], [Affine(3)(x)], dtype=np.float64)
    xs = np.random.default_rng(6).normal(size=(3, 2))
    one = s.gradients([xs[1]], [np.int64(2)], loss="softmax_ce")  # seed style: a sample, its class id
    np.testing.assert_allclose(one[1][0], s.gradients([xs[1]], [np.eye(3)[2]], loss="softmax_ce")[1][0])
    batch = s.gradients([xs], [np.array([2, 0, 1])], loss="softmax_ce")  # 3 samples of 3 classes: ids, not a row
    np.testing.assert_allclose(batch[1][0], s.gradients([xs], [np.eye(3)[[2, 0, 1]]], loss="softmax_ce")[1][0])
    with pytest.raises(tn.ShapeError, match=r"true outputs\[0\]: expected shape \(N, 3\) or \(3,\), or \(N\) or "
                                            r"\(\), got \(3, 2\)"):
        s.gradients([xs], [np.zeros((3, 2))], loss="softmax_ce")
    with pytest.raises(tn.ShapeError, match=r"expected shape \(N, 3\) or \(3,\), got \(3,\)"):
        s.gradients([xs], [np.zeros(3)], loss="quad")  # ids are for softmax cross-entropy only


@pytest.mark.parametrize(("ids", "shown"), [([0, 3], "3 at sample 1"), ([-1, 0], "-1 at sample 0"),
                                            ([1, 0.5], "0.5 at sample 1")])
def test_bad_class_ids_are_a_shape_error_before_any_update(ids: list, shown: str) -> None:
    x = tn.Input((2,))()
    s = tn.System([x], [Affine(3)(x)], dtype=np.float64)
    before = [array.copy() for _, _, array in s.parameters()]
    message = (r"true outputs\[0\] for output affine_1\[0\] \(SoftmaxCE\): class ids must be whole numbers in "
               rf"\[0, 3\) \(the output's last axis\), got {shown}")
    with pytest.raises(tn.ShapeError, match=message):
        s.gradients([np.ones((2, 2))], [np.array(ids)], loss="softmax_ce")
    with pytest.raises(tn.ShapeError, match=message):
        s.fit(np.ones((2, 2)), np.array(ids), loss="sparse_categorical_crossentropy", epochs=1, verbose=0)
    assert s.step == 0 and all(np.array_equal(a, b) for a, b in zip(before, [a for _, _, a in s.parameters()]))


def test_fit_and_evaluate_take_class_ids() -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(scale=3.0, size=(3, 4))
    labels = rng.integers(0, 3, size=90)
    xs = centres[labels] + rng.normal(size=(90, 4))
    x = tn.Input((4,))()
    s = tn.System([x], [Affine(3)(Affine(8, activation="hyperbolictangent")(x))], seed=0)
    history = s.fit(xs, labels, loss="sparse_categorical_crossentropy", epochs=30, lr=0.02, verbose=0)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    scores = s.evaluate(xs, labels)
    assert scores == pytest.approx(s.evaluate(xs, np.eye(3)[labels]), rel=1e-6) and scores["accuracy"] > 0.9


# -- names ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LOSS_NAMES))
def test_every_table_name_resolves_to_its_loss(name: str) -> None:
    cls, fields = LOSS_NAMES[name]
    loss = resolve_loss(name)
    assert type(loss) is cls and loss == cls(**fields)


@pytest.mark.parametrize(("spelling", "expected"), [
    ("BinaryCrossentropy", tn.BinaryCE(mean=True)), ("SparseCategoricalCrossentropy", tn.SoftmaxCE(mean=True)),
    ("CategoricalCrossentropy", tn.SoftmaxCE(mean=True)), ("MeanSquaredError", tn.MSE()),
    ("MeanAbsoluteError", tn.MAE()), ("SoftmaxCE", tn.SoftmaxCE()), ("MSE", tn.MSE()), ("Quad", tn.Quad()),
])
def test_keras_class_names_and_registered_names_resolve(spelling: str, expected: tn.Loss) -> None:
    assert resolve_loss(spelling) == expected and type(resolve_loss(spelling)) is type(expected)


def test_unknown_loss_name_lists_the_known_ones_and_suggests_the_nearest() -> None:
    with pytest.raises(tn.UnknownNameError, match="did you mean 'binary_crossentropy'") as info:
        resolve_loss("binary_crossentropyy")
    known = str(info.value).split("known losses: ")[1].split(", ")
    assert known[:len(LOSS_NAMES)] == list(LOSS_NAMES) and known == loss_names()
    x = tn.Input((2,))()
    with pytest.raises(tn.UnknownNameError, match="did you mean 'mse'"):
        tn.System([x], [Affine(2)(x)]).fit(np.ones((4, 2)), np.ones((4, 2)), loss="mes", verbose=0)


@attrs.define
class Huber(kit.Loss):
    """A plugin's loss: 0.5 d^2 for |d| <= 1, |d| - 0.5 beyond, d = y - t; summed per sample."""

    def evaluate(self, y: np.ndarray, t: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        d = y - t
        small = np.abs(d) <= 1
        return float(np.sum(np.where(small, 0.5 * d * d, np.abs(d) - 0.5)) / len(y)), np.clip(d, -1, 1) / len(y)


class HuberPlugin:
    @staticmethod
    @kit.hookimpl
    def tn_register_losses() -> list[type]:
        return [Huber]


def test_a_plugin_loss_is_found_by_name_and_listed_among_the_known() -> None:
    plugins = tn.get_plugins()
    plugins.register(HuberPlugin(), "huber-test")
    try:
        assert type(resolve_loss("huber")) is Huber and type(resolve_loss("Huber")) is Huber
        assert "huber" in loss_names()
        with pytest.raises(tn.UnknownNameError, match=r"did you mean 'huber'.*known losses: .*huber"):
            resolve_loss("hubr")
        x = tn.Input((2,))()
        check_system_gradients(tn.System([x], [Affine(2, activation="logistic")(x)], dtype=np.float64),
                               [np.ones((3, 2))], [np.full((3, 2), 3.0)], loss="huber")  # no pairing rule: any output
    finally:
        plugins.unregister("huber-test")
    assert "huber" not in loss_names()


def test_a_system_resolves_a_loss_name_again_when_the_plugins_change() -> None:
    """A System keeps what a loss name resolved to, for the plugins registered then."""
    x = tn.Input((2,))()
    s = tn.System([x], [Affine(2)(x)], dtype=np.float64)
    xs, ts = np.ones((3, 2)), np.full((3, 2), 3.0)
    plugins = tn.get_plugins()
    plugins.register(HuberPlugin(), "huber-test")
    try:
        _, state = s.guess([xs], return_state=True)
        s.learn(state, [ts], loss="huber")
    finally:
        plugins.unregister("huber-test")
    _, state = s.guess([xs], return_state=True)
    with pytest.raises(tn.UnknownNameError, match="unknown loss 'huber'"):
        s.learn(state, [ts], loss="huber")


# -- which outputs a loss suits -------------------------------------------------------------------------------


def one_layer(activation: Any) -> tuple[tn.System, tn.Instance]:
    x = tn.Input((4,))()
    y = Affine(3, activation=activation)(x)
    return tn.System([x], [y], dtype=np.float64), y


DATA = np.random.default_rng(8).normal(size=(6, 4)), np.eye(3)[[0, 1, 2, 0, 1, 2]]


# the standard activations' declared ranges meet these rules in tests/dense/test_system.py
@pytest.mark.parametrize(("loss", "activation"), [
    ("ce", "linear"), ("ce", "hyperbolictangent"), ("ce", "ramp"), ("softmax_ce", "logistic"),
    ("categorical_crossentropy", "logistic"), ("sigmoid_ce", "logistic"), ("bce_with_logits", "softargmax"),
    (tn.BinaryCE(from_logits=True), "logistic"), ("sigmoid_ce", "ramp"),
])
def test_a_loss_on_an_output_it_does_not_suit_is_a_config_error_before_any_update(loss: Any, activation: Any) -> None:
    s, y = one_layer(activation)
    name = type(y.structure.activation).__name__
    before = [array.copy() for _, _, array in s.parameters()]
    with pytest.raises(tn.ConfigError, match=rf"loss {re.escape(repr(loss))} does not suit output affine_1\[0\], "
                                             r"whose activation "
                                             rf"{name} gives values from .*Losses that suit a {name} output: ") as info:
        s.fit(*DATA, loss=loss, epochs=1, verbose=0)
    assert s.step == 0 and all(np.array_equal(a, b) for a, b in zip(before, [a for _, _, a in s.parameters()]))
    for call in (lambda: s.gradients([DATA[0]], [DATA[1]], loss=loss), lambda: s.evaluate(*DATA, loss=loss),
                 lambda: s.learn(s.guess([DATA[0]], return_state=True)[1], [DATA[1]], loss=loss)):
        with pytest.raises(tn.ConfigError, match="does not suit output affine_1"):
            call()
    assert s.step == 0
    suits = str(info.value).split(f"Losses that suit a {name} output: ")[1].split(", ")
    assert loss not in suits and {"quad", "mse", "mae"} <= set(suits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every loss the message offers suits the output: no error, no warning
        for other in suits:
            s.gradients([DATA[0]], [DATA[1]], loss=other)


@pytest.mark.parametrize(("loss", "activation"), [
    ("ce", "logistic"), ("bce", "logistic"), ("ce", "softargmax"), ("softmax_ce", "softargmax"),
    ("softmax_ce", "linear"), ("sparse_categorical_crossentropy", "softargmax"), ("sigmoid_ce", "linear"),
    ("bce_with_logits", "linear"), ("quad", "logistic"), ("quad", "ramp"), ("mse", "softargmax"),
    ("mae", "hyperbolictangent"), ("mse", "linear"),
])
def test_a_loss_on_an_output_it_suits_trains_without_a_word(loss: str, activation: str) -> None:
    s, _ = one_layer(activation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.fit(*DATA, loss=loss, epochs=1, verbose=0)
    assert s.step == 1


@pytest.mark.parametrize(("loss", "activation"), [
    ("softmax_ce", "hyperbolictangent"), ("sigmoid_ce", "hyperbolictangent"), ("softmax_ce", "ramp"),
])
def test_logits_an_activation_bounds_get_one_warning(loss: str, activation: str) -> None:
    s, y = one_layer(activation)
    name = type(y.structure.activation).__name__
    with pytest.warns(UserWarning, match=rf"loss '{loss}' does not suit output affine_1\[0\], whose activation {name} "
                                         r"gives values .*this activation bounds them"):
        s.gradients([DATA[0]], [DATA[1]], loss=loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per output and kind of loss
        s.fit(*DATA, loss=loss, epochs=2, verbose=0)


def test_the_pairing_is_checked_once_per_output_and_kind_of_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    check = tn.SoftmaxCE.pairing_problem
    monkeypatch.setattr(tn.SoftmaxCE, "pairing_problem", lambda self, *a: calls.append(a) or check(self, *a))
    s, _ = one_layer("linear")
    for _ in range(3):
        s.learn(s.guess([DATA[0]], return_state=True)[1], [DATA[1]], loss="softmax_ce", method="sgd", scale=0.1)
    s.gradients([DATA[0]], [DATA[1]], loss=tn.SoftmaxCE(mean=True))
    assert len(calls) == 1


@attrs.define
class Cube(kit.Activation):
    """a = z^3: declares no output range."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z**3

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return 3 * z**2


def test_outputs_whose_activation_is_unknown_are_not_refused() -> None:
    x = tn.Input((4,))()
    behind_wiring = tn.Flatten()(Affine((3, 1))(x))  # a linear layer's values, but a wiring layer's output
    undeclared = Affine(3, activation=Cube())(x)
    s = tn.System([x], [behind_wiring, undeclared], dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.gradients([DATA[0]], [np.full((6, 3), 0.5)] * 2, loss="ce")


def test_the_refusal_names_the_output_among_several_and_any_neuron() -> None:
    x = tn.Input((4,))()
    probabilities = Affine(3, activation="logistic")(x, name="probs")
    squashed = Apply(activation="hyperbolictangent")(Affine(3)(x), name="squash")
    s = tn.System([x], [probabilities, squashed], dtype=np.float64)
    with pytest.raises(tn.ConfigError, match=r"output squash\[0\], whose activation HyperbolicTangent gives values "
                                             r"from -1 to 1"):
        s.gradients([DATA[0]], [DATA[1]] * 2, loss="ce")
    s.gradients([DATA[0]], [DATA[1]] * 2, loss=["ce", "quad"])
