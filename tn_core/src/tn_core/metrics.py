"""Metrics: functions (y, t) -> float of a batch of outputs y and targets t, reported by fit and evaluate.

Targets t have the output's shape, or hold class ids where the metric compares classes (t with the
output's shape less its last axis; "accuracy", "categorical_accuracy", "top_k"). Names
(``METRICS``; a name matches ignoring case)::

    accuracy                  argmax match (a class axis) or binary_accuracy (one value per sample)
    acc                       accuracy
    binary_accuracy           (y > threshold) == (t > 0.5), element-wise
    categorical_accuracy      argmax_y == argmax_t, or == t for class ids
    sparse_categorical_accuracy   categorical_accuracy
    top_k, top_<k>            the target class among the k (default 5; "top_3": 3) highest outputs
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy   top_k
    mse, mean_squared_error   mean (y - t)^2
    mae, mean_absolute_error  mean |y - t|

Defaults: ``metrics=None`` in fit and evaluate means ["accuracy"] when a loss is a classification loss
(``Loss.takes()`` is not None) and no metric otherwise. The threshold of binary decisions is the losses'
``decision_threshold``: 0.5 on probabilities, 0 when every binary loss takes logits (sigmoid_ce,
bce_with_logits), as sigmoid(z) > 0.5 exactly when z > 0.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np

from tn_core.errors import ConfigError, ShapeError, suggest
from tn_core.losses import Loss

#: metric(outputs, targets) -> mean over the batch
Metric = Callable[[np.ndarray, np.ndarray], float]


def _class_ids(y: np.ndarray, t: np.ndarray, metric: str) -> np.ndarray:
    """The target class of each position: t itself (class ids) or argmax t (rows over the classes)."""
    if y.ndim < 2:
        raise ShapeError(f"{metric} compares classes along the output's last axis, and the output has one value "
                         f"per sample (batch shape {y.shape}); use binary_accuracy")
    return t.astype(np.intp) if t.ndim < y.ndim else t.argmax(axis=-1)


def binary_accuracy(y: np.ndarray, t: np.ndarray, threshold: float = 0.5) -> float:
    """Share of elements on the target's side of the threshold: mean [(y > threshold) == (t > 0.5)]."""
    return float(np.mean((y > threshold) == (t > 0.5)))


def categorical_accuracy(y: np.ndarray, t: np.ndarray) -> float:
    """Share of positions whose highest output is the target class c: mean [argmax y == c].

    c is the class id: t itself, or argmax t for rows over the classes (one-hot, soft labels).
    """
    return float(np.mean(y.argmax(axis=-1) == _class_ids(y, t, "categorical_accuracy")))


def accuracy(y: np.ndarray, t: np.ndarray, threshold: float = 0.5) -> float:
    """Share of correct predictions: categorical_accuracy with a class axis, else binary_accuracy.

    A class axis: a last axis longer than 1, or class-id targets. Otherwise (one value per sample, or a last
    axis of size 1) each output is a yes/no decision at ``threshold``.
    """
    if t.ndim == y.ndim and (y.ndim == 1 or y.shape[-1] == 1):
        return binary_accuracy(y, t, threshold)
    return categorical_accuracy(y, t)


def top_k(y: np.ndarray, t: np.ndarray, k: int = 5) -> float:
    """Share of positions whose target class c is among the k highest outputs: mean [#{j : y_j > y_c} < k].

    Classes tied with c count in its favour, as Keras's in_top_k. c as in categorical_accuracy.
    """
    ids = _class_ids(y, t, f"top_{k}")[..., np.newaxis]
    above = (y > np.take_along_axis(y, ids, axis=-1)).sum(axis=-1)
    return float(np.mean(above < k))


def mse(y: np.ndarray, t: np.ndarray) -> float:
    """Mean squared error over every element: mean (y - t)^2."""
    diff = y - t
    return float(np.vdot(diff, diff) / diff.size)


def mae(y: np.ndarray, t: np.ndarray) -> float:
    """Mean absolute error over every element: mean |y - t|."""
    return float(np.abs(y - t).mean())


#: every metric name (besides top_<k>) and its function
METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": categorical_accuracy,
    "top_k": top_k,
    "top_k_categorical_accuracy": top_k,
    "sparse_top_k_categorical_accuracy": top_k,
    "mse": mse,
    "mean_squared_error": mse,
    "mae": mae,
    "mean_absolute_error": mae,
}

_TOP = re.compile(r"top_([1-9][0-9]*)")


def _threshold(losses: Sequence[Loss]) -> float:
    """Where binary decisions flip: the losses' common ``decision_threshold``, else 0.5."""
    thresholds = {fn.decision_threshold() for fn in losses} - {None}
    return next(iter(thresholds)) if len(thresholds) == 1 else 0.5


def _named(name: str, losses: Sequence[Loss]) -> Metric:
    key = name.lower()
    if _TOP.fullmatch(key):
        return functools.partial(top_k, k=int(key[4:]))
    if key not in METRICS:
        raise ConfigError(f"unknown metric {name!r}{suggest(key, METRICS)}; known: {', '.join(METRICS)}, top_<k> "
                          "(top_3: the target among the 3 highest outputs), or a function (y, t) -> float")
    fn = METRICS[key]
    if fn in (accuracy, binary_accuracy):
        return functools.partial(fn, threshold=_threshold(losses))
    return fn


def resolve_metrics(specs: Sequence[str | Metric] | None, losses: Sequence[Loss]) -> dict[str, Metric]:
    """{log name: function} for ``specs`` (names or functions (y, t) -> float) on outputs with ``losses``;
    None: accuracy when a loss is a classification loss, else nothing."""
    if specs is None:
        specs = ["accuracy"] if any(fn.takes() is not None for fn in losses) else []
    if isinstance(specs, str) or callable(specs):
        raise ConfigError(f"metrics must be a list of names or functions (y, t) -> float, got {specs!r}; "
                          f"write metrics=[{specs!r}]")
    out: dict[str, Metric] = {}
    for spec in specs:
        if isinstance(spec, str):
            out[spec] = _named(spec, losses)
        elif callable(spec):
            out[getattr(spec, "__name__", "metric")] = spec
        else:
            raise ConfigError(f"a metric is a name or a function (y, t) -> float, got {spec!r}")
    return out
