"""ResWrap / Residual: y = act(x + W cell(x) + b) around any one-input structure."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tn_core.structure import wanting_input_grads
from tn_core.testing import check_gradients, check_system_gradients

CELLS = {
    "dense": lambda: tn.Dense(7, activation="tanh"),
    "dense-relu-2d": lambda: tn.Dense((2, 3), activation="relu"),
    "layernorm": tn.LayerNorm,
    "dropout": lambda: tn.Dropout(0.4),
    "nested": lambda: tn.ResWrap(tn.Dense(5, activation="sigmoid"), activation="elu"),
    "activate": lambda: tn.Activate("softplus"),
}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("seed", range(3))
def test_gradients_around_any_cell(cell: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    in_shape = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(1, 3)))
    act = str(rng.choice(["tanh", "linear", "gelu", "sigmoid"]))
    check_gradients(tn.ResWrap(CELLS[cell](), activation=act), [in_shape], batch_size=int(rng.integers(1, 5)),
                    seed=seed, training=True)


def test_parameters_and_forward_match_the_formula() -> None:
    rng = np.random.default_rng(1)
    x = tn.Input((3, 2))()
    block = tn.ResWrap(tn.Dense(4, activation="tanh"))(x)
    p = block.params
    assert {k: v.shape for k, v in p.items()} == {
        "weights": (6, 4), "biases": (6,), "cell/weights": (4, 6), "cell/biases": (4,),
    }
    for v in p.values():
        v += rng.normal(size=v.shape)
    xb = rng.normal(size=(5, 3, 2))
    flat = xb.reshape(5, 6)
    h = np.tanh(flat @ p["cell/weights"].T + p["cell/biases"])
    expected = np.tanh(flat + h @ p["weights"].T + p["biases"]).reshape(5, 3, 2)  # the cell's activation by default
    (y,), _ = block.structure.forward(p, [xb], False)
    np.testing.assert_allclose(y, expected)
    assert repr(block) == "ResWrap :: [(3, 2)] -> [(3, 2)]"


def test_activation_defaults_to_the_cells_or_linear() -> None:
    assert isinstance(tn.ResWrap(tn.Dense(3, activation="relu")).activation, tn.ReLU)
    assert isinstance(tn.ResWrap(tn.LayerNorm()).activation, tn.Linear)
    assert isinstance(tn.ResWrap(tn.Dense(3, activation="relu"), activation="tanh").activation, tn.Tanh)
    assert isinstance(tn.Residual(tn.Dense(3)), tn.ResWrap)


def test_a_multi_output_cell_is_projected_from_the_chosen_slot() -> None:
    # Split gives one output per row: slot 2 of a (3, 4) input is its last row (4,), projected back to 12
    block = tn.ResWrap(tn.Split(), slot=2)
    check_gradients(block, [(3, 4)], batch_size=2)
    x = tn.Input((3, 4))()
    inst = block(x)
    assert inst.params["weights"].shape == (12, 4)
    xb = np.random.default_rng(2).normal(size=(2, 3, 4))
    (y,), _ = block.forward(inst.params, [xb], False)
    np.testing.assert_allclose(y, xb + (xb[:, 2] @ inst.params["weights"].T).reshape(2, 3, 4))
    with pytest.raises(tn.ShapeError, match=r"ResWrap :: \[\(3, 4\)\].*slots 0..2, slot 3"):
        tn.ResWrap(tn.Split(), slot=3)(x)


def test_nested_blocks_prefix_their_parameters() -> None:
    x = tn.Input((4,))()
    inst = tn.Residual(tn.ResWrap(tn.Dense(3)))(x)
    assert sorted(inst.params) == ["biases", "cell/biases", "cell/cell/biases", "cell/cell/weights",
                                   "cell/weights", "weights"]


def test_residual_mlp_system_gradients_and_learning() -> None:
    rng = np.random.default_rng(3)
    x = tn.Input((6,))()
    h = tn.Dense(8, activation="tanh")(x)
    h = tn.ResWrap(tn.Dense(5, activation="tanh"))(h)
    h = tn.LayerNorm()(h)
    y = tn.Dense(3, activation="sigmoid")(h)
    s = tn.System([x], [y], dtype=np.float64, seed=0)
    xs, ts = rng.normal(size=(4, 6)), rng.random((4, 3))
    check_system_gradients(s, [xs], [ts], loss="ce")
    # it learns: a separable 3-class problem in a few hundred small steps
    data = rng.normal(size=(96, 6))
    labels = np.eye(3)[np.argmax(data[:, :3], axis=1)]
    before = s.evaluate(data, labels, loss="ce")["loss"]
    s.fit(data, labels, epochs=30, batch_size=16, lr=1e-2, loss="ce", seed=0)
    after = s.evaluate(data, labels, loss="ce")
    assert after["loss"] < 0.5 * before and after["accuracy"] > 0.9


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: tn.ResWrap(tn.Dense), r"ResWrap: cell must be a Structure instance, e.g. Dense\(...\)"),
        (lambda: tn.ResWrap(tn.Tanh()), r"ResWrap: cell must be a Structure, got Tanh"),
        (lambda: tn.ResWrap(tn.Add()), r"ResWrap: cell Add takes 2 to any number of inputs; a residual cell takes one"),
        (lambda: tn.Residual(tn.Input((3,))), r"Residual: cell Input takes 0 inputs"),
        (lambda: tn.ResWrap(tn.Dense(3), slot=-1), r"ResWrap: slot must be an int >= 0, got -1"),
        (lambda: tn.ResWrap(tn.Dense(3), slot=True), r"slot must be an int >= 0, got True"),
        (lambda: tn.ResWrap(tn.Dense(3), activation="tahn"), r"ResWrap: unknown activation 'tahn' \(did you mean"),
        (lambda: tn.ResWrap(tn.Dense(3), init="hee"), r"ResWrap: unknown initializer 'hee' \(did you mean 'he'"),
    ],
)
def test_bad_configuration_fails_at_construction(make: object, message: str) -> None:
    with pytest.raises((tn.ConfigError, tn.UnknownNameError), match=message):
        make()  # type: ignore[operator]


def test_skips_the_input_gradient_when_the_system_does_not_use_it() -> None:
    block = tn.ResWrap(tn.Dense(4, activation="tanh"))
    _, params = block.build_checked([(3,)], np.random.default_rng(4))
    xb = np.random.default_rng(5).normal(size=(2, 3))
    outs, cache = block.forward(params, [xb], True)
    (dx,), full = block.backward(params, cache, [np.ones_like(outs[0])])
    with wanting_input_grads((False,)):
        (none,), skipped = block.backward(params, cache, [np.ones_like(outs[0])])
    assert dx is not None and none is None
    assert full.keys() == skipped.keys() and all(np.array_equal(full[k], skipped[k]) for k in full)
