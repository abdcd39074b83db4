"""A training step is all or nothing (non-finite losses, gradients and updates leave every parameter and
optimizer slot as before), and each fit's callbacks belong to that fit alone."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import numpy as np
import pytest

import tn_core as tn
from tn_core import kit
from tn_core.plugins import get_plugins

from .helpers import blobs, classifier


def snapshot(system: tn.System) -> list[np.ndarray]:
    """Copies of every parameter and optimizer slot, and the step counts."""
    slots = [] if system.optimizer is None else [a.copy() for a in system.optimizer.state().values()]
    return [a.copy() for _, _, a in system.parameters()] + slots + [np.array(system.step)]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@attrs.define
class NaNGradient(kit.Structure):
    """y = x + b, but the gradient of b is NaN."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {"b": np.zeros(input_shapes[0])}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [inputs[0] + params["b"]], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0]], {"b": np.full(params["b"].shape, np.nan, grads[0].dtype)}


X, Y = blobs(32)


def trained(method: str = "momentum", linear: bool = False) -> tn.System:
    """A classifier (or a linear map) after two fit steps, so the optimizer has slots to keep."""
    if linear:
        x = tn.Input((6,))()
        s = tn.System([x], [tn.Dense(3)(x, rng=np.random.default_rng(0))], dtype=np.float32)
    else:
        s = classifier(dtype=np.float32)
    s.fit(X, Y, epochs=1, batch_size=16, optimizer=method, lr=0.01, verbose=0)
    return s


def test_learn_refuses_a_nan_gradient_and_changes_nothing() -> None:
    x = tn.Input((6,))()
    s = tn.System([x], [tn.Dense(3)(NaNGradient()(x))], dtype=np.float64)
    _, state = s.guess([X[:4]], return_state=True)
    s.use_optimizer("adam")
    before = snapshot(s)
    with pytest.raises(tn.NonFiniteError, match=r"^learn: the gradient of nangradient_1.b holds NaN or infinite "
                                                 r"values at step 0; the parameters and optimizer state are those"):
        s.learn(state, [Y[:4]], method="adam")
    assert same(before, snapshot(s))


def test_a_hook_injecting_nan_is_caught_after_the_hooks() -> None:
    class Poison(tn.Callback):
        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            if step == 2:
                next(iter(next(iter(grads.values())).values()))[...] = np.nan

    s = trained()
    before = snapshot(s)
    with pytest.raises(tn.NonFiniteError, match=r"^fit \(epoch 1, batch 1\): the gradient of dense_\d\.\w+ holds NaN "
                                                 r"or infinite values at step 2"):
        s.fit(X, Y, epochs=1, batch_size=16, optimizer="momentum", verbose=0, callbacks=[Poison()])
    assert same(before, snapshot(s))


@pytest.mark.parametrize("method", ["sgd", "momentum", "rmsprop", "adam", "adamw"])
def test_an_update_that_overflows_is_undone(method: str) -> None:
    s = trained(method, linear=True)
    before = snapshot(s)
    _, state = s.guess([X[:8] * 1e3], return_state=True)  # large inputs: large weight gradients
    with pytest.raises(tn.NonFiniteError, match=r"^learn: step 2: the \w+ update \(lr 1e\+39\) would make dense_1"
                                                r"\.\w+ or its optimizer state non-finite; the parameters and "):
        s.learn(state, [Y[:8]], method=method, scale=1e39)
    after = snapshot(s)
    assert same(before[:-1], after[:-1]) and s.step == 2 and s.optimizer.steps == 2
    s.learn(s.guess([X[:8]], return_state=True)[1], [Y[:8]], method=method, scale=0.01)  # it trains on
    assert all(np.isfinite(a).all() for a in snapshot(s))


def test_the_first_step_failing_leaves_no_optimizer_state() -> None:
    s = classifier(dtype=np.float32)
    _, state = s.guess([X[:8]], return_state=True)
    with pytest.raises(tn.NonFiniteError, match="would make"):
        s.learn(state, [Y[:8]], method="adam", scale=1e39)
    assert s.optimizer.state().keys() == {"steps"} and s.optimizer.steps == 0


# -- callbacks belong to their fit ------------------------------------------------------------------------


class Recorder(tn.Callback):
    def __init__(self) -> None:
        self.systems: set[int] = set()
        self.updates = 0

    def after_update(self, grads: dict, optimizer: Any, step: int, loss: float) -> None:
        self.systems.add(id(self.system))
        self.updates += 1


def test_two_systems_training_in_two_threads_keep_their_callbacks_apart() -> None:
    systems = [classifier(seed) for seed in range(2)]
    recorders = [Recorder() for _ in systems]
    errors: list[BaseException] = []

    def train(s: tn.System, r: Recorder) -> None:
        try:
            s.fit(X, Y, epochs=5, batch_size=4, verbose=0, callbacks=[r])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=train, args=pair) for pair in zip(systems, recorders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for s, r in zip(systems, recorders):
        assert r.systems == {id(s)} and r.updates == s.step == 40


def test_a_fit_inside_a_callback_does_not_call_the_outer_fits_callbacks() -> None:
    inner, outer_recorder, inner_recorder = classifier(1), Recorder(), Recorder()

    class TrainAnother(tn.Callback):
        def on_epoch_end(self, epoch: int, logs: dict) -> None:
            inner.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[inner_recorder])

    outer = classifier(0)
    outer.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[TrainAnother(), outer_recorder])
    assert outer_recorder.updates == outer.step == 8 and outer_recorder.systems == {id(outer)}
    assert inner_recorder.updates == inner.step == 8 and inner_recorder.systems == {id(inner)}


@pytest.mark.parametrize("bad", [3, "progress", None, object()])
def test_a_callback_without_training_hooks_is_a_config_error(bad: object) -> None:
    s = classifier()
    with pytest.raises(tn.ConfigError, match=r"fit: callbacks\[1\] .* implements none of the training hooks"):
        s.fit(X, Y, verbose=0, callbacks=[Recorder(), bad])
    assert s.step == 0


def test_checkpoint_paths_and_monitors_are_checked_when_fit_starts(tmp_path: Path) -> None:
    s = classifier()
    with pytest.raises(tn.ConfigError, match=r"ModelCheckpoint: path '.*\{val_acc\}.tn' cannot be filled in with what "
                                             r"this fit logs \(KeyError: 'val_acc'\); it may use \{epoch\} and "):
        s.fit(X, Y, verbose=0, validation=(X, Y), callbacks=[tn.ModelCheckpoint(tmp_path / "m-{val_acc}.tn")])
    with pytest.raises(tn.ConfigError, match=r"EarlyStopping monitors 'val_loss', but this fit logs only "
                                             r"\['loss', 'lr'\]"):
        s.fit(X, Y, verbose=0, callbacks=[tn.EarlyStopping()])
    assert s.step == 0
    s.fit(X, Y, epochs=1, verbose=0, validation=(X, Y), loss="ce",  # a classification loss: accuracy is logged
          callbacks=[tn.ModelCheckpoint(tmp_path / "m-{epoch}-{val_accuracy:.2f}.tn")])
    assert len(list(tmp_path.glob("m-1-*.tn"))) == 1


def test_a_raising_update_hook_names_its_plugin_and_changes_nothing() -> None:
    def boom(system: Any, grads: dict, optimizer: Any, step: int) -> None:
        raise ValueError("boom")

    s = trained()
    before = snapshot(s)
    get_plugins().register(SimpleNamespace(tn_before_update=tn.hookimpl(boom)), "boom")
    try:
        with pytest.raises(tn.PluginError, match=r"tn_before_update of plugin 'boom' raised ValueError: boom"):
            s.fit(X, Y, epochs=1, batch_size=16, optimizer="momentum", verbose=0)
    finally:
        get_plugins().unregister("boom")
    assert same(before, snapshot(s))

    class Boom(tn.Callback):
        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            raise KeyError("oops")

    with pytest.raises(tn.PluginError, match=r"tn_before_update of callback Boom raised KeyError: 'oops'"):
        s.fit(X, Y, epochs=1, batch_size=16, optimizer="momentum", verbose=0, callbacks=[Boom()])
    assert same(before, snapshot(s))


@attrs.define
class InPlaceMomentum(kit.Optimizer):
    """A third party's optimizer written with update(i, p, g) in place: its steps are undone from copies."""

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        v = self.state_array("velocity", i, p)
        v *= 0.9
        v += g
        p -= self.lr * v


def test_an_in_place_optimizer_is_undone_too() -> None:
    x = tn.Input((6,))()
    s = tn.System([x], [tn.Dense(3)(x, rng=np.random.default_rng(0))], dtype=np.float32)
    with pytest.raises(tn.NonFiniteError, match="would make"):  # the first step: no slots are left behind
        s.learn(s.guess([X[:8]], return_state=True)[1], [Y[:8]], method=InPlaceMomentum(lr=1e39))
    assert s.optimizer.state().keys() == {"steps"} and s.optimizer.steps == 0
    s.fit(X, Y, epochs=1, batch_size=16, optimizer=InPlaceMomentum(lr=0.01), verbose=0)
    before = snapshot(s)
    s.optimizer.lr = 1e39
    with pytest.raises(tn.NonFiniteError, match=r"step 2: the InPlaceMomentum update \(lr 1e\+39\) would make"):
        s.learn(s.guess([X[:8] * 1e3], return_state=True)[1], [Y[:8]], method=s.optimizer)
    assert same(before, snapshot(s))
