"""System.fit, evaluate and predict."""

from __future__ import annotations

import io

import numpy as np
import pytest

import tn_core as tn
from tn_core.metrics import accuracy
from tn_core.plugins import get_plugins

from .helpers import Recorder, blobs, classifier, params


def test_fit_learns_and_reports_history() -> None:
    x, y = blobs(120)
    s = classifier()
    hist = s.fit(x, y, epochs=5, batch_size=16, lr=0.05, loss="ce", validation=blobs(60, seed=1), verbose=0)
    assert set(hist) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 5 for v in hist.values())
    assert hist["loss"][-1] < hist["loss"][0] and hist["val_accuracy"][-1] == 1.0
    assert s.step == 5 * 8  # ceil(120 / 16) updates per epoch


@pytest.mark.parametrize("seed, batch_size, shuffle", [(0, 7, True), (3, 16, True), (5, 50, False)])
def test_fit_is_reproducible_with_a_seed(seed: int, batch_size: int, shuffle: bool) -> None:
    x, y = blobs(50, seed=seed)
    runs = []
    for _ in range(2):
        s = classifier(seed=seed)
        hist = s.fit(x, y, epochs=2, batch_size=batch_size, lr=0.01, shuffle=shuffle, seed=seed, verbose=0)
        runs.append((hist, params(s)))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    other = classifier(seed=seed)
    other.fit(x, y, epochs=2, batch_size=batch_size, lr=0.01, shuffle=shuffle, seed=seed + 1, verbose=0)
    same = all(np.array_equal(a, b) for a, b in zip(runs[0][1], params(other)))
    assert same == (not shuffle or batch_size >= 50)  # the seed only orders the batches


def test_shuffling_follows_the_seed_and_every_sample_is_seen_once_per_epoch() -> None:
    seen: list[np.ndarray] = []

    def spy(y: np.ndarray, t: np.ndarray) -> float:
        seen.append(t.argmax(axis=1))
        return 0.0

    x = np.zeros((10, 2))
    y = np.eye(10)
    s = tn.System([i := tn.Input((2,))()], [tn.Dense(10)(i)], dtype=np.float64)
    s.fit(x, y, epochs=2, batch_size=4, optimizer="sgd", lr=1e-3, metrics=[spy], seed=1, verbose=0)
    first, second = np.concatenate(seen[:3]), np.concatenate(seen[3:])
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)


def test_validation_metrics_on_a_hand_made_case() -> None:
    """Fixed weights (no training: zero epochs): outputs are the inputs, so loss and accuracy are known."""
    i = tn.Input((2,))()
    o = tn.Dense(2, init="zeros")(i)
    o.params["weights"][...] = np.eye(2)
    s = tn.System([i], [o], dtype=np.float64)
    x = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    t = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    expected_loss = 0.5 * np.sum((x - t) ** 2) / 4  # quad: 0.5 sum (y - t)^2, averaged over samples
    for batch_size in (1, 3, 4):
        scores = s.evaluate(x, t, loss="quad", batch_size=batch_size, metrics=["accuracy"])
        assert scores["loss"] == pytest.approx(expected_loss)
        assert scores["accuracy"] == pytest.approx(0.75)  # the third sample's argmax is wrong
    s2 = tn.System([i], [o], dtype=np.float64)
    hist = s2.fit(x, t, epochs=1, optimizer="sgd", lr=1e-12, loss="quad", validation=(x, t), verbose=0,
                  metrics=["accuracy"])
    assert hist["val_loss"][0] == pytest.approx(expected_loss) and hist["val_accuracy"][0] == 0.75


def test_fit_validation_matches_evaluate_after_training() -> None:
    x, y = blobs(40)
    xv, yv = blobs(30, seed=2)
    s = classifier()
    hist = s.fit(x, y, epochs=2, batch_size=8, loss="ce", validation=(xv, yv), verbose=0)
    scores = s.evaluate(xv, yv)  # the loss defaults to the last fit's
    assert hist["val_loss"][-1] == pytest.approx(scores["loss"]) and hist["val_accuracy"][-1] == scores["accuracy"]


def test_training_loss_is_the_sample_weighted_mean_of_the_batches() -> None:
    x, y = blobs(10)
    s = classifier()
    rec = Recorder()
    hist = s.fit(x, y, epochs=1, batch_size=4, optimizer="sgd", lr=1e-3, callbacks=[rec], shuffle=False, verbose=0)
    assert hist["loss"][0] == pytest.approx(np.dot(rec.losses, [4, 4, 2]) / 10)


def test_metrics_per_output_and_custom_metrics() -> None:
    i = tn.Input((3,))()
    a, b = tn.Dense(2)(i, name="left"), tn.Dense(1)(i, name="right")
    s = tn.System([i], [a, b], dtype=np.float64)

    def mean_output(y: np.ndarray, t: np.ndarray) -> float:
        return float(y.mean())

    scores = s.evaluate(np.ones((4, 3)), [np.zeros((4, 2)), np.zeros((4, 1))], metrics=["accuracy", mean_output])
    assert set(scores) == {"loss", "left_accuracy", "left_mean_output", "right_accuracy", "right_mean_output"}


@pytest.mark.parametrize("n, batch_size", [(5, 2), (300, 256), (7, 100)])
def test_predict_in_batches_equals_one_pass(n: int, batch_size: int) -> None:
    s = classifier()
    x, _ = blobs(n)
    (batched,) = s.predict(x, batch_size=batch_size)
    np.testing.assert_allclose(batched, s.guess([x])[0], rtol=1e-12)


def test_progress_lines_one_per_epoch_when_not_a_terminal(capsys: pytest.CaptureFixture) -> None:
    x, y = blobs(20)
    classifier().fit(x, y, epochs=3, batch_size=8, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[2].startswith("epoch 3/3") and "loss" in lines[2] and "\r" not in lines[2]
    classifier().fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    x, y = blobs(20)
    classifier().fit(x, y, epochs=2, batch_size=5, verbose=0, callbacks=[tn.ProgressBar(stream=stream, live=True)])
    out = stream.getvalue()
    assert "\r" in out and "[" in out and "4/4" in out and out.count("\n") == 2


def test_callbacks_are_unregistered_after_fit_even_on_error() -> None:
    before = {name for name, _ in get_plugins().pm.list_name_plugin()}
    x, y = blobs(10)
    s = classifier()
    s.fit(x, y, epochs=1, callbacks=[Recorder()])
    with pytest.raises(tn.ShapeError):
        s.fit(x, y[:, :2], epochs=1, callbacks=[Recorder()])
    with pytest.raises(tn.ConfigError, match="monitors"):
        s.fit(x, y, epochs=1, callbacks=[tn.EarlyStopping()], verbose=0)  # no val_loss without validation
    assert {name for name, _ in get_plugins().pm.list_name_plugin()} == before


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"epochs": -1}, tn.ConfigError, "epochs"),
        ({"batch_size": 0}, tn.ConfigError, "batch_size"),
        ({"optimizer": "adamm"}, tn.UnknownNameError, "adam"),
        ({"loss": "quadd"}, tn.UnknownNameError, "quad"),
        ({"metrics": ["acuracy"]}, tn.ConfigError, "metric"),
        ({"validation": ([1],)}, tn.ConfigError, "validation"),
    ],
)
def test_bad_arguments_are_refused_before_training(kwargs: dict, error: type, match: str) -> None:
    x, y = blobs(10)
    s = classifier()
    before = params(s)
    with pytest.raises(error, match=match):
        s.fit(x, y, verbose=0, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, params(s))) and s.step == 0


@pytest.mark.parametrize(
    "x_shape, y_shape, match",
    [((10, 5), (10, 3), r"inputs\[0\] has shape \(10, 5\), expected \(N, 6\)"),
     ((10, 6), (9, 3), r"targets\[0\] has shape \(9, 3\), expected \(N, 3\) with N = 10"),
     ((6,), (3,), "batch axis")],
)
def test_wrong_shapes_name_the_array_and_the_expected_shape(x_shape: tuple, y_shape: tuple, match: str) -> None:
    with pytest.raises(tn.ShapeError, match=match):
        classifier().fit(np.zeros(x_shape), np.zeros(y_shape), verbose=0)


@pytest.mark.parametrize("x", [np.full((10, 6), "a"), np.array([np.ones(6)] * 9 + [np.ones(5)], dtype=object)])
def test_data_that_is_not_numeric_is_a_shape_error(x) -> None:  # type: ignore[no-untyped-def]
    s = classifier()
    before = params(s)
    for run in (lambda: s.fit(x, np.zeros((10, 3)), verbose=0), lambda: s.evaluate(x, np.zeros((10, 3))),
                lambda: s.predict(x)):
        with pytest.raises(tn.ShapeError, match=r"(fit|evaluate|predict): inputs\[0\]: cannot be read as a float\d\d"):
            run()
    assert all(np.array_equal(a, b) for a, b in zip(before, params(s))) and s.step == 0


def test_accuracy_of_one_value_per_sample_thresholds_each_sample() -> None:
    y, t = np.array([0.9, 0.2, 0.7, 0.4]), np.array([1.0, 0.0, 0.0, 0.0])
    assert accuracy(y, t) == 0.75
    x = tn.Input((2,))()
    s = tn.System([x], [tn.Dense((), activation="sigmoid")(x)])
    for _, _, array in s.parameters():
        array.fill(0)  # every output is 0.5: class 0
    assert s.evaluate(np.zeros((4, 2)), t, loss="ce")["accuracy"] == 0.75


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_finite_weights() -> None:
    """SGD with a huge learning rate diverges; fit stops before the update that would use a non-finite loss."""
    i = tn.Input((4,))()
    s = tn.System([i], [tn.Dense(4)(i, rng=np.random.default_rng(0))], dtype=np.float32)
    x = np.random.default_rng(1).normal(size=(8, 4))
    rec = Recorder()
    with pytest.raises(tn.NonFiniteError, match=r"at step (\d+)") as info:
        s.fit(x, x, epochs=100, batch_size=8, optimizer="sgd", lr=1e4, callbacks=[rec], verbose=0)
    step = s.step
    assert f"step {step}" in str(info.value) and "epoch" in str(info.value)
    assert len(rec.update_params) == step > 0
    for kept, last in zip(params(s), rec.update_params[-1]):
        assert np.isfinite(kept).all()
        np.testing.assert_array_equal(kept, last)


def test_accuracy_of_a_single_output_column_thresholds_each_sample() -> None:
    """Outputs (N, 1), as from Dense(1, sigmoid): thresholded at 0.5, not an argmax over one column."""
    y, t = np.array([[0.9], [0.2], [0.7], [0.4]]), np.array([[1.0], [0.0], [0.0], [1.0]])
    assert accuracy(y, t) == 0.5
