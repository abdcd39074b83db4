"""The dense plugin inside Systems: the seed's example, fused cross-entropy, dtypes, whole-network gradients,
which losses suit each activation's outputs, parameters of shape ()."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import tn_core as tn
from tn_core.testing import as_example, check_system_gradients
from tn_layers_dense import plugin

EXAMPLES = [as_example(entry) for entry in plugin.tn_structure_examples()]  # (structure, shapes, inputs or None)


def test_seed_example_prints_the_seed_shape_lines(capsys: pytest.CaptureFixture[str]) -> None:
    in_layer = tn.Input((32, 32))()
    last_layer = in_layer
    print(in_layer)
    for hidden_shape in [(15, 15)] * 2:
        last_layer = tn.Dense(hidden_shape, activation=tn.Tanh())(last_layer)
        print(last_layer)
    out_layer = tn.Dense((26,), activation=tn.Sigmoid())(last_layer)
    print(out_layer)
    s = tn.System(inputs=[in_layer], outputs=[out_layer])
    assert capsys.readouterr().out.splitlines() == [
        "Input :: [] -> [(32, 32)]",
        "Dense :: [(32, 32)] -> [(15, 15)]",
        "Dense :: [(15, 15)] -> [(15, 15)]",
        "Dense :: [(15, 15)] -> [(26,)]",
    ]
    one = np.random.default_rng(0).random((32, 32))
    (guess,) = s.guess([one])
    assert guess.shape == (26,) and guess.dtype == np.float32 and ((guess > 0) & (guess < 1)).all()
    (batch,) = s.guess([np.stack([one, one])])
    np.testing.assert_allclose(batch[0], guess, rtol=1e-6)


@pytest.mark.parametrize("output", ["dense", "activate", "reswrap"])
def test_cross_entropy_fused_with_a_saturated_sigmoid_has_the_right_gradient(output: str) -> None:
    x = tn.Input((2,))()
    first = tn.Dense(3, activation="sigmoid" if output == "dense" else "linear")(x)
    y = {
        "dense": first,
        "activate": tn.Activate(tn.Sigmoid())(first),
        "reswrap": tn.ResWrap(tn.Dense(4), activation="sigmoid")(first),
    }[output]
    s = tn.System([x], [y], dtype=np.float64)
    for _, params in s.groups:  # every path zero except the biases of the first layer: z = (50, -50, 50)
        for value in params.values():
            value[...] = 0.0
    first.params["biases"][:] = [50.0, -50.0, 50.0]
    xs = np.array([[1.0, 0.5], [-1.0, 2.0]])
    targets = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])  # sample 0 all wrong, sample 1 all right
    (a,) = s.guess([xs])
    assert (np.abs(a - 0.5) == 0.5).all()  # saturated: the sigmoid's slope a (1 - a) is 0 in float64
    pgrads, xgrads = s.gradients([xs], [targets], loss="ce")
    got = pgrads[first]["biases"]
    assert np.isfinite(got).all() and np.isfinite(xgrads[0]).all()
    np.testing.assert_allclose(got, (a - targets).sum(axis=0) / 2, rtol=1e-12)  # dE/dz = (a - t) / N
    np.testing.assert_allclose(got, [0.5, -0.5, 0.5])  # the unfused path would give 0 here


@pytest.mark.parametrize(("structure", "shapes", "given"), EXAMPLES, ids=[type(s).__name__ for s, _, _ in EXAMPLES])
def test_float32_systems_stay_float32(structure: tn.Structure, shapes: list, given: list | None) -> None:
    ids = [x.dtype.name if x.dtype.kind in "iu" else None for x in given] if given else [None] * len(shapes)
    inputs = [tn.Input(s, dtype=dtype)() for s, dtype in zip(shapes, ids)]
    out = structure(*inputs)
    s = tn.System(inputs, [out], seed=0)
    rng = np.random.default_rng(0)
    xs = [x if dtype else x.astype(np.float32)
          for x, dtype in zip(given or [rng.normal(size=(3, *sh)) for sh in shapes], ids)]
    n = len(xs[0])
    state = s.forward(xs, training=True)
    assert all(v.dtype == np.float32 for ref, v in state.values.items() if ref.instance not in s.inputs)
    pgrads, xgrads = s.gradients(xs, [np.zeros((n, *out.shape), np.float32)], loss="quad")
    assert all(g is None or g.dtype == np.float32 for g in xgrads)
    assert all(g.dtype == np.float32 for grads in pgrads.values() for g in grads.values())


@pytest.mark.parametrize("seed", range(4))
def test_whole_network_gradients(seed: int) -> None:
    """A random DAG of the plugin's layers, every input and parameter checked through a float64 System."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(2, 6))
    x = tn.Input((n_in,))()
    u = tn.Dense(4, activation=str(rng.choice(["tanh", "elu", "silu", "softplus"])))(x)
    v = tn.Activate(str(rng.choice(["gelu", "sigmoid", "softsign"])))(tn.Dense(4)(x))
    w = tn.Add()(u, v, u)  # u read twice: both gradients must arrive
    w = tn.Mul()(tn.Gain()(w), tn.Bias()(v))
    w = tn.Sub()(tn.LayerNorm()(w), u)
    w = tn.Dropout(0.3)(tn.ResWrap(tn.Dense(3, activation="tanh"))(w))
    loss = str(rng.choice(["quad", "ce", "softmax_ce"]))
    out = {"quad": "linear", "ce": "sigmoid", "softmax_ce": "softmax"}[loss]
    y = tn.Dense(3, activation=out)(w)
    s = tn.System([x], [y], dtype=np.float64, seed=seed)
    xs = rng.normal(size=(int(rng.integers(1, 5)), n_in))
    ts = np.eye(3)[rng.integers(0, 3, len(xs))]
    check_system_gradients(s, [xs], [ts], loss=loss)


# -- the core's loss pairing rules (tests/core/test_losses.py) on each standard activation's declared range ---------


@pytest.mark.parametrize(("loss", "activation", "verdict"), [
    ("ce", "tanh", "refused"), ("ce", "relu", "refused"), ("bce", tn.ReLU(alpha=0.1), "refused"),
    ("binary_crossentropy", "softplus", "refused"), ("ce", "elu", "refused"), ("softmax_ce", "sigmoid", "refused"),
    ("categorical_crossentropy", "sigmoid", "refused"), ("sigmoid_ce", "sigmoid", "refused"),
    ("bce_with_logits", "softmax", "refused"), ("sigmoid_ce", "relu", "refused"),
    ("bce_with_logits", "softplus", "refused"),
    ("softmax_ce", "tanh", "warned"), ("sigmoid_ce", "tanh", "warned"), ("softmax_ce", "relu", "warned"),
    ("categorical_crossentropy", "elu", "warned"), ("bce_with_logits", "elu", "warned"),
    ("ce", "sigmoid", "suits"), ("bce", "sigmoid", "suits"), ("ce", "softmax", "suits"),
    ("softmax_ce", "softmax", "suits"), ("sparse_categorical_crossentropy", "softmax", "suits"),
    ("quad", "sigmoid", "suits"), ("quad", "relu", "suits"), ("mse", "softmax", "suits"), ("mae", "tanh", "suits"),
])
def test_which_losses_suit_the_outputs_of_each_standard_activation(loss: str, activation: object, verdict: str) -> None:
    x = tn.Input((4,))()
    y = tn.Dense(3, activation=activation)(x)
    s = tn.System([x], [y], dtype=np.float64)
    data = np.random.default_rng(8).normal(size=(6, 4)), np.eye(3)[[0, 1, 2, 0, 1, 2]]
    low, high = y.structure.activation.output_range
    said = rf"does not suit output dense_1\[0\], whose activation {type(y.structure.activation).__name__} gives " \
           rf"values from {low:g} to {high:g}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if verdict == "refused":
            with pytest.raises(tn.ConfigError, match=said):
                s.fit(*data, loss=loss, epochs=1, verbose=0)
        elif verdict == "warned":
            with pytest.warns(UserWarning, match=said + ".*this activation bounds them"):
                s.fit(*data, loss=loss, epochs=1, verbose=0)
        else:
            s.fit(*data, loss=loss, epochs=1, verbose=0)
    assert s.step == (0 if verdict == "refused" else 1)


def test_gain_bias_and_layernorm_on_per_sample_scalars_have_0_d_parameters_that_train_and_round_trip(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """Their gradients are batch sums, NumPy scalars, which the System takes as 0-d arrays."""
    x = tn.Input((3,))()
    parts = tn.Split()(x)
    outputs = [tn.Gain()(parts[0]), tn.Bias()(parts[1]), tn.LayerNorm()(tn.Gain()(parts[2]))]
    s = tn.System([x], outputs, dtype=np.float64)
    assert {array.shape for _, _, array in s.parameters()} == {()}
    xs, ts = [rng.normal(size=(4, 3))], [rng.normal(size=(4,)) for _ in outputs]
    check_system_gradients(s, xs, ts)
    before = [array.copy() for _, _, array in s.parameters()]
    s.fit(xs[0], ts, epochs=2, batch_size=2, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(before, [array for _, _, array in s.parameters()]))
    tn.save(s, tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    assert [array.shape for _, _, array in loaded.parameters()] == [array.shape for _, _, array in s.parameters()]
    for a, b in zip(loaded.guess(xs), s.guess(xs)):
        np.testing.assert_array_equal(a, b)
    s.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as archive:
        assert {archive[key].shape for key in archive.files} == {()}
    other = tn.System([x], [tn.Gain()(parts[0]), tn.Bias()(parts[1]), tn.LayerNorm()(tn.Gain()(parts[2]))],
                      dtype=np.float64)
    other.load_weights(tmp_path / "w.npz")
    for (_, _, a), (_, _, b) in zip(other.parameters(), s.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
