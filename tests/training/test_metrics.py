"""Metrics: values against their definitions, class-id targets, names, and fit/evaluate's defaults."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tn_core.metrics import (
    METRICS,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    mae,
    mse,
    resolve_metrics,
    top_k,
)

from .helpers import blobs, classifier


def ranked_hits(y: np.ndarray, classes: np.ndarray, k: int) -> float:
    """Share of rows whose class is among the k highest scores, one row at a time (classes tied with it first)."""
    rows, targets = y.reshape(-1, y.shape[-1]), classes.reshape(-1)
    hits = [sorted(row, reverse=True).index(row[c]) < k for row, c in zip(rows, targets)]
    return float(np.mean(hits))


@pytest.mark.parametrize("shape", [(7, 4), (5, 3, 6), (1, 2)])
def test_metrics_against_their_definitions(shape: tuple[int, ...], rng: np.random.Generator) -> None:
    y, t = rng.normal(size=shape), rng.random(shape)
    assert mse(y, t) == pytest.approx(np.sum((y - t) ** 2) / y.size)
    assert mae(y, t) == pytest.approx(np.sum(np.abs(y - t)) / y.size)
    assert binary_accuracy(y, t) == np.count_nonzero((y > 0.5) == (t > 0.5)) / y.size
    assert binary_accuracy(y, t, threshold=0.0) == np.count_nonzero((y > 0) == (t > 0.5)) / y.size
    classes = t.argmax(axis=-1)
    same = [row.argmax() == c for row, c in zip(y.reshape(-1, shape[-1]), classes.reshape(-1))]
    assert categorical_accuracy(y, t) == accuracy(y, t) == np.mean(same)
    for k in (1, 2, shape[-1]):
        assert top_k(y, t, k=k) == ranked_hits(y, classes, k)
    assert top_k(y, t, k=1) == categorical_accuracy(y, t) and top_k(y, t, k=shape[-1]) == 1.0


@pytest.mark.parametrize("metric", [accuracy, categorical_accuracy, top_k, METRICS["top_k"]])
def test_class_ids_count_as_their_one_hot_rows(metric, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    y, ids = rng.normal(size=(40, 3, 7)), rng.integers(0, 7, size=(40, 3))
    assert metric(y, ids) == metric(y, np.eye(7)[ids]) == metric(y, ids.astype(np.float32))


def test_top_k_counts_ties_in_the_targets_favour_as_keras() -> None:
    y = np.array([[0.5, 0.5, 0.5, 0.1], [0.9, 0.1, 0.1, 0.1]])
    assert top_k(y, np.array([2, 1]), k=1) == 0.5  # row 0: class 2 ties for first; row 1: class 1 ties for second
    assert top_k(y, np.array([2, 1]), k=2) == 1.0
    assert top_k(y, np.array([3, 0]), k=3) == 0.5


def test_accuracy_decides_per_element_without_a_class_axis(rng: np.random.Generator) -> None:
    y, t = rng.random((30, 1)), rng.integers(0, 2, size=(30, 1)).astype(float)
    assert accuracy(y, t) == binary_accuracy(y, t) == np.mean((y > 0.5) == (t > 0.5))
    assert accuracy(y[:, 0], t[:, 0]) == accuracy(y, t)


def test_class_metrics_need_a_class_axis() -> None:
    with pytest.raises(tn.ShapeError, match="categorical_accuracy compares classes .* use binary_accuracy"):
        categorical_accuracy(np.zeros(4), np.zeros(4))
    with pytest.raises(tn.ShapeError, match="top_3 compares classes"):
        top_k(np.zeros(4), np.zeros(4), k=3)


# -- names ----------------------------------------------------------------------------------------------------


def test_names_and_top_k_spellings(rng: np.random.Generator) -> None:
    y, ids = rng.normal(size=(50, 9)), rng.integers(0, 9, size=50)
    fns = resolve_metrics(["acc", "top_k", "top_3", "Top_2", "sparse_categorical_accuracy", "mean_squared_error"],
                          [tn.SoftmaxCE()])
    assert list(fns) == ["acc", "top_k", "top_3", "Top_2", "sparse_categorical_accuracy", "mean_squared_error"]
    assert fns["top_k"](y, ids) == top_k(y, ids, k=5) and fns["top_3"](y, ids) == top_k(y, ids, k=3)
    assert fns["Top_2"](y, ids) == top_k(y, ids, k=2) and fns["acc"](y, ids) == categorical_accuracy(y, ids)


@pytest.mark.parametrize(("spec", "match"), [
    ("acuracy", r"unknown metric 'acuracy' \(did you mean 'accuracy'\?\); known: accuracy, acc, binary_accuracy"),
    ("top_0", r"unknown metric 'top_0'.*top_<k>"),
    (3, "a metric is a name or a function"),
])
def test_unknown_metrics_list_the_known_ones(spec: object, match: str) -> None:
    with pytest.raises(tn.ConfigError, match=match):
        resolve_metrics([spec], [tn.Quad()])  # type: ignore[list-item]
    s = classifier()
    with pytest.raises(tn.ConfigError, match=match):
        s.fit(*blobs(8), metrics=[spec], verbose=0)
    assert s.step == 0


def test_a_bare_name_instead_of_a_list_is_refused() -> None:
    with pytest.raises(tn.ConfigError, match=r"metrics must be a list .* write metrics=\['accuracy'\]"):
        classifier().evaluate(*blobs(8), metrics="accuracy")


# -- defaults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("loss", "logged"), [
    ("quad", set()), ("mse", set()), ("mae", set()), ("ce", {"accuracy"}), ("bce", {"accuracy"}),
    (["quad", "quad"], set()), (["quad", "softmax_ce"], {"out_a_accuracy", "out_b_accuracy"}),
])
def test_accuracy_is_reported_by_default_only_for_a_classification_loss(loss: object, logged: set) -> None:
    x = tn.Input((6,))()
    outputs = [tn.Dense(3, activation="sigmoid")(x, name="out_a")]
    if isinstance(loss, list):
        outputs.append(tn.Dense(3)(x, name="out_b"))
    s = tn.System([x], outputs, dtype=np.float64)
    xs, ys = blobs(12)
    history = s.fit(xs, [ys] * len(outputs), loss=loss, validation=(xs, [ys] * len(outputs)), verbose=0)
    assert set(history) == {"loss", "val_loss", "lr", *logged, *(f"val_{key}" for key in logged)}
    assert set(s.evaluate(xs, [ys] * len(outputs))) == {"loss", *logged}  # the loss of the last fit
    given = s.evaluate(xs, [ys] * len(outputs), metrics=["mae"])  # given metrics replace the default
    assert set(given) == {"loss", *(["mae"] if len(outputs) == 1 else ["out_a_mae", "out_b_mae"])}


def test_binary_accuracy_on_logits_thresholds_at_zero(rng: np.random.Generator) -> None:
    """A sigmoid output with ce and the same layer linear with sigmoid_ce make the same decisions."""
    x = tn.Input((6,))()
    linear, sigmoid = tn.Dense(1)(x), tn.Dense(1, activation="sigmoid")(x)
    for key in ("weights", "biases"):
        sigmoid.params[key][...] = linear.params[key] = rng.normal(size=linear.params[key].shape)
    xs, labels = rng.normal(size=(200, 6)), rng.integers(0, 2, size=(200, 1)).astype(float)
    on_logits = tn.System([x], [linear]).evaluate(xs, labels, loss="bce_with_logits", metrics=None)
    on_probabilities = tn.System([x], [sigmoid]).evaluate(xs, labels, loss="bce")
    assert 0.0 < on_logits["accuracy"] == on_probabilities["accuracy"] < 1.0
    scores = tn.System([x], [linear]).evaluate(xs, labels, loss="sigmoid_ce", metrics=["binary_accuracy"])
    assert scores["binary_accuracy"] == on_probabilities["accuracy"]
    mixed = resolve_metrics(["accuracy"], [tn.BinaryCE(from_logits=True), tn.BinaryCE()])  # no common threshold: 0.5
    assert mixed["accuracy"](np.array([0.2]), np.array([1.0])) == 0.0
