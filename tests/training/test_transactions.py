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
    s, adam = classifier(dtype=np.float32), tn.Adam(lr=1e39)
    _, state = s.guess([X[:8]], return_state=True)
    with pytest.raises(tn.NonFiniteError, match="would make"):
        s.learn(state, [Y[:8]], method=adam)
    assert adam.state().keys() == {"steps"} and adam.steps == 0
    assert s.optimizer is None  # the System has no optimizer until an update is done


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
    first = InPlaceMomentum(lr=1e39)
    with pytest.raises(tn.NonFiniteError, match="would make"):  # the first step: no slots are left behind
        s.learn(s.guess([X[:8]], return_state=True)[1], [Y[:8]], method=first)
    assert first.state().keys() == {"steps"} and first.steps == 0 and s.optimizer is None
    s.fit(X, Y, epochs=1, batch_size=16, optimizer=InPlaceMomentum(lr=0.01), verbose=0)
    before = snapshot(s)
    s.optimizer.lr = 1e39
    with pytest.raises(tn.NonFiniteError, match=r"step 2: the InPlaceMomentum update \(lr 1e\+39\) would make"):
        s.learn(s.guess([X[:8] * 1e3], return_state=True)[1], [Y[:8]], method=s.optimizer)
    assert same(before, snapshot(s))


def whole(system: tn.System) -> tuple[Any, ...]:
    """What a refused call must leave as it was: the parameters, the optimizer object with its slots and learning
    rate, the loss of the last fit and the generator's state."""
    optimizer = system.optimizer
    return (snapshot(system), optimizer, None if optimizer is None else optimizer.lr, system.loss,
            str(system.rng.bit_generator.state))


def same_whole(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return same(a[0], b[0]) and a[1] is b[1] and a[2:] == b[2:]


@attrs.define
class RaiseAtBatch(kit.Structure):
    """y = x (and a dropout-like draw from the System's generator), raising in forward while ``raising``."""

    raising: bool = False

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        kit.forward_rng().random()
        if self.raising:
            raise RuntimeError("the layer's own error")
        return [inputs[0]], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0]], {}


class RefuseToBegin(tn.Callback):
    def on_train_begin(self, config: dict) -> None:
        raise ZeroDivisionError("the callback's own error")


def raiser() -> tuple[tn.System, RaiseAtBatch]:
    layer = RaiseAtBatch()
    x = tn.Input((6,))()
    h = tn.Dense(8, activation="tanh")(layer(x), rng=np.random.default_rng(0))
    s = tn.System([x], [tn.Dense(3, activation="sigmoid")(h, rng=np.random.default_rng(1))])
    s.fit(X, Y, epochs=1, batch_size=16, optimizer="adam", lr=0.01, loss="ce", verbose=0)
    return s, layer


@pytest.mark.parametrize("call", [
    pytest.param(lambda s: s.fit(X, Y, optimizer="sgd", lr=0.5, loss="quad", verbose=0, callbacks=[3]),
                 id="a callback without hooks"),
    pytest.param(lambda s: s.fit(X, Y, optimizer="momentum", verbose=0, seed=-1), id="a negative seed"),
    pytest.param(lambda s: s.fit(X, Y, optimizer="rmsprop", verbose=0, callbacks=[tn.EarlyStopping()]),
                 id="early stopping without validation"),
    pytest.param(lambda s: s.fit(X, Y, optimizer="adam", lr=1e300, loss="ce", verbose=0),
                 id="a learning rate that overflows"),
    pytest.param(lambda s: s.fit(X, Y, optimizer="sgd", lr=0.5, loss="quad", seed=3, verbose=0,
                                 callbacks=[RefuseToBegin()]),
                 id="a callback raising when training begins"),
])
def test_a_fit_refused_before_its_first_update_leaves_the_system_as_it_was(call: Any) -> None:
    """The optimizer object (Adam with its moments), its learning rate, the loss and the generator all stay."""
    s, _ = raiser()
    before = whole(s)
    with pytest.raises((tn.TensornetError, ZeroDivisionError)):  # a callback's own error is raised as it is
        call(s)
    assert same_whole(before, whole(s))
    assert s.optimizer.state()["steps"] == s.step == 2


def test_a_layer_raising_in_the_first_batch_of_a_fit_leaves_the_system_as_it_was() -> None:
    s, layer = raiser()
    before = whole(s)
    layer.raising = True
    with pytest.raises(RuntimeError, match="the layer's own error"):
        s.fit(X, Y, optimizer="sgd", lr=0.5, loss="quad", seed=7, verbose=0)
    assert same_whole(before, whole(s))


def test_a_fit_failing_after_updates_keeps_what_they_trained() -> None:
    """Updates done stay done: the new optimizer with its state, and the loss of that fit."""
    class Stop(tn.Callback):
        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            if step == 3:
                layer.raising = True

    s, layer = raiser()
    with pytest.raises(RuntimeError, match="the layer's own error"):
        s.fit(X, Y, batch_size=8, optimizer="momentum", lr=0.1, loss="quad", verbose=0, callbacks=[Stop()])
    assert isinstance(s.optimizer, tn.Momentum) and s.optimizer.lr == 0.1 and s.loss == "quad"
    assert (s.step, s.optimizer.steps) == (4, 2)  # Adam's two, then the fit's two


@pytest.mark.parametrize("call", [
    pytest.param(lambda s, state: s.learn(state, [Y[:4]], method="sgd", b1=0.5), id="a seed keyword sgd lacks"),
    pytest.param(lambda s, state: s.learn(state, [Y[:4]], method="sgd", scale=1e300, loss="ce"),
                 id="a learning rate that overflows"),
    pytest.param(lambda s, state: s.learn(state, [Y[:4, :2]], method="momentum"), id="targets of the wrong shape"),
])
@pytest.mark.filterwarnings("ignore:learn.*the seed's spelling:DeprecationWarning")
def test_a_refused_learn_leaves_the_optimizer_as_it_was(call: Any) -> None:
    s, _ = raiser()
    _, state = s.guess([X[:4]], return_state=True)
    before = whole(s)
    with pytest.raises(tn.TensornetError):
        call(s, state)
    assert same_whole(before, whole(s))


def test_an_after_update_hook_that_raises_finds_the_update_counted() -> None:
    """The update is done before the hooks after it run: system.step counts it, as the optimizer does."""
    seen = []

    class Log(tn.Callback):
        def after_update(self, grads: dict, optimizer: Any, step: int, loss: float) -> None:
            seen.append((step, self.system.step))
            raise OSError("log disk full")

    s = classifier()
    with pytest.raises(tn.PluginError, match="tn_after_update of callback Log raised OSError: log disk full"):
        s.fit(X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[Log()])
    assert seen == [(0, 1)]
    assert s.step == s.optimizer.steps == 1


@pytest.mark.parametrize(("replace", "message"), [
    (lambda g: np.ones((2, 2)), r"the gradient of dense_2\.biases is array \(2, 2\) of float64; expected a float "
                                r"array of shape \(3,\) \(after any tn_before_update hooks\)"),
    (lambda g: g.tolist(), r"the gradient of dense_2\.biases is list \[.*\]; expected a float array of shape \(3,\)"),
    (lambda g: g.astype(int), r"the gradient of dense_2\.biases is array \(3,\) of int64; expected a float array"),
])
def test_a_gradient_a_hook_replaced_badly_is_refused_before_the_update(replace: Any, message: str) -> None:
    class Replace(tn.Callback):
        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            if step == 2:
                layer = grads[self.system["dense_2"]]
                layer["biases"] = replace(layer["biases"])

    s = trained()
    before = snapshot(s)
    with pytest.raises(tn.ShapeError, match=r"^fit \(epoch 1, batch 1\): " + message):
        s.fit(X, Y, epochs=1, batch_size=16, optimizer="momentum", verbose=0, callbacks=[Replace()])
    assert same(before, snapshot(s))


def test_apply_gradients_refuses_gradients_that_are_not_per_layer_dicts() -> None:
    s = trained()
    before = snapshot(s)
    with pytest.raises(tn.ShapeError, match=r"the gradients are dict; expected \{layer instance: \{parameter name: "
                                            r"array\}\}"):
        s.apply_gradients({s["dense_2"]: [np.zeros(3)]}, s.optimizer, 0.5)
    assert same(before, snapshot(s))
