"""A System's parameters packed in one buffer, the optimizers' packed step, and the compiled executor.

The per-array path is the reference: an optimizer class that overrides ``propose`` without declaring it
elementwise updates one parameter at a time, as every optimizer did before packing, and the packed path
must give its numbers exactly (elementwise NumPy is the same arithmetic on one array or several).
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core import kit
from tn_core.optimizers import ALL, Optimizer
from tn_core.packed import Packed, span

OPTIMIZERS = [tn.SGD(lr=0.1), tn.Momentum(lr=0.05, nesterov=True), tn.RMSProp(lr=1e-2), tn.Adam(lr=1e-2),
              tn.AdamW(lr=1e-2, weight_decay=0.1)]


def recording(optimizer: Optimizer, elementwise: bool) -> tuple[Optimizer, list[int]]:
    """A copy of ``optimizer`` whose class records the index of each ``propose``; declared elementwise (the
    packed path) or not (the per-array path: the same math, one parameter at a time)."""
    base = type(optimizer)
    seen: list[int] = []

    def propose(self: Any, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        seen.append(i)
        return base.propose(self, i, p, g)

    namespace = {"propose": propose, "elementwise": elementwise}
    cls = attrs.define(type(f"Recording{base.__name__}", (base,), namespace))
    fields = {field.name: getattr(optimizer, field.name) for field in attrs.fields(base) if field.init}
    return cls(**fields), seen


def network(seed: int, dtype: Any = np.float64, shared: bool = True) -> tn.System:
    """4 -> Affine 5 tanh -> (a Clone'd Affine 5 tanh, used twice) -> Affine 3 logistic; the same weights for
    the same seed."""
    rng = np.random.default_rng(seed)
    x = tn.Input((4,))()
    h = Affine(5, activation="hyperbolictangent")(x, rng=rng)
    if shared:
        twice = tn.Clone(Affine(5, activation="hyperbolictangent"))
        h = twice(twice(h, rng=rng))
    y = Affine(3, activation="logistic")(h, rng=rng)
    return tn.System([x], [y], dtype=dtype)


def data(seed: int, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), rng.random((n, 3))


def arrays(system: tn.System) -> list[np.ndarray]:
    return [array for _, _, array in system.parameters()]


def assert_same_training(a: tn.System, b: tn.System) -> None:
    """Equal parameters (bit for bit) and optimizer state in the saved layout."""
    for p, q in zip(arrays(a), arrays(b)):
        np.testing.assert_array_equal(p, q)
    sa, sb = a.optimizer.state(), b.optimizer.state()  # type: ignore[union-attr]
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key])


# -- the buffer ------------------------------------------------------------------------------------------------


def test_a_system_s_parameters_are_views_of_one_buffer_keeping_their_values() -> None:
    rng = np.random.default_rng(0)
    x = tn.Input((4,))()
    h = Affine(5, activation="hyperbolictangent")(x, rng=rng)
    y = Affine(3)(h, rng=rng)
    built = {key: value.copy() for inst in (h, y) for key, value in inst.params.items()}
    s = tn.System([x], [y], dtype=np.float32)
    params = arrays(s)
    assert len({id(p.base) for p in params}) == 1 and params[0].base is not None
    assert sum(p.size for p in params) == params[0].base.size
    assert span(params) is not None  # back to back, in update order
    np.testing.assert_array_equal(y.params["weights"], built["weights"].astype(np.float32))
    assert all(p.dtype == np.float32 for p in params)


def test_the_optimizer_updates_the_arrays_the_layers_hold_and_sees_what_is_written_into_them() -> None:
    s = network(1, shared=False)
    x, t = data(2)
    inst = s["affine_1"]
    held = inst.params["weights"]
    held[...] = np.random.default_rng(3).normal(size=held.shape)  # written through the layer
    expected = held.copy()
    pgrads, _ = s.gradients([x], [t], loss="quad")
    expected -= 0.1 * pgrads[inst]["weights"]
    _, state = s.guess([x], return_state=True)
    s.learn(state, [t], method="sgd", scale=0.1)
    assert inst.params["weights"] is held  # the same array, changed in place
    np.testing.assert_allclose(held, expected, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_packed_and_per_array_training_agree(optimizer: Optimizer, dtype: Any) -> None:
    """Clone'd weights included: their gradient is summed into the buffer, then one step."""
    packed, per_array = network(4, dtype), network(4, dtype)
    fast, fast_calls = recording(optimizer, elementwise=True)
    slow, slow_calls = recording(optimizer, elementwise=False)
    x, t = data(5, 24)
    options: dict[str, Any] = {"epochs": 3, "batch_size": 8, "loss": "ce", "shuffle": False, "verbose": 0}
    packed.fit(x, t, optimizer=fast, **options)
    per_array.fit(x, t, optimizer=slow, **options)
    assert fast_calls == [ALL] * 9  # one proposal per step, for every parameter at once
    assert slow_calls == list(range(6)) * 9
    assert_same_training(packed, per_array)


def test_systems_sharing_layers_train_as_the_per_array_path() -> None:
    """A System over layers another System packed keeps them where they are (the two share them); its own
    layers go in its own buffer, so its parameters are not one buffer and it steps per array."""

    def pair(optimizer: Optimizer) -> tuple[tn.System, tn.System]:
        rng = np.random.default_rng(6)
        x = tn.Input((4,))()
        encoder = Affine(5, activation="hyperbolictangent")(x, rng=rng)
        first = tn.System([x], [Affine(3, activation="logistic")(encoder, rng=rng)])
        second = tn.System([x], [Affine(2)(encoder, rng=rng)])
        first.use_optimizer(copy.deepcopy(optimizer))
        second.use_optimizer(copy.deepcopy(optimizer))
        return first, second

    fast, slow = recording(tn.Adam(lr=1e-2), True), recording(tn.Adam(lr=1e-2), False)
    a1, a2 = pair(fast[0])
    b1, b2 = pair(slow[0])
    assert a2["affine_1"].params["weights"] is a1["affine_1"].params["weights"]
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = rng.normal(size=(5, 4))
        t1, t2 = rng.random((5, 3)), rng.normal(size=(5, 2))
        for system, t, loss in ((a1, t1, "ce"), (a2, t2, "quad"), (b1, t1, "ce"), (b2, t2, "quad")):
            _, state = system.guess([x], return_state=True)
            system.learn(state, [t], method=system.optimizer, loss=loss)
    assert_same_training(a1, b1)
    assert_same_training(a2, b2)
    for p, q in zip(arrays(a1), arrays(b1)):
        np.testing.assert_array_equal(p, q)


def test_loading_weights_writes_into_the_packed_parameters(tmp_path: Any) -> None:
    s = network(8)
    held = arrays(s)
    saved = [p.copy() for p in held]
    s.save_weights(tmp_path / "w.npz")
    x, t = data(9)
    s.fit(x, t, epochs=1, verbose=0)
    assert not all(np.array_equal(p, q) for p, q in zip(held, saved))
    s.load_weights(tmp_path / "w.npz")
    assert all(p is q for p, q in zip(arrays(s), held))
    for p, q in zip(held, saved):
        np.testing.assert_array_equal(p, q)
    assert span(held) is not None


def test_a_model_file_loads_packed_and_trains_on_as_the_original(tmp_path: Any) -> None:
    s = network(10)
    x, t = data(11)
    s.fit(x, t, epochs=2, batch_size=4, optimizer="adam", loss="ce", verbose=0, shuffle=False)
    s.save(tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    assert span(arrays(loaded)) is not None
    options: dict[str, Any] = {"epochs": 2, "batch_size": 4, "optimizer": "adam", "loss": "ce", "verbose": 0,
                               "shuffle": False}
    s.fit(x, t, **options)
    loaded.fit(x, t, **options)
    assert_same_training(s, loaded)


def test_a_replaced_parameter_array_is_the_one_trained() -> None:
    """Replacing a params entry makes the System update the new array (per array, as it is not packed)."""
    s, reference = network(12), network(12)
    x, t = data(13)
    inst = s["affine_3"]
    old = inst.params["weights"]
    new = inst.params["weights"] = old.copy()
    kept = old.copy()
    for system in (s, reference):
        system.fit(x, t, epochs=2, batch_size=4, optimizer="adam", loss="ce", verbose=0, shuffle=False)
    np.testing.assert_array_equal(old, kept)  # the buffer's view no longer is the parameter
    assert inst.params["weights"] is new
    assert_same_training(s, reference)


def test_a_deep_copy_of_an_optimizer_keeps_its_own_packed_state() -> None:
    rng = np.random.default_rng(14)
    params, _ = packed_and_lists(rng)
    adam = tn.Adam(lr=1e-2)
    adam.step(params, packed_and_lists(rng)[0])
    twin, twin_params = copy.deepcopy(adam), copy.deepcopy(params)
    grads = packed_and_lists(rng)[0]
    adam.step(params, grads)
    twin.step(twin_params, copy.deepcopy(grads))
    assert not np.shares_memory(twin.state()["m/0"], adam.state()["m/0"])
    for p, q in zip(params, twin_params):
        np.testing.assert_array_equal(p, q)
    for key, value in adam.state().items():
        np.testing.assert_array_equal(twin.state()[key], value)


def test_gradients_of_two_calls_are_separate_arrays() -> None:
    s = network(16)
    x1, t1 = data(17)
    x2, t2 = data(18)
    first, _ = s.gradients([x1], [t1])
    kept = {(inst, key): g.copy() for inst, grads in first.items() for key, g in grads.items()}
    s.gradients([x2], [t2])
    for (inst, key), g in kept.items():
        np.testing.assert_array_equal(first[inst][key], g)


def test_an_update_keeps_no_gradient_buffer_alive() -> None:
    """Peak memory: once the caller drops the gradients an update used, their buffer goes."""
    s = network(33)
    x, t = data(34)
    pgrads, _ = s.gradients([x], [t])
    buffer = weakref.ref(pgrads[s["affine_1"]]["weights"].base)
    s.apply_gradients(pgrads, s.use_optimizer("adam"), 0.5)
    del pgrads
    assert buffer() is None


def test_updates_compute_their_gradients_into_one_kept_buffer_and_the_hooks_see_it() -> None:
    """fit and learn reuse one gradient buffer (no allocation per step); the public gradients() does not."""
    s = network(35)
    x, t = data(36)
    seen: list[dict] = []

    class Check(tn.Callback):
        def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
            fresh, _ = s.gradients([x], [t])  # the same batch and parameters: the same numbers, in new arrays
            for inst, group in grads.items():
                for key, g in group.items():
                    np.testing.assert_array_equal(g, fresh[inst][key])
                    assert g.base is not fresh[inst][key].base
            seen.append({(inst, key): g for inst, group in grads.items() for key, g in group.items()})

    s.fit(x, t, epochs=2, batch_size=len(x), shuffle=False, callbacks=[Check()], verbose=0)
    assert len(seen) == 2 and seen[0].keys() == seen[1].keys()
    assert all(seen[0][key] is seen[1][key] for key in seen[0])  # the same arrays, refilled
    before = {key: g.copy() for key, g in seen[1].items()}
    _, state = s.guess([x], return_state=True)
    s.learn(state, [t], method="adam")  # learn fills the same buffer
    assert any(not np.array_equal(g, before[key]) for key, g in seen[1].items())


# -- the compiled plan ---------------------------------------------------------------------------------------


def test_batch_sizes_can_change_from_call_to_call() -> None:
    s = network(19)
    rng = np.random.default_rng(20)
    batches = [rng.normal(size=(n, 4)) for n in (3, 5, 3, 1, 5)]
    for x in batches:
        (y,) = s.guess([x])
        for row, sample in zip(y, x):
            np.testing.assert_allclose(row, s.guess([sample])[0], rtol=1e-14)
    x, t = batches[1], rng.random((5, 3))
    pgrads, _ = s.gradients([x], [t])
    twin = network(19)
    again, _ = twin.gradients([x], [t])
    for (a, b) in zip(pgrads.values(), again.values()):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_a_layer_that_breaks_its_promise_on_a_later_call_is_still_caught() -> None:
    """The results of every call are checked, not only the first with a batch size."""
    calls = []

    @attrs.define
    class Flaky(tn.Structure):
        def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
            return [input_shapes[0]], {"w": np.ones(1)}

        def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
            calls.append("forward")
            y = inputs[0] * params["w"]
            return [y if len(calls) < 3 else y[:, :1]], None

        def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
            g = grads[0].sum(axis=0)[:1]
            return [grads[0]], {"w": g if len(calls) < 2 else g.astype(np.float32)}

    x = tn.Input((2,))()
    s = tn.System([x], [Flaky()(x)], dtype=np.float64)
    xs, ts = np.ones((3, 2)), np.zeros((3, 2))
    s.gradients([xs], [ts])
    with pytest.raises(tn.PluginError, match=r"Flaky 'flaky_1'.backward returned parameter 'w': dtype float32"):
        s.gradients([xs], [ts])
    with pytest.raises(tn.PluginError, match=r"Flaky 'flaky_1'.forward returned outputs of shapes \[\(3, 1\)\]"):
        s.guess([xs])


def test_a_layer_computes_its_weights_gradient_into_the_system_s_buffer_once_per_pass() -> None:
    """gradient_target: the first request for a parameter gets its place in the buffer, later ones None
    (a layer using its weights twice adds the second gradient itself); outside a System, None."""
    offered: list[bool] = []

    @attrs.define
    class Twice(tn.Structure):
        """y = W (W x): the weights used twice, each use's gradient from affine_backward."""

        def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
            return [input_shapes[0]], {"weights": rng.normal(size=(3, 3)) / 2}

        def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
            h = inputs[0] @ params["weights"].T
            return [h @ params["weights"].T], (inputs[0], h)

        def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
            x, h = cache
            offered.append(kit.gradient_target(np.zeros(3)) is None)  # not a parameter: never offered
            dh, dw_outer, _ = kit.affine_backward(h, params["weights"], grads[0])
            dx, dw_inner, _ = kit.affine_backward(x, params["weights"], dh)
            return [dx], {"weights": dw_outer + dw_inner}

    x = tn.Input((3,))()
    s = tn.System([x], [Twice()(x)], dtype=np.float64)
    rng = np.random.default_rng(21)
    kit.check_system_gradients(s, [rng.normal(size=(4, 3))], [rng.normal(size=(4, 3))])
    assert offered and all(offered)
    assert kit.gradient_target(s["twice_1"].params["weights"]) is None


def test_seeds_is_the_former_name_of_output_grads() -> None:
    s = network(22)
    x, t = data(23)
    state = s.forward([x], training=True)
    _, output_grads, fused = s.loss_gradients(state, [t], "quad")
    expected, _ = s.backward(state, output_grads, fused)
    with pytest.warns(DeprecationWarning, match=r"backward\(seeds=\) is renamed backward\(output_grads=\)"):
        got, _ = s.backward(state, seeds=output_grads)
    for inst, grads in expected.items():
        for key, g in grads.items():
            np.testing.assert_array_equal(got[inst][key], g)


def test_a_gradient_for_an_output_of_another_system_is_refused() -> None:
    s, other = network(24), network(24)
    state = s.forward([data(25)[0]])
    with pytest.raises(tn.ShapeError, match="which is not in this System"):
        s.backward(state, {other.outputs[0]: np.ones((16, 3))})


def test_a_new_learning_rate_changes_the_kept_optimizer() -> None:
    s = network(26)
    x, t = data(27)
    _, state = s.guess([x], return_state=True)
    s.learn(state, [t], method="adam", scale=0.1)
    adam = s.optimizer
    s.learn(state, [t], method="adam", scale=0.05)
    assert s.optimizer is adam and adam.lr == 0.05 and adam.steps == 2
    with pytest.raises(tn.ConfigError, match="lr"):
        s.learn(state, [t], method="adam", scale=-1.0)
    assert s.optimizer is adam and adam.lr == 0.05 and adam.steps == 2


def test_learn_keeps_the_optimizer_only_while_the_name_still_means_it() -> None:
    s = network(28)
    x, t = data(29)
    _, state = s.guess([x], return_state=True)
    s.learn(state, [t], method="adam")
    adam = s.optimizer
    s.learn(state, [t], method="adam")
    assert s.optimizer is adam and adam.steps == 2
    s.optimizer = tn.SGD(lr=0.1)  # replaced by hand: "adam" no longer names the System's optimizer
    s.learn(state, [t], method="adam")
    assert isinstance(s.optimizer, tn.Adam) and s.optimizer is not adam and s.optimizer.steps == 1
    s.learn(state, [t], method="sgd")
    assert type(s.optimizer) is tn.SGD and s.optimizer.steps == 1


# -- the optimizers' packed step ----------------------------------------------------------------------------

SHAPES = [(3, 4), (4,), (), (2, 1, 3)]


def packed_and_lists(rng: np.random.Generator, dtype: Any = np.float64) -> tuple[Packed, list[np.ndarray]]:
    flat = rng.normal(size=sum(int(np.prod(s)) for s in SHAPES)).astype(dtype)
    packed = Packed(flat, SHAPES)
    return packed, [p.copy() for p in packed]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_a_packed_step_equals_the_per_array_steps(optimizer: Optimizer) -> None:
    rng = np.random.default_rng(28)
    params, plain = packed_and_lists(rng)
    fast, slow = copy.deepcopy(optimizer), copy.deepcopy(optimizer)
    for _ in range(4):
        grads, grad_list = packed_and_lists(rng)
        fast.step(params, grads)
        slow.step(plain, grad_list)
        for p, q in zip(params, plain):
            np.testing.assert_array_equal(p, q)
    assert fast.state().keys() == slow.state().keys()  # "<name>/<parameter index>", as files store it
    for key, value in fast.state().items():
        np.testing.assert_array_equal(value, slow.state()[key])


def test_loaded_state_is_packed_at_the_next_step() -> None:
    rng = np.random.default_rng(29)
    params, plain = packed_and_lists(rng)
    source = tn.Adam(lr=1e-2)
    for _ in range(2):
        source.step([p.copy() for p in plain], [rng.normal(size=s) for s in SHAPES])
    fast, slow = tn.Adam(lr=1e-2), tn.Adam(lr=1e-2)
    fast.load_state(source.state())
    slow.load_state(source.state())
    grads, grad_list = packed_and_lists(rng)
    fast.step(params, grads)
    slow.step(plain, grad_list)
    for p, q in zip(params, plain):
        np.testing.assert_array_equal(p, q)
    assert fast.steps == slow.steps == 3


def test_a_packed_step_with_a_parameter_without_gradient_steps_per_array() -> None:
    rng = np.random.default_rng(30)
    params, plain = packed_and_lists(rng)
    fast, seen = recording(tn.Adam(lr=1e-2), elementwise=True)
    slow = tn.Adam(lr=1e-2)
    grads, grad_list = packed_and_lists(rng)
    fast.step(params, [*grads[:2], None, grads[3]])
    slow.step(plain, [*grad_list[:2], None, grad_list[3]])
    assert seen == [0, 1, 3]
    for p, q in zip(params, plain):
        np.testing.assert_array_equal(p, q)
    assert "m/2" not in fast.state()


@pytest.mark.parametrize("bad", [1, 3])
def test_a_packed_step_that_would_go_non_finite_names_the_parameter_and_changes_nothing(bad: int) -> None:
    rng = np.random.default_rng(31)
    params, _ = packed_and_lists(rng)
    adam = tn.Adam(lr=1e-2)
    grads, _ = packed_and_lists(rng)
    adam.step(params, grads)
    before, state = [p.copy() for p in params], {k: np.array(v) for k, v in adam.state().items()}
    grads, _ = packed_and_lists(rng)
    grads[bad][...] = np.inf
    with pytest.raises(tn.NonFiniteError) as info:
        adam.step(params, grads)
    assert info.value.parameter == bad and info.value.cause == "gradient"  # type: ignore[attr-defined]
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)
    assert adam.steps == 1 and adam.state().keys() == state.keys()
    for key, value in adam.state().items():
        np.testing.assert_array_equal(value, state[key])


def test_a_subclass_that_changes_propose_steps_per_array_unless_it_declares_elementwise() -> None:
    seen: list[int] = []

    @attrs.define
    class Normed(tn.SGD):
        """SGD with each step divided by its parameter's norm: not elementwise."""

        def propose(self, i, p, g):  # type: ignore[no-untyped-def]
            seen.append(i)
            return super().propose(i, p, g) / max(1.0, float(np.linalg.norm(p)))

    rng = np.random.default_rng(32)
    params, plain = packed_and_lists(rng)
    grads, grad_list = packed_and_lists(rng)
    Normed(lr=0.1).step(params, grads)
    assert seen == [0, 1, 2, 3]
    Normed(lr=0.1).step(plain, grad_list)
    for p, q in zip(params, plain):
        np.testing.assert_array_equal(p, q)


# -- the names before "slot" meant an output slot only ---------------------------------------------------------


def test_the_optimizer_s_state_was_called_slots() -> None:
    adam = tn.Adam()
    adam.step([np.ones(3)], [np.ones(3)])
    with pytest.warns(DeprecationWarning, match=r"Optimizer.slots is renamed Optimizer.state_arrays"):
        assert adam.slots is adam.state_arrays
    with pytest.warns(DeprecationWarning, match=r"Optimizer.slot\(\) is renamed Optimizer.state_array\(\)"):
        assert adam.slot("m", 0, np.ones(3)) is adam.state_arrays["m"][0]


def test_finite_slots_still_names_the_state_left_unchecked() -> None:
    """A state array that may overflow while the parameter stays finite: unchecked when so declared."""

    def optimizer(**declared: Any) -> Optimizer:
        @attrs.define
        class Overflowing(tn.SGD):
            def propose(self, i, p, g):  # type: ignore[no-untyped-def]
                np.multiply(g, np.inf, out=self.staged("x", i, p))  # inf for any g != 0
                return super().propose(i, p, g)

        for name, value in declared.items():
            setattr(Overflowing, name, value)
        return Overflowing(lr=0.1)

    p = np.ones(2)
    with pytest.raises(tn.NonFiniteError):
        optimizer().step([p], [np.ones(2)])
    optimizer(finite_state=("x",)).step([p], [np.ones(2)])
    with pytest.warns(DeprecationWarning, match=r"Overflowing.finite_slots is renamed finite_state"):
        optimizer(finite_slots=("x",)).step([p], [np.ones(2)])
    np.testing.assert_allclose(p, 0.8)


def test_affine_backward_computes_the_bias_gradient_into_the_offered_buffer_when_given_the_biases(
    rng: np.random.Generator,
) -> None:
    from tn_core.structure import BackwardCall, call_backward

    w, b, x, g = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    targets = {id(w): np.empty((3, 4)), id(b): np.empty(3)}
    dw_target, db_target = targets[id(w)], targets[id(b)]
    _, dw, db = call_backward(kit.affine_backward, (x, w, g, False, b), BackwardCall((False,), targets))
    assert dw is dw_target and db is db_target
    np.testing.assert_allclose(dw, g.T @ x)
    np.testing.assert_allclose(db, g.sum(axis=0))
    targets = {id(w): np.empty((3, 4)), id(b): np.empty(3)}
    _, _, db = call_backward(kit.affine_backward, (x, w, g, False), BackwardCall((False,), targets))
    assert id(b) in targets and db is not targets[id(b)]  # without the biases, their place is not taken
    np.testing.assert_allclose(db, g.sum(axis=0))
