"""Callbacks: plugins of the training hooks, one test per behaviour."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tn_core as tn

from .helpers import Recorder, blobs, classifier, params


def scripted(values: list[float]) -> object:
    """A metric whose value in epoch k is values[k] (one batch per epoch)."""
    calls = iter(values)

    def score(y: np.ndarray, t: np.ndarray) -> float:
        return next(calls)

    return score


def test_early_stopping_stops_after_patience_epochs_without_improvement() -> None:
    x, y = blobs(12)
    stop = tn.EarlyStopping(monitor="score", patience=2, mode="max", restore_best=False)
    hist = classifier().fit(x, y, epochs=20, batch_size=12, metrics=[scripted([0.1, 0.5, 0.4, 0.5, 0.3, 0.9])],
                            callbacks=[stop], verbose=0)
    # no gain over 0.5 for two epochs: stop after the fourth
    assert hist["score"] == pytest.approx([0.1, 0.5, 0.4, 0.5])
    assert stop.stopped_epoch == 3 and stop.best is not None
    assert (stop.best.value, stop.best.epoch) == (pytest.approx(0.5), 1)


def test_early_stopping_restores_the_best_weights() -> None:
    x, y = blobs(12)
    rec = Recorder()
    stop = tn.EarlyStopping(monitor="score", patience=1, mode="max")
    s = classifier()
    s.fit(x, y, epochs=10, batch_size=12, metrics=[scripted([0.2, 0.7, 0.6])], callbacks=[stop, rec], verbose=0)
    assert len(rec.epoch_params) == 3
    for kept, best in zip(params(s), rec.epoch_params[1]):
        np.testing.assert_array_equal(kept, best)


@pytest.mark.parametrize("monitor, values, stops_after", [("loss", [3.0, 2.0, 2.5, 1.0], 3), ("acc", [1, 1, 1], 2)])
def test_early_stopping_mode_auto(monitor: str, values: list[float], stops_after: int) -> None:
    """'auto' minimizes losses and maximizes accuracies."""
    x, y = blobs(6)

    def acc(y: np.ndarray, t: np.ndarray) -> float:
        return next(it)

    it = iter(values)
    stop = tn.EarlyStopping(monitor="acc" if monitor == "acc" else "fake_loss", patience=1)
    acc.__name__ = stop.monitor
    hist = classifier().fit(x, y, epochs=10, batch_size=6, metrics=[acc], callbacks=[stop], verbose=0)
    assert len(hist["loss"]) == stops_after


def test_model_checkpoint_saves_the_best_model_atomically(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = blobs(12)
    rec = Recorder()
    path = tmp_path / "best.tn"
    check = tn.ModelCheckpoint(path, monitor="score", mode="max")
    s = classifier()
    s.fit(x, y, epochs=4, batch_size=12, metrics=[scripted([0.3, 0.8, 0.5, 0.6])], callbacks=[check, rec], verbose=0)
    assert [epoch for epoch, _ in check.saved] == [0, 1]
    loaded = tn.load(path)
    for kept, best in zip(params(loaded), rec.epoch_params[1]):
        np.testing.assert_array_equal(kept, best)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.tn"]  # no temporary files left


def test_model_checkpoint_every_epoch_with_formatted_names_and_weights_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = blobs(12)
    rec = Recorder()
    check = tn.ModelCheckpoint(tmp_path / "w-{epoch}.npz", monitor="loss", save_best_only=False, weights_only=True)
    s = classifier()
    s.fit(x, y, epochs=3, batch_size=6, callbacks=[check, rec], verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-1.npz", "w-2.npz", "w-3.npz"]
    other = classifier(seed=5)
    other.load_weights(tmp_path / "w-2.npz", checkpoint="best")
    for kept, saved in zip(params(other), rec.epoch_params[1]):
        np.testing.assert_array_equal(kept, saved)


def test_step_schedule_changes_the_learning_rate_per_epoch() -> None:
    x, y = blobs(8)
    rec = Recorder()
    s = classifier()
    hist = s.fit(x, y, epochs=5, batch_size=4, optimizer="sgd", lr=0.1,
                 callbacks=[tn.StepLR(every=2, gamma=0.5), rec], verbose=0)
    per_epoch = [0.1, 0.1, 0.05, 0.05, 0.025]
    assert rec.lrs == pytest.approx([lr for lr in per_epoch for _ in range(2)])
    assert hist["lr"] == pytest.approx(per_epoch)
    assert s.optimizer is not None and s.optimizer.lr == 0.1  # the starting rate is back after fit


@pytest.mark.parametrize("steps, min_lr", [(None, 0.0), (4, 0.01)])
def test_cosine_schedule_follows_the_formula(steps: int | None, min_lr: float) -> None:
    x, y = blobs(9)
    rec = Recorder()
    classifier().fit(x, y, epochs=3, batch_size=3, optimizer="sgd", lr=0.2,
                     callbacks=[tn.CosineLR(min_lr=min_lr, steps=steps), rec], verbose=0)
    total = steps or 9
    expected = [min_lr + 0.5 * (0.2 - min_lr) * (1 + math.cos(math.pi * min(t, total) / total)) for t in range(9)]
    assert rec.lrs == pytest.approx(expected)


def test_schedules_need_fit() -> None:
    s = classifier()
    from tn_core.plugins import get_plugins

    get_plugins().register(tn.StepLR(), "schedule-outside-fit")
    try:
        _, state = s.guess([np.zeros((1, 6))], return_state=True)
        with pytest.raises(tn.ConfigError, match="fit callback"):
            s.learn(state, [np.zeros((1, 3))])
    finally:
        get_plugins().unregister("schedule-outside-fit")


@pytest.mark.parametrize("max_norm", [1e-3, 0.05, 1e3])
def test_gradient_clipping_bounds_the_global_norm(max_norm: float) -> None:
    x, y = blobs(16)
    s = classifier()
    seen: list[float] = []

    class Norm(tn.Callback):
        def after_update(self, grads: dict, optimizer: object, step: int, loss: float) -> None:
            seen.append(math.sqrt(sum(float(np.vdot(g, g)) for group in grads.values() for g in group.values())))

    clip = tn.GradientClip(max_norm)
    before = params(s)
    s.fit(x, y, epochs=1, batch_size=16, optimizer="sgd", lr=1.0, callbacks=[Norm(), clip], verbose=0)
    raw = s.gradients([x], [y])[0]  # the unclipped gradient at the starting point
    assert clip.norm is not None and seen[0] == pytest.approx(min(max_norm, clip.norm))
    # SGD with lr 1 moved the parameters by exactly the clipped gradient
    moved = math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(params(s), before)))
    assert moved == pytest.approx(min(max_norm, clip.norm))
    assert raw  # gradients exist for the network


def test_gradient_clipping_rejects_bad_norms() -> None:
    with pytest.raises(tn.ConfigError, match="max_norm"):
        tn.GradientClip(0.0)
    with pytest.raises(tn.ConfigError, match="mode"):
        tn.EarlyStopping(mode="up")


def test_a_callback_ignores_other_systems() -> None:
    """Hooks fire for every System; a callback bound by fit acts on its own System only."""
    x, y = blobs(8)
    other = classifier(seed=1)

    class Meddler(tn.Callback):
        def after_update(self, grads: dict, optimizer: object, step: int, loss: float) -> None:
            if step == 0:
                _, state = other.guess([x], return_state=True)
                other.learn(state, [y], method="sgd", scale=0.1)

    clip = tn.GradientClip(1e-9)
    before = params(other)
    classifier().fit(x, y, epochs=1, batch_size=8, callbacks=[clip, Meddler()], verbose=0)
    moved = math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(params(other), before)))
    assert moved > 1e-3  # the other System's update was not clipped to 1e-9


@pytest.mark.parametrize("mode, values", [("max", [0.5, 0.55, 0.58, 0.9]), ("min", [0.5, 0.45, 0.42, 0.1])])
def test_early_stopping_needs_a_gain_above_min_delta(mode: str, values: list[float]) -> None:
    """Gains of 0.05 and 0.08 over the best are not improvements with min_delta=0.1."""
    x, y = blobs(12)
    stop = tn.EarlyStopping(monitor="score", patience=2, min_delta=0.1, mode=mode, restore_best=False)
    hist = classifier().fit(x, y, epochs=10, batch_size=12, metrics=[scripted(values)], callbacks=[stop], verbose=0)
    assert len(hist["score"]) == 3 and stop.stopped_epoch == 2
    assert stop.best is not None and (stop.best.value, stop.best.epoch) == (pytest.approx(0.5), 0)


def test_early_stopping_mode_auto_maximizes_a_rising_accuracy() -> None:
    x, y = blobs(6)
    stop = tn.EarlyStopping(monitor="acc", patience=1)
    metric = scripted([0.5, 0.6, 0.7, 0.8])
    metric.__name__ = "acc"  # type: ignore[attr-defined]
    hist = classifier().fit(x, y, epochs=4, batch_size=6, metrics=[metric], callbacks=[stop], verbose=0)
    assert hist["acc"] == pytest.approx([0.5, 0.6, 0.7, 0.8]) and stop.stopped_epoch is None


def test_a_schedule_restarts_with_each_fit() -> None:
    """t counts the updates of this fit, not the System's lifetime steps."""
    x, y = blobs(8)
    rec = Recorder()
    s = classifier()
    for _ in range(2):
        s.fit(x, y, epochs=2, batch_size=8, optimizer="sgd", lr=0.1, callbacks=[tn.StepLR(every=1, gamma=0.5), rec],
              verbose=0)
    assert s.step == 4 and rec.lrs == pytest.approx([0.1, 0.05, 0.1, 0.05])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: tn.GradientClip("big"), r"GradientClip: max_norm must be a real number > 0, got 'big'"),
        (lambda: tn.GradientClip(float("nan")), r"max_norm must be a real number > 0"),
        (lambda: tn.EarlyStopping(patience=-1), r"EarlyStopping: patience must be an int >= 0, got -1"),
        (lambda: tn.EarlyStopping(patience=2.5), r"patience must be an int >= 0, got 2.5"),
        (lambda: tn.EarlyStopping(min_delta="x"), r"min_delta must be a real number >= 0"),
        (lambda: tn.StepLR(every=0), r"StepLR: every must be an int >= 1, got 0"),
        (lambda: tn.StepLR(gamma=True), r"gamma must be a real number > 0, got True"),
        (lambda: tn.CosineLR(min_lr=-1e-3), r"CosineLR: min_lr must be a real number >= 0"),
        (lambda: tn.ProgressBar(width=0), r"ProgressBar: width must be an int >= 1"),
        (lambda: tn.CosineLR(steps=0), r"CosineLR: steps must be an int >= 1, got 0"),
        (lambda: tn.CosineLR(steps=2.5), r"CosineLR: steps must be an int >= 1, got 2.5"),
        (lambda: tn.CosineLR(steps="10"), r"CosineLR: steps must be an int >= 1, got '10'"),
        (lambda: tn.ModelCheckpoint(None), r"ModelCheckpoint: path must be a str or a path, got None"),
    ],
)
def test_callback_settings_are_validated(make, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError, match=match):
        make()


def test_a_cosine_schedule_ending_at_zero_before_fit_ends_is_refused_before_any_update() -> None:
    """After ``steps`` updates the rate stays at min_lr, and no optimizer takes a rate of 0."""
    x, y = blobs(18)
    s = classifier()
    with pytest.raises(tn.ConfigError, match=r"CosineLR: after steps=2 of this fit's 9 updates the rate would stay at "
                                             r"min_lr = 0"):
        s.fit(x, y, epochs=3, batch_size=6, optimizer="sgd", lr=0.1, callbacks=[tn.CosineLR(steps=2)], verbose=0)
    assert s.step == 0
    s.fit(x, y, epochs=3, batch_size=6, optimizer="sgd", lr=0.1, callbacks=[tn.CosineLR(steps=2, min_lr=1e-3)],
          verbose=0)
    assert s.step == 9


def test_a_failed_fit_leaves_its_starting_rate_not_the_schedules() -> None:
    class FailAtSecondEpoch(tn.Callback):
        def on_epoch_end(self, epoch: int, logs: dict) -> None:
            if epoch == 1:
                raise RuntimeError("the callback's own error")

    x, y = blobs(24)
    s = classifier()
    with pytest.raises(tn.PluginError, match="the callback's own error"):
        s.fit(x, y, epochs=4, batch_size=12, optimizer="sgd", lr=0.1,
              callbacks=[tn.StepLR(every=1, gamma=0.5), FailAtSecondEpoch()], verbose=0)
    assert s.step == 4 and s.optimizer.lr == 0.1


def test_gradient_clipping_measures_float32_gradients_without_overflow() -> None:
    """The squares of gradients near 1e20 overflow float32: the norm is taken in float64, so they are clipped to
    the bound, not to 0."""
    x = tn.Input((4,))()
    s = tn.System([x], [tn.Dense(2)(x, rng=np.random.default_rng(0))], dtype=np.float32)
    clip = tn.GradientClip(1.0)
    before = params(s)
    s.fit(np.full((4, 4), 1e10, np.float32), np.zeros((4, 2), np.float32), epochs=1, batch_size=4, optimizer="sgd",
          lr=0.1, callbacks=[clip], verbose=0)
    assert math.isfinite(clip.norm) and clip.norm > 1e19
    moved = np.sqrt(sum(np.sum((a.astype(np.float64) - b) ** 2) for a, b in zip(params(s), before)))
    assert moved == pytest.approx(0.1, rel=1e-3)  # lr times the clipped norm 1


@pytest.mark.parametrize("callback", ["early stopping", "checkpoint"])
def test_a_nan_value_of_the_monitored_metric_is_never_the_best(callback: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = blobs(6)
    metric = scripted([math.nan, 0.5, 0.6, 0.7, 0.8])
    watcher = (tn.EarlyStopping(monitor="score", mode="max", patience=2, restore_best=False)
               if callback == "early stopping" else
               tn.ModelCheckpoint(tmp_path / "m-{epoch}.tn", monitor="score", mode="max"))
    classifier().fit(x, y, epochs=5, batch_size=6, metrics=[metric], callbacks=[watcher], verbose=0)
    assert watcher.best is not None and (watcher.best.value, watcher.best.epoch) == (pytest.approx(0.8), 4)
    if callback == "checkpoint":
        assert [epoch for epoch, _ in watcher.saved] == [1, 2, 3, 4]


def test_a_checkpoint_into_a_missing_folder_is_refused_when_fit_starts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = classifier()
    with pytest.raises(tn.ConfigError, match=r"ModelCheckpoint: path '.*m.tn': the folder '.*nope' does not exist"):
        s.fit(*blobs(6), epochs=2, callbacks=[tn.ModelCheckpoint(tmp_path / "nope" / "m.tn", monitor="loss")],
              verbose=0)
    assert s.step == 0


@pytest.mark.parametrize(("name", "checkpoint", "message"), [
    ("w.npz", "a/b", r"ModelCheckpoint: checkpoint must be a non-empty name without '/'"),
    ("w.h5", "best", r"ModelCheckpoint: save_weights\('.*w.h5'\): tensornet writes weights as an .npz archive"),
])
def test_a_weights_checkpoint_save_weights_would_refuse_is_refused_when_fit_starts(
        tmp_path: Path, name: str, checkpoint: str, message: str) -> None:
    s = classifier()
    watcher = tn.ModelCheckpoint(tmp_path / name, monitor="loss", weights_only=True, checkpoint=checkpoint)
    with pytest.raises(tn.ConfigError, match=message):
        s.fit(*blobs(6), epochs=2, callbacks=[watcher], verbose=0)
    assert s.step == 0 and list(tmp_path.iterdir()) == []


def test_a_callback_listed_twice_is_refused() -> None:
    stop = tn.EarlyStopping(monitor="loss")
    with pytest.raises(tn.ConfigError, match=r"fit: callbacks\[1\] .* is listed twice"):
        classifier().fit(*blobs(6), callbacks=[stop, stop], verbose=0)


class Journal(tn.Callback):
    """Writes the hooks it gets, as (its name, the hook), into ``log``."""

    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def on_train_begin(self, config: dict) -> None:
        self.log.append((self.name, "begin"))

    def on_train_end(self, history: dict) -> None:
        self.log.append((self.name, "end"))

    def on_train_failed(self, error: BaseException) -> None:
        self.log.append((self.name, f"failed: {error}"))


class ParallelJournal(Journal, tn.kit.Parallel):
    """A fit callback that is also a Parallel, as a data-parallel plugin's is (one process here)."""


def test_parallel_callbacks_begin_first_and_end_last() -> None:
    """A data-parallel callback attaches before the others' on_train_begin and detaches after their
    on_train_end, so that only its writing process writes in them."""
    log: list = []
    classifier().fit(*blobs(6), callbacks=[Journal("a", log), ParallelJournal("p", log), Journal("b", log)],
                     verbose=0)
    assert log == [("p", "begin"), ("a", "begin"), ("b", "begin"), ("a", "end"), ("b", "end"), ("p", "end")]


@pytest.mark.parametrize("when", ["in an update", "when training begins"])
def test_a_failed_fit_calls_on_train_failed_not_on_train_end(when: str) -> None:
    class Fail(tn.Callback):
        def on_train_begin(self, config: dict) -> None:
            if when == "when training begins":
                raise ValueError("no")

        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            raise ValueError("no")

    log: list = []
    with pytest.raises(tn.PluginError, match="ValueError: no") as caught:
        classifier().fit(*blobs(6), callbacks=[Journal("a", log), Fail(), ParallelJournal("p", log)], verbose=0)
    message = f"failed: {caught.value}"
    assert log == [("p", "begin"), ("a", "begin"), ("a", message), ("p", message)]


def test_an_on_train_failed_that_raises_is_a_warning_and_the_fits_error_stays() -> None:
    class Careless(tn.Callback):
        def on_train_failed(self, error: BaseException) -> None:
            raise KeyError("cleanup")

    class Fail(tn.Callback):
        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            raise ValueError("no")

    with pytest.warns(RuntimeWarning, match=r"fit failed with PluginError: .*ValueError: no; then .*Careless raised "
                                            r"KeyError"), pytest.raises(tn.PluginError, match="ValueError: no"):
        classifier().fit(*blobs(6), callbacks=[Careless(), Fail()], verbose=0)


@pytest.mark.parametrize(("gamma", "lr", "rate"), [(1e-300, 0.1, "0.0"), (1e200, 1e-300, "inf")])
def test_a_step_schedule_whose_rate_vanishes_or_overflows_is_a_config_error(gamma: float, lr: float, rate: str) -> None:
    s = classifier()
    with pytest.raises(tn.ConfigError, match=f"StepLR: the learning rate at update 4 of this fit would be {rate}, "
                                             "which no optimizer takes"):
        s.fit(*blobs(12), epochs=3, batch_size=6, optimizer="sgd", lr=lr,
              callbacks=[tn.StepLR(every=1, gamma=gamma)], verbose=0)
    assert s.step == 4 and s.optimizer.lr == lr  # the third epoch's first update refused, the rate put back
