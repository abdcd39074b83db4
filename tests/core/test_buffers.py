"""Buffers: state a layer keeps in its params dict (running statistics) that files save but no
optimizer, weight decay, clipping or update hook ever sees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core import kit
from tn_core.plugins import get_plugins
from tn_core.testing import check_structure


@attrs.define
class Center(kit.Structure):
    """y = x - m + shift; m is the batch mean in training (and moves running_mean), running_mean in inference."""

    buffers: ClassVar[tuple[str, ...]] = ("running_mean",)
    momentum: float = 0.5

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        shape = input_shapes[0]
        return [shape], {"shift": rng.normal(size=shape), "running_mean": np.zeros(shape)}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        x = inputs[0]
        if training:
            mean = x.mean(axis=0)
            params["running_mean"] += self.momentum * (mean - params["running_mean"])
        else:
            mean = params["running_mean"]
        return [x - mean + params["shift"]], training

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        g = grads[0]
        return [g - g.mean(axis=0) if cache else g], {"shift": g.sum(axis=0)}


@attrs.define
class CenterGradingItsBuffer(Center):
    """Planted bug: backward returns a gradient for its buffer."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        in_grads, p_grads = super().backward(params, cache, grads)
        return in_grads, {**p_grads, "running_mean": grads[0].sum(axis=0)}


@attrs.define
class CenterTrainingInInference(Center):
    """Planted bug: inference moves the running mean too."""

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return super().forward(params, inputs, True)


@attrs.define
class Forgetful(Center):
    """Planted bug: declares a buffer that build does not make."""

    buffers: ClassVar[tuple[str, ...]] = ("running_mean", "running_var")


@pytest.fixture
def registered() -> Iterator[None]:
    structures = [Center, CenterGradingItsBuffer, CenterTrainingInInference]
    get_plugins().register(SimpleNamespace(tn_register_structures=tn.hookimpl(lambda: structures)), "buffer-test")
    yield
    get_plugins().unregister("buffer-test")


def network(structure: kit.Structure | None = None, seed: int = 0) -> tuple[tn.System, tn.Instance]:
    rng = np.random.default_rng(seed)
    x = tn.Input((3,))()
    center = (structure or Center())(Affine(3)(x, rng=rng), rng=rng)
    return tn.System([x], [Affine(2)(center, rng=rng)], dtype=np.float64), center


DATA = np.random.default_rng(1).normal(2.0, 1.0, size=(8, 3)), np.random.default_rng(2).normal(size=(8, 2))


def test_optimizers_weight_decay_and_hooks_never_see_buffers() -> None:
    system, center = network()
    seen: list[set[str]] = []

    class Spy(tn.Callback):
        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            seen.append({key for layer in grads.values() for key in layer})

    expected = np.zeros(3)
    affine = system.order[1]
    for _ in range(3):
        hidden = system.forward([DATA[0]]).values[affine[0]]
        expected += 0.5 * (hidden.mean(axis=0) - expected)
        _, state = system.guess([DATA[0]], return_state=True)
        system.learn(state, [DATA[1]], method=tn.AdamW(lr=0.1, weight_decay=0.5))
    np.testing.assert_allclose(center.params["running_mean"], expected, rtol=1e-12)
    system.fit(DATA[0], DATA[1], epochs=2, batch_size=4, optimizer=tn.AdamW(weight_decay=0.5), verbose=0,
               callbacks=[Spy(), tn.GradientClip(0.01)])
    assert seen and all("running_mean" not in keys and "shift" in keys for keys in seen)
    pgrads, _ = system.gradients([DATA[0]], [DATA[1]])
    assert set(pgrads[center]) == {"shift"}
    assert [name for _, name, _ in system.parameters()].count("running_mean") == 0
    assert [(layer, name) for layer, name, _ in system.buffers()] == [("center_1", "running_mean")]
    assert len(system.optimizer.state_arrays["m"]) == len(system.parameters())


def test_a_layer_with_only_buffers_has_nothing_to_train() -> None:
    @attrs.define
    class OnlyState(Center):
        buffers: ClassVar[tuple[str, ...]] = ("running_mean", "shift")

        def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
            return [grads[0]], {}

    x = tn.Input((3,))()
    system = tn.System([x], [OnlyState()(x)], dtype=np.float64)
    assert system.parameters() == [] and len(system.buffers()) == 2
    pgrads, (dx,) = system.gradients([DATA[0]], [DATA[0]])
    assert pgrads == {} and dx.shape == (8, 3)


def test_weights_and_model_files_keep_buffers(registered: None, tmp_path: Path) -> None:
    system, center = network()
    system.fit(DATA[0], DATA[1], epochs=2, batch_size=4, optimizer="adamw", verbose=0)
    stats = center.params["running_mean"].copy()
    assert np.abs(stats).min() > 0.01
    system.save_weights(tmp_path / "w.npz")
    fresh, fresh_center = network(seed=5)
    fresh.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(fresh_center.params["running_mean"], stats)
    assert "default/center_1/running_mean" in np.load(tmp_path / "w.npz").files
    tn.save(system, tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    np.testing.assert_array_equal(loaded.buffers()[0][2], stats)
    np.testing.assert_array_equal(loaded.guess([DATA[0]])[0], system.guess([DATA[0]])[0])
    resumed = [s.fit(DATA[0], DATA[1], epochs=1, batch_size=4, shuffle=False, verbose=0)["loss"] for s in
               (system, loaded)]
    assert resumed[0] == resumed[1]


def test_summary_counts_buffers_apart(capsys: pytest.CaptureFixture) -> None:
    system, _ = network()
    system.summary()
    out = capsys.readouterr().out
    assert "3 + 3 non-trainable" in out
    assert "parameters: 23 (float64, shared parameters counted once); non-trainable: 3 (buffers)" in out


def test_a_gradient_for_a_buffer_is_a_plugin_error_and_changes_nothing() -> None:
    system, _ = network(CenterGradingItsBuffer())
    before = [array.copy() for _, _, array in system.parameters()]
    _, state = system.guess([DATA[0]], return_state=True)
    with pytest.raises(tn.PluginError, match=r"CenterGradingItsBuffer 'centergradingitsbuffer_1'.backward returned "
                                             r"gradients for \['running_mean'\].*buffers \['running_mean'\] get none"):
        system.learn(state, [DATA[1]])
    assert all(np.array_equal(a, b) for a, b in zip(before, [array for _, _, array in system.parameters()]))


def test_a_declared_buffer_that_build_does_not_make_is_a_plugin_error() -> None:
    with pytest.raises(tn.PluginError, match=r"Forgetful .*no array for the buffers \['running_var'\]"):
        Forgetful()(tn.Input((3,))())


def test_the_kit_checks_buffers(registered: None) -> None:
    report = check_structure(Center(), [(2, 3)])
    assert "buffers" in report.passed and "gradients (training)" in report.passed
    with pytest.raises(AssertionError, match=r"\[buffers\] inference \(training=False\) changed the buffers"):
        check_structure(CenterTrainingInInference(), [(4,)])
    with pytest.raises(AssertionError, match=r"backward returned gradients for the buffers \['running_mean'\]"):
        check_structure(CenterGradingItsBuffer(), [(4,)])


class FreezeFirstBiasesAtStep0:
    """A tn_before_update plugin freezing the first Affine layer's biases for the first update (it drops their
    gradient), so the optimizer has no state for that parameter yet when the model is saved."""

    @tn.hookimpl
    def tn_before_update(self, system: tn.System, grads: dict, optimizer: Any, step: int) -> None:
        if step == 0:
            grads[system.order[1]].pop("biases")


def test_optimizer_state_of_a_parameter_without_gradients_saves_and_loads(registered: None, tmp_path: Path) -> None:
    get_plugins().register(FreezeFirstBiasesAtStep0(), "freeze-test")
    try:
        for method in ("adam", "momentum", "rmsprop"):
            system, _ = network()
            _, state = system.guess([DATA[0]], return_state=True)
            system.learn(state, [DATA[1]], method=method)
            assert any(array is None for arrays in system.optimizer.state_arrays.values() for array in arrays)
            tn.save(system, tmp_path / f"{method}.tn")
            loaded = tn.load(tmp_path / f"{method}.tn")
            assert sorted(loaded.optimizer.state()) == sorted(system.optimizer.state())
            for s in (system, loaded):
                for _ in range(3):
                    _, state = s.guess([DATA[0]], return_state=True)
                    s.learn(state, [DATA[1]], method=method)
            np.testing.assert_array_equal(loaded.guess([DATA[0]])[0], system.guess([DATA[0]])[0])
    finally:
        get_plugins().unregister("freeze-test")


@attrs.define
class RunningScale(kit.Structure):
    """Training: y = x, and running_scale moves towards 1 + mean |x|. Inference: y = x / running_scale."""

    buffers: ClassVar[tuple[str, ...]] = ("running_scale",)
    forgets_the_scale: bool = False  # planted bug: inference backward as if running_scale were 1

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {"running_scale": np.ones(input_shapes[0])}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        x = inputs[0]
        if training:
            params["running_scale"] += 0.5 * (1 + np.abs(x).mean(axis=0) - params["running_scale"])
            return [x], None
        return [x / params["running_scale"]], params["running_scale"]

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0] if cache is None or self.forgets_the_scale else grads[0] / cache], {}


def test_gradient_checks_move_buffers_off_their_initial_values() -> None:
    kit.check_gradients(RunningScale(), [(2, 3)])
    with pytest.raises(AssertionError, match="input 0: .* checked entries differ"):
        kit.check_gradients(RunningScale(forgets_the_scale=True), [(2, 3)])


@attrs.define
class Replacing(Center):
    """Moves its running mean by putting a new array in the params dict instead of writing into the old one."""

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        if training:
            params["running_mean"] = params["running_mean"] + 1.0
        return super().forward(params, inputs, False)


@attrs.define
class Exploding(kit.Structure):
    """y = x, or inf in the first sample (and a raising forward) while ``mode`` says so: a step that fails after
    the buffers before it have moved."""

    mode: str = ""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        if self.mode == "raise":
            raise RuntimeError("the layer's own error")
        y = inputs[0].copy()
        if self.mode == "inf":
            y[0, 0] = np.inf
        return [y], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0]], {}


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the backward pass of the inf
@pytest.mark.parametrize("center", [Center(), Replacing()], ids=["writing in place", "replacing the array"])
@pytest.mark.parametrize("mode", ["inf", "raise"])
@pytest.mark.parametrize("how", ["fit", "guess and learn"])
def test_a_failed_step_puts_the_buffers_back(center: kit.Structure, mode: str, how: str) -> None:
    """A step whose loss is not finite, or whose forward pass raises after a layer moved its running mean,
    leaves the running mean as it was: later predictions do not carry the failed batch."""
    rng = np.random.default_rng(0)
    exploding = Exploding()
    x = tn.Input((3,))()
    s = tn.System([x], [Affine(2)(exploding(center(Affine(3)(x, rng=rng), rng=rng)), rng=rng)], dtype=np.float64)
    s.fit(*DATA, epochs=1, batch_size=4, verbose=0)
    params = s.layers[f"{type(center).__name__.lower()}_1"].params
    before, array, outputs = params["running_mean"].copy(), params["running_mean"], s.guess([DATA[0]])[0]
    exploding.mode = mode
    with pytest.raises((tn.NonFiniteError, RuntimeError)):
        if how == "fit":
            s.fit(*DATA, epochs=1, batch_size=4, verbose=0)
        else:
            _, state = s.guess([DATA[0]], return_state=True)
            s.learn(state, [DATA[1]], method="adam")
    assert params["running_mean"] is array
    np.testing.assert_array_equal(array, before)
    exploding.mode = ""
    np.testing.assert_array_equal(s.guess([DATA[0]])[0], outputs)
