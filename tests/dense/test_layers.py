"""Dense, Pointwise, Activate, Gain, Bias, Dropout, LayerNorm: gradients, batching, behaviour."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version

import numpy as np
import pytest

import tn_core as tn
import tn_layers_dense
from tn_core.structure import using_forward_rng
from tn_core.testing import as_example, check_gradients
from tn_layers_dense import plugin
from tn_layers_dense.plugin import ACTIVATIONS
from tn_layers_dense.pointwise import OPS

EXAMPLES = [as_example(entry) for entry in plugin.tn_structure_examples()]  # (structure, shapes, inputs or None)
EXAMPLE_IDS = [f"{type(s).__name__}-{k}" for k, (s, _, _) in enumerate(EXAMPLES)]


def shape(rng: np.random.Generator, max_rank: int = 3) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, max_rank + 1)))


def activation(rng: np.random.Generator) -> tn.Activation:
    return ACTIVATIONS[rng.integers(len(ACTIVATIONS))]()


# Each factory draws a structure and its input shapes from a generator.
FACTORIES: dict[str, Callable[[np.random.Generator], tuple[tn.Structure, list[tuple[int, ...]]]]] = {
    "Dense": lambda r: (tn.Dense(shape(r), activation=activation(r)), [shape(r)]),
    "Pointwise": lambda r: (tn.Pointwise(str(r.choice(list(OPS)))), [shape(r)] * int(r.integers(2, 5))),
    "Add": lambda r: (tn.Add(), [shape(r)] * int(r.integers(2, 5))),
    "Sub": lambda r: (tn.Sub(), [shape(r)] * int(r.integers(2, 5))),
    "Mul": lambda r: (tn.Mul(), [shape(r)] * int(r.integers(2, 5))),
    "Activate": lambda r: (tn.Activate(activation(r)), [shape(r)]),
    "Gain": lambda r: (tn.Gain(), [shape(r)]),
    "Bias": lambda r: (tn.Bias(), [shape(r)]),
    "Dropout": lambda r: (tn.Dropout(float(r.uniform(0, 0.9))), [shape(r)]),
    "LayerNorm": lambda r: (tn.LayerNorm(), [shape(r)]),
}


def test_examples_cover_every_registered_structure() -> None:
    registered = {e.obj for e in tn.get_plugins().registry()["structure"].values() if e.plugin == "dense"}
    assert registered == set(plugin.STRUCTURES)
    assert {type(s) for s, _, _ in EXAMPLES} == registered


def test_the_plugin_registers_exactly_the_layers_and_activations_the_package_defines() -> None:
    registry = tn.get_plugins().registry()
    entries = [e for kind in ("structure", "activation") for e in registry[kind].values() if e.plugin == "dense"]
    exported = {getattr(tn_layers_dense, name) for name in tn_layers_dense.__all__}
    defined_here = {cls for cls in exported if cls.__module__.startswith("tn_layers_dense.")}
    assert {e.obj for e in entries} == defined_here
    assert {(e.distribution, e.version) for e in entries} == {("tn-layers-dense", version("tn-layers-dense"))}
    for cls in exported - defined_here:  # re-exported from the core (Linear)
        assert registry["activation"][cls.__name__].plugin == "core"
    for cls in exported:
        assert getattr(tn, cls.__name__) is getattr(tn, cls.__name__.lower()) is cls


@pytest.mark.parametrize(("structure", "shapes", "inputs"), EXAMPLES, ids=EXAMPLE_IDS)
@pytest.mark.parametrize("training", [False, True])
def test_example_gradients(structure: tn.Structure, shapes: list, inputs: list | None, training: bool) -> None:
    check_gradients(structure, shapes, batch_size=3, inputs=inputs, training=training)


@pytest.mark.parametrize("kind", list(FACTORIES))
@pytest.mark.parametrize("seed", range(4))
def test_gradients_on_random_shapes(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    structure, shapes = FACTORIES[kind](rng)
    check_gradients(structure, shapes, batch_size=int(rng.integers(1, 6)), seed=seed, training=kind == "Dropout")


@pytest.mark.parametrize(("structure", "shapes", "inputs"), EXAMPLES, ids=EXAMPLE_IDS)
def test_a_batch_gives_what_its_samples_give_one_at_a_time(
    structure: tn.Structure, shapes: list, inputs: list | None
) -> None:
    rng = np.random.default_rng(0)
    _, params = structure.build_checked(shapes, rng)
    xs = inputs or [rng.normal(size=(5, *s)) for s in shapes]
    batch, _ = structure.forward(params, xs, False)
    for i in range(len(xs[0])):
        single, _ = structure.forward(params, [x[i:i + 1] for x in xs], False)
        for b, s in zip(batch, single):
            np.testing.assert_allclose(b[i:i + 1], s, rtol=1e-12, atol=1e-12)


# -- Dense -----------------------------------------------------------------------------


def test_dense_layout_flattens_inputs_and_reshapes_outputs() -> None:
    rng = np.random.default_rng(1)
    x = tn.Input((3, 2))()
    d = tn.Dense((2, 2), activation="tanh")(x)
    w, b = d.params["weights"], d.params["biases"]
    assert w.shape == (4, 6) and b.shape == (4,) and not b.any()
    b += rng.normal(size=4)
    xb = rng.normal(size=(5, 3, 2))
    (y,), _ = d.structure.forward(d.params, [xb], False)
    np.testing.assert_allclose(y, np.tanh(xb.reshape(5, 6) @ w.T + b).reshape(5, 2, 2))


def test_dense_init_by_name_callable_and_reproducible() -> None:
    x = tn.Input((6,))()

    def ones(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
        return np.ones(shape)

    assert (tn.Dense(3, init=ones)(x).params["weights"] == 1).all()
    assert not tn.Dense(3, init="zeros")(x).params["weights"].any()
    a = tn.Dense(3, init="orthogonal")(x, rng=np.random.default_rng(7)).params["weights"]
    b = tn.Dense(3, init="orthogonal")(x, rng=np.random.default_rng(7)).params["weights"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a @ a.T, np.eye(3), atol=1e-12)
    tn.set_seed(11)
    c = tn.Dense(3)(x).params["weights"]
    tn.set_seed(11)
    np.testing.assert_array_equal(c, tn.Dense(3)(x).params["weights"])
    assert not np.array_equal(c, tn.Dense(3)(x).params["weights"])


def test_dense_rejects_an_initializer_of_the_wrong_shape() -> None:
    x = tn.Input((6,))()
    with pytest.raises(tn.ShapeError, match=r"Dense :: \[\(6,\)\].*shape \(6, 3\), expected \(3, 6\)"):
        tn.Dense(3, init=lambda shape, fan_in, fan_out, rng: np.zeros((6, 3)))(x)


# -- Pointwise -------------------------------------------------------------------------


def test_pointwise_ops() -> None:
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(2, 3)) for _ in range(3)]
    expected = {
        "add": xs[0] + xs[1] + xs[2], "sub": xs[0] - xs[1] - xs[2], "mul": xs[0] * xs[1] * xs[2],
        "max": np.maximum(np.maximum(xs[0], xs[1]), xs[2]), "min": np.minimum(np.minimum(xs[0], xs[1]), xs[2]),
    }
    named = {"add": tn.Add(), "sub": tn.Sub(), "mul": tn.Mul()}
    for op, value in expected.items():
        for structure in [tn.Pointwise(op), named.get(op, tn.Pointwise(op))]:
            (y,), _ = structure.forward({}, xs, False)
            np.testing.assert_allclose(y, value, err_msg=op)
    assert isinstance(tn.Add(), tn.Pointwise) and tn.Mul().op == "mul"


def test_mul_gradients_with_zero_inputs() -> None:
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(3, 4)) for _ in range(3)]
    xs[0][0, :2] = 0.0
    xs[1][0, 1:3] = 0.0  # element (0, 1) is zero in two inputs
    check_gradients(tn.Mul(), [(4,)] * 3, inputs=xs)


def test_gain_and_bias_start_as_identity() -> None:
    x = tn.Input((2, 3))()
    s, b = tn.Gain()(x), tn.Bias()(x)
    assert s.params.keys() == {"gain"} and (s.params["gain"] == 1).all() and s.params["gain"].shape == (2, 3)
    assert b.params.keys() == {"biases"} and not b.params["biases"].any() and b.params["biases"].shape == (2, 3)


# -- Dropout ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_statistics_in_training(rate: float, dtype: type) -> None:
    x = np.full((50, 1000), 2.0, dtype=dtype)
    with using_forward_rng(np.random.default_rng(4)):
        (y,), mask = tn.Dropout(rate).forward({}, [x], True)
    assert y.dtype == dtype
    dropped = np.mean(y == 0)
    n = x.size
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / n)  # 5 standard deviations
    np.testing.assert_allclose(y[y != 0], 2.0 / (1 - rate), rtol=1e-6)  # inverted dropout keeps E[y] = x
    (g,), _ = tn.Dropout(rate).backward({}, mask, [np.ones_like(x)])
    np.testing.assert_array_equal(g == 0, y == 0)


def test_dropout_is_the_identity_in_inference_and_draws_anew_each_pass() -> None:
    x = np.random.default_rng(5).normal(size=(4, 30))
    dropout = tn.Dropout(0.5)
    (y,), _ = dropout.forward({}, [x], False)
    assert y is x
    with using_forward_rng(np.random.default_rng(6)):
        (a,), _ = dropout.forward({}, [x], True)
        (b,), _ = dropout.forward({}, [x], True)
    assert not np.array_equal(a == 0, b == 0)
    (z,), _ = tn.Dropout(0.0).forward({}, [x], True)
    assert z is x


def test_dropout_in_a_system_is_seeded_and_off_in_guess() -> None:
    def build(seed: int) -> tn.System:
        x = tn.Input((40,))()
        return tn.System([x], [tn.Dropout(0.5)(x)], seed=seed)

    xb = np.ones((3, 40), dtype=np.float32)
    (a,), _ = build(1).guess([xb], return_state=True)
    (b,), _ = build(1).guess([xb], return_state=True)
    np.testing.assert_array_equal(a, b)
    assert 0 < np.mean(a == 0) < 1
    np.testing.assert_array_equal(build(1).guess([xb])[0], xb)


# -- LayerNorm -------------------------------------------------------------------------


def test_layernorm_normalizes_each_sample_and_is_the_same_in_training() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(loc=3.0, scale=5.0, size=(6, 3, 4))
    norm = tn.LayerNorm()
    _, params = norm.build_checked([(3, 4)], rng)
    assert params["gain"].shape == (3, 4) and params["biases"].shape == (3, 4)
    (y,), _ = norm.forward(params, [x], False)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-4)
    (y_train,), _ = norm.forward(params, [x], True)
    np.testing.assert_array_equal(y, y_train)
    (shifted,), _ = norm.forward(params, [2.0 * x + 7.0], False)  # invariant to a per-sample affine change
    np.testing.assert_allclose(shifted, y, rtol=1e-5, atol=1e-6)
    params["gain"][:] = 2.0
    params["biases"][:] = -1.0
    (affine,), _ = norm.forward(params, [x], False)
    np.testing.assert_allclose(affine, 2.0 * y - 1.0)
