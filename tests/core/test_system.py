"""The System: DAGs, batching, gradients through shared tensors and parameters, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core import kit
from tn_core.testing import check_system_gradients


def test_diamond_sums_both_paths(rng: np.random.Generator) -> None:
    x = tn.Input((4,))()
    h = Affine(3, activation="hyperbolictangent")(x)
    left = Affine(2, activation="logistic")(h)
    right = Affine(2)(h)
    out = tn.Concatenate()(left, right)
    s = tn.System([x], [out], dtype=np.float64)
    check_system_gradients(s, [rng.normal(size=(3, 4))], [rng.normal(size=(3, 4))])


def test_two_inputs_two_outputs_with_different_losses(rng: np.random.Generator) -> None:
    a, b = tn.Input((3,))(), tn.Input((2, 2))()
    joined = tn.FlatConcat()(a, b)
    h = Affine(5, activation="hyperbolictangent")(joined)
    y1 = Affine(2, activation="logistic")(h)
    y2 = Affine((3,))(tn.Concatenate()(h, a))
    s = tn.System([a, b], [y1, y2], dtype=np.float64)
    targets = [rng.random((4, 2)), rng.normal(size=(4, 3))]
    check_system_gradients(s, [rng.normal(size=(4, 3)), rng.normal(size=(4, 2, 2))], targets, loss=["ce", "quad"])


def test_constant_feeds_a_layer(rng: np.random.Generator) -> None:
    x = tn.Input((2,))()
    c = tn.Constant(np.array([0.5, -1.0, 2.0]))()
    y = Affine(2, activation="hyperbolictangent")(tn.Concatenate()(x, c))
    s = tn.System([x], [y], dtype=np.float64)
    check_system_gradients(s, [rng.normal(size=(3, 2))], [rng.normal(size=(3, 2))])


def test_shared_parameters_get_the_summed_gradient(rng: np.random.Generator) -> None:
    x = tn.Input((3,))()
    shared = tn.Clone(Affine(3, activation="hyperbolictangent"))
    first = shared(x)
    second = shared(first)
    assert first.params is second.params
    s = tn.System([x], [second], dtype=np.float64)
    check_system_gradients(s, [rng.normal(size=(2, 3))], [rng.normal(size=(2, 3))])
    pgrads, _ = s.gradients([rng.normal(size=(2, 3))], [rng.normal(size=(2, 3))])
    assert list(pgrads) == [first]  # one entry for the shared set, under its first instance


def test_shared_parameters_take_one_optimizer_step_per_update(rng: np.random.Generator) -> None:
    x = tn.Input((3,))()
    shared = tn.Clone(Affine(3, activation="hyperbolictangent"))
    y = shared(shared(x))
    s = tn.System([x], [y], dtype=np.float64)
    before = y.params["weights"].copy()
    _, state = s.guess([rng.normal(size=(2, 3))], return_state=True)
    s.learn(state, [rng.normal(size=(2, 3))], method="adam", scale=0.01)
    assert np.max(np.abs(y.params["weights"] - before)) == pytest.approx(0.01, rel=1e-6)  # one Adam step
    assert s.optimizer is not None and s.optimizer.steps == 1


def test_clone_of_an_instance_and_shape_mismatch() -> None:
    x = tn.Input((3,))()
    d = Affine(2)(x)
    twin = tn.Clone(d)(tn.Input((3,))())
    assert twin.params is d.params
    with pytest.raises(tn.ShapeError, match=r"built for inputs \[\(3,\)\], got \[\(4,\)\]"):
        tn.Clone(d)(tn.Input((4,))())


def test_multi_slot_outputs_and_unused_slots(rng: np.random.Generator) -> None:
    x = tn.Input((3, 2))()
    h = Affine((3, 2), activation="hyperbolictangent")(x)
    rows = tn.Split(axis=0)(h)
    y = Affine(2)(rows[1])  # slots 0 and 2 unused: their gradient is zero
    s = tn.System([x], [y, rows[2]], dtype=np.float64)
    check_system_gradients(s, [rng.normal(size=(2, 3, 2))], [rng.normal(size=(2, 2)), rng.normal(size=(2, 2))])


def test_single_sample_like_the_seed(rng: np.random.Generator) -> None:
    x = tn.Input((4,))()
    y = Affine(2, activation="logistic")(x)
    s = tn.System([x], [y])
    batch = rng.normal(size=(5, 4))
    one = s.guess([batch[1]])
    assert one[0].shape == (2,)
    np.testing.assert_allclose(one[0], s.guess([batch])[0][1], rtol=1e-6)
    _, state = s.guess([batch[1]], return_state=True)
    loss = s.learn(state, [np.array([1.0, 0.0])], method="sgd", scale=0.1, loss="ce")
    assert np.isfinite(loss)
    _, xgrads = s.gradients([batch[1]], [np.array([1.0, 0.0])])
    assert xgrads[0].shape == (4,)


def test_learning_reduces_the_loss() -> None:
    rng = np.random.default_rng(1)
    x = tn.Input((6,))()
    y = Affine(3, activation="logistic")(Affine(8, activation="hyperbolictangent")(x))
    s = tn.System([x], [y], seed=0)
    xs = rng.normal(size=(64, 6))
    ts = np.eye(3)[np.argmax(xs[:, :3], axis=1)]
    losses = []
    for _ in range(200):
        _, state = s.guess([xs], return_state=True)
        losses.append(s.learn(state, [ts], method="adam", scale=0.03, loss="ce"))
    assert losses[-1] < 0.3 * losses[0]


def test_float64_and_float32_systems(rng: np.random.Generator) -> None:
    x = tn.Input((3,))()
    y = Affine(2)(x)
    assert tn.System([x], [y]).guess([rng.normal(size=(2, 3))])[0].dtype == np.float32
    s64 = tn.System([x], [y], dtype="float64")
    assert y.params["weights"].dtype == np.float64
    assert s64.guess([rng.normal(size=(2, 3))])[0].dtype == np.float64
    with pytest.raises(tn.ConfigError, match="float32 or float64"):
        tn.System([x], [y], dtype=np.int32)


def test_an_input_missing_from_inputs_is_named() -> None:
    a, b = tn.Input((2,))(name="pixels"), tn.Input((2,))()
    y = tn.Concatenate()(a, b)
    with pytest.raises(tn.ShapeError, match="Input :: \\[\\] -> \\[\\(2,\\)\\] \\(named 'pixels'\\), which is not"):
        tn.System([b], [y])
    with pytest.raises(tn.ShapeError, match="must be an Input instance"):
        tn.System([y], [y])
    with pytest.raises(tn.ShapeError, match="listed twice"):
        tn.System([a, a, b], [y])


def test_learn_order_and_names_are_stable() -> None:
    x = tn.Input((2,))()
    h = Affine(2)(x)
    y = Affine(2, activation="hyperbolictangent")(h, name="head")
    s = tn.System([x], [y])
    assert [s.names[i] for i in s.order] == ["input_1", "affine_1", "head"]
    assert [(layer, p) for layer, p, _ in s.parameters()] == [
        ("affine_1", "biases"), ("affine_1", "weights"), ("head", "biases"), ("head", "weights")
    ]
    with pytest.raises(tn.ConfigError, match="named 'head'"):
        tn.System([x], [Affine(2)(y, name="head")])


def snapshot(system: tn.System) -> list[np.ndarray]:
    return [array.copy() for _, _, array in system.parameters()]


def assert_unchanged(system: tn.System, before: list[np.ndarray]) -> None:
    for old, (_, _, new) in zip(before, system.parameters(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.fixture
def mlp() -> tn.System:
    x = tn.Input((4, 2))()
    return tn.System([x], [Affine(3, activation="logistic")(x)])


@pytest.mark.parametrize(
    "inputs, error, match",
    [
        ([np.zeros((5, 4, 3))], tn.ShapeError, r"expected shape \(N, 4, 2\) or \(4, 2\), got \(5, 4, 3\)"),
        ([np.zeros((5, 4, 2)), np.zeros((5, 4, 2))], tn.ShapeError, "expected 1 arrays, got 2"),
        ([], tn.ShapeError, "expected 1 arrays, got 0"),
        ([np.full((2, 4, 2), np.nan)], tn.NonFiniteError, "16 NaN or infinite values"),
        ([[["a", "b"]] * 4], tn.ShapeError, "cannot be read as a float32 array"),
        ([np.zeros((2, 4, 2)) + 5j], tn.ShapeError, r"inputs\[0\]: cannot be read as a float32 array: its values are "
                                                   "complex128"),
        ("not a list", tn.ShapeError, "expected a list of 1 arrays, got str"),
        ([np.zeros((0, 4, 2))], tn.ShapeError, r"inputs\[0\]: a batch of 0 samples \(shape \(0, 4, 2\)\); feed at "
                                               "least one"),
        ([None], tn.ShapeError, r"inputs\[0\]: got None, expected an array"),
    ],
)
def test_bad_inputs_to_guess(mlp: tn.System, inputs, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        mlp.guess(inputs)


@pytest.mark.parametrize(
    "targets, loss, error, match",
    [
        ([np.zeros((3, 4))], "quad", tn.ShapeError, r"true outputs\[0\]: expected shape \(N, 3\)"),
        ([np.zeros((2, 3))], "quad", tn.ShapeError, "2 samples for a forward pass of 5"),
        ([np.zeros((5, 3)), np.zeros((5, 3))], "quad", tn.ShapeError, "expected 1 arrays, got 2"),
        ([np.full((5, 3), np.inf)], "quad", tn.NonFiniteError, "NaN or infinite"),
        ([np.zeros((5, 3))], "quadd", tn.UnknownNameError, "did you mean 'quad'"),
    ],
)
def test_bad_targets_to_learn_leave_weights_unchanged(mlp: tn.System, targets, loss, error, match) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(mlp)
    _, state = mlp.guess([np.zeros((5, 4, 2))], return_state=True)
    with pytest.raises(error, match=match):
        mlp.learn(state, targets, method="adam", scale=0.1, loss=loss)
    assert_unchanged(mlp, before)


def test_complex_targets_are_refused_not_cut_to_their_real_part(mlp: tn.System) -> None:
    before = snapshot(mlp)
    with pytest.raises(tn.ShapeError, match=r"fit: targets\[0\]: cannot be read as a float32 array: its values are "
                                            "complex64"):
        mlp.fit(np.zeros((5, 4, 2)), np.zeros((5, 3), np.complex64) + 1j, epochs=1, verbose=0)
    assert mlp.step == 0
    assert_unchanged(mlp, before)


def test_unknown_optimizer_leaves_weights_unchanged(mlp: tn.System) -> None:
    before = snapshot(mlp)
    _, state = mlp.guess([np.zeros((5, 4, 2))], return_state=True)
    with pytest.raises(tn.UnknownNameError, match="unknown optimizer 'adamm'.*did you mean 'adam'"):
        mlp.learn(state, [np.zeros((5, 3))], method="adamm")
    with pytest.raises(tn.ConfigError, match="lr must be a real number > 0"):
        mlp.learn(state, [np.zeros((5, 3))], method="sgd", scale=-1)
    with pytest.raises(tn.ConfigError, match="lr must be a real number > 0"):
        mlp.learn(state, [np.zeros((5, 3))], method="sgd", scale="fast")
    assert_unchanged(mlp, before)


def test_non_finite_loss_refuses_the_update() -> None:
    x = tn.Input((2,))()
    y = Affine(3)(x)
    s = tn.System([x], [y])
    y.params["biases"][:] = 1e30  # float32: the quad loss overflows to inf
    before = snapshot(s)
    _, state = s.guess([np.zeros((2, 2))], return_state=True)
    with pytest.raises(tn.NonFiniteError, match="loss is inf at step 0"):
        s.learn(state, [np.zeros((2, 3))], loss="quad")
    assert_unchanged(s, before)


def test_learn_needs_a_state(mlp: tn.System) -> None:
    with pytest.raises(tn.ConfigError, match="state from guess"):
        mlp.learn([np.zeros(3)], [np.zeros(3)])


def test_learn_refuses_the_state_of_another_system(mlp: tn.System) -> None:
    x = tn.Input((4, 2))()
    other = tn.System([x], [Affine(3)(x)])
    _, state = other.guess([np.zeros((5, 4, 2))], return_state=True)
    before = snapshot(mlp)
    with pytest.raises(tn.ConfigError, match="another System's forward pass"):
        mlp.learn(state, [np.zeros((5, 3))], method="adam", scale=0.1)
    assert_unchanged(mlp, before)
    assert mlp.step == 0 and mlp.optimizer is None


@pytest.mark.parametrize("dtype", ["foo", int, np.float16])
def test_system_dtype_must_be_float32_or_float64(dtype) -> None:  # type: ignore[no-untyped-def]
    x = tn.Input((2,))()
    with pytest.raises(tn.ConfigError, match="System dtype must be float32 or float64"):
        tn.System([x], [Affine(3)(x)], dtype=dtype)


def test_broken_plugin_layer_is_reported_with_its_name() -> None:
    import attrs

    @attrs.define
    class Liar(tn.Structure):
        def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
            return [(3,)], {}

        def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
            return [inputs[0]], None

    x = tn.Input((2,))()
    s = tn.System([x], [Liar()(x)])
    with pytest.raises(tn.PluginError, match=r"Liar 'liar_1'.forward returned outputs of shapes \[\(4, 2\)\]"):
        s.guess([np.zeros((4, 2))])


def test_optimizer_state_is_kept_between_learn_calls(mlp: tn.System) -> None:
    for _ in range(3):
        _, state = mlp.guess([np.zeros((2, 4, 2))], return_state=True)
        mlp.learn(state, [np.ones((2, 3))], method="adam", scale=1e-3)
    assert mlp.optimizer is not None and mlp.optimizer.steps == 3 and mlp.step == 3
    _, state = mlp.guess([np.zeros((2, 4, 2))], return_state=True)
    mlp.learn(state, [np.ones((2, 3))], method="sgd", scale=1e-3)
    assert isinstance(mlp.optimizer, tn.SGD)


def test_layers_are_told_which_input_gradients_are_used() -> None:
    import attrs

    seen: list[tuple[bool, ...]] = []

    @attrs.define
    class Probe(tn.Structure):
        arity = (1, None)

        def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
            return [input_shapes[0]], {"w": np.ones(1)}

        def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
            return [sum(inputs) * params["w"]], None

        def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
            seen.append(tuple(kit.input_grad_wanted(k) for k in range(2)))
            return [grads[0] * params["w"], None], {"w": np.zeros(1)}

    x, c = tn.Input((2,))(), tn.Constant([1.0, 2.0])()
    first = Probe()(x, c)
    second = Probe()(first, x)
    s = tn.System([x], [second], dtype=np.float64)
    _, state = s.guess([np.ones((3, 2))], return_state=True)
    s.learn(state, [np.zeros((3, 2))])
    assert seen == [(True, False), (False, False)]  # training: only the path between parameters
    seen.clear()
    _, xgrads = s.gradients([np.ones((3, 2))], [np.zeros((3, 2))])
    assert seen == [(True, True), (True, False)]  # input gradients asked for; a Constant never needs one
    assert xgrads[0].shape == (3, 2)


# -- when a loss fuses with the output activation, and what seeds the backward pass --------------


def fused_at(s: tn.System, xs: list[np.ndarray], targets: list[np.ndarray], loss: object) -> set[tn.Instance]:
    return set(s.loss_gradients(s.forward(xs), targets, loss)[2])


def test_an_output_that_also_feeds_a_layer_is_fused_and_gets_both_gradients(rng: np.random.Generator) -> None:
    """y1's loss gives dE/dz1 (fused), y2's reaches y1 as dE/da1: the layer's backward takes both."""
    x = tn.Input((3,))()
    y1 = Affine(2, activation="logistic")(x)
    y2 = Affine(2)(y1)
    s = tn.System([x], [y1, y2], dtype=np.float64)
    xs, targets = [rng.normal(size=(4, 3))], [rng.random((4, 2)), rng.normal(size=(4, 2))]
    assert fused_at(s, xs, targets, ["ce", "quad"]) == {y1}
    check_system_gradients(s, xs, targets, loss=["ce", "quad"])
    alone = tn.System([x], [y1], dtype=np.float64)
    assert fused_at(alone, xs, targets[:1], "ce") == {y1}


@pytest.mark.parametrize("losses", [["quad", "quad"], ["ce", "quad"], ["ce", "ce"]])
def test_an_output_listed_twice_gets_both_losses(losses: list[str], rng: np.random.Generator) -> None:
    x = tn.Input((3,))()
    y = Affine(2, activation="logistic")(x)
    s = tn.System([x], [y, y], dtype=np.float64)
    xs, targets = [rng.normal(size=(4, 3))], [rng.random((4, 2)), rng.random((4, 2))]
    assert fused_at(s, xs, targets, losses) == ({y} if "ce" in losses else set())
    check_system_gradients(s, xs, targets, loss=losses)


@pytest.mark.parametrize("loss, activation", [("ce", "logistic"), ("softmax_ce", "softargmax")])
def test_a_loss_means_the_same_whoever_else_reads_the_output(loss: str, activation: str) -> None:
    """The loss of an activated output is a function of that output, alone, read by a layer or listed twice."""
    rng = np.random.default_rng(3)
    x = tn.Input((3,))()
    y = Affine(4, activation=activation)(x, rng=rng)
    xs, t = [rng.normal(size=(5, 3))], np.eye(4)[rng.integers(0, 4, 5)]
    alone = tn.System([x], [y], dtype=np.float64)
    read_again = tn.System([x], [y, Affine(2)(y, rng=rng)], dtype=np.float64)
    listed_twice = tn.System([x], [y, y], dtype=np.float64)
    a = alone.guess(xs)[0]
    per_sample = -np.sum(t * np.log(a) + (1 - t) * np.log(1 - a)) if loss == "ce" else -np.sum(t * np.log(a))
    expected = per_sample / 5
    np.testing.assert_allclose(alone.loss_gradients(alone.forward(xs), [t], loss)[0], expected, rtol=1e-12)
    state = read_again.forward(xs)
    quad = 0.5 * np.sum(state.outputs[1] ** 2) / 5
    value = read_again.loss_gradients(state, [t, np.zeros((5, 2))], [loss, "quad"])[0]
    np.testing.assert_allclose(value, expected + quad, rtol=1e-12)
    value = listed_twice.loss_gradients(listed_twice.forward(xs), [t, t], loss)[0]
    np.testing.assert_allclose(value, 2 * expected, rtol=1e-12)
    once, twice = alone.gradients(xs, [t], loss=loss)[0][y], listed_twice.gradients(xs, [t, t], loss=loss)[0][y]
    for key, g in once.items():
        np.testing.assert_allclose(twice[key], 2 * g, rtol=1e-12)
    check_system_gradients(read_again, xs, [t, rng.normal(size=(5, 2))], loss=[loss, "quad"])


def test_fused_losses_stay_exact_where_the_activation_saturates() -> None:
    """ce on a sigmoid at z = +-40 (a rounds to 1 or 0): the value is computed from z, not from log(clip(a))."""
    x = tn.Input((1,))()
    y = Affine(1, activation="logistic")(x)
    y.params["weights"][:] = 40.0
    y.params["biases"][:] = 0.0
    s = tn.System([x], [y], dtype=np.float64)
    value, _, fused = s.loss_gradients(s.forward([np.array([[1.0], [-1.0]])]), [np.array([[0.0], [1.0]])], "ce")
    np.testing.assert_allclose(value, 40.0, rtol=1e-12)  # each sample: softplus(40) = 40 + 4e-18, mean 40
    np.testing.assert_allclose(fused[y], [[0.5], [-0.5]], rtol=1e-12)


def test_only_slot_0_fuses_with_the_loss(rng: np.random.Generator) -> None:
    """A Neuron whose slot 1 repeats sigmoid(z): a loss on slot 1 gets the ordinary gradient."""
    import attrs

    @attrs.define
    class TwoSigmoids(kit.Neuron):
        activation: tn.Activation = kit.activation_field("logistic")

        def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
            return [input_shapes[0]] * 2, {"biases": rng.normal(size=input_shapes[0])}

        def pre_activation(self, params, inputs, training):  # type: ignore[no-untyped-def]
            return inputs[0] + params["biases"], None

        def pre_activation_backward(self, params, cache, grad_z):  # type: ignore[no-untyped-def]
            return [grad_z], {"biases": grad_z.sum(axis=0)}

        def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
            (a,), cache = super().forward(params, inputs, training)
            return [a, a.copy()], cache

        def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
            return super().backward(params, cache, [grads[0] + grads[1]])

    x = tn.Input((3,))()
    pair = TwoSigmoids()(x)
    s = tn.System([x], [pair[1]], dtype=np.float64)
    xs, targets = [rng.normal(size=(4, 3))], [rng.random((4, 3))]
    assert fused_at(s, xs, targets, "ce") == set()
    check_system_gradients(s, xs, targets, loss="ce")


@pytest.mark.parametrize("shapes", [[(3, 2), (4, 2)], [(2,), (1, 2)]])
def test_inputs_that_disagree_on_the_batch_size_are_refused(shapes: list[tuple[int, ...]]) -> None:
    a, b = tn.Input((2,))(), tn.Input((2,))()
    s = tn.System([a, b], [tn.Concatenate()(a, b)])
    with pytest.raises(tn.ShapeError, match="disagree on the batch size"):
        s.guess([np.zeros(shape) for shape in shapes])


@pytest.mark.parametrize("name", ["blk/cell", "", "d\x00x", "dense_1\x1b[2J", "two\nlines", 3, b"dense"])
def test_a_layer_name_that_weight_files_or_terminals_cannot_carry_is_refused(name: object) -> None:
    """'/' separates the parts of weight-file keys (a layer 'blk/cell' would meet a ResWrap 'blk's cell), NUL ends
    a zip member's name, and control characters would reach the terminal of ``tn summary``."""
    x = tn.Input((3,))()
    y = Affine(2)(x, name=name)
    with pytest.raises(tn.ConfigError, match=r"layer name .* \(Affine\): names are non-empty strings of printable "
                                             r"characters without '/'"):
        tn.System([x], [y])


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True])
def test_a_seed_that_is_not_a_natural_number_is_a_config_error(seed: object) -> None:
    x = tn.Input((3,))()
    with pytest.raises(tn.ConfigError, match=r"System: seed must be an int >= 0, got"):
        tn.System([x], [Affine(2)(x)], seed=seed)
    assert tn.System([x], [Affine(2)(x)], seed=0).rng.random() == np.random.default_rng(0).random()
