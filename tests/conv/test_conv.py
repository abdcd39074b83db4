"""Conv: forward against a naive loop reference, numerical gradients, shapes, parameter layout."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tn_core as tn
from tests.conv.references import naive_conv, random_conv_config
from tn_core.testing import check_gradients, check_system_gradients

# every rank with every padding mode, twice, with random sizes, strides, dilations and channels
CASES = [(rank, mode, seed) for rank in (1, 2, 3) for mode in ("valid", "same", "explicit") for seed in (0, 1)]


def _config(rank: int, mode: str, seed: int) -> dict:
    return random_conv_config(np.random.default_rng(100 * rank + 10 * seed + len(mode)), rank, mode)


def _conv(config: dict, **kwargs: object) -> tn.Structure:
    fields = {k: v for k, v in config.items() if k != "input_shape"}
    return tn.Conv(**fields, **kwargs)


def test_random_cases_cover_what_matters() -> None:
    """The random configurations include odd and even sizes, strides that do not divide the
    padded size, dilation, several channels and several output channel shapes."""
    configs = [_config(*case) for case in CASES]
    sizes = {n % 2 for c in configs for n in c["input_shape"][: len(c["kernel_shape"])]}
    assert sizes == {0, 1}
    assert any(s > 1 and (n - 1) % s for c in configs for n, s in zip(c["input_shape"], c["stride"]))
    assert any(d > 1 for c in configs for d in c["dilation"])
    assert any(math.prod(c["input_shape"][len(c["kernel_shape"]):]) > 1 for c in configs)
    assert {len(c["out_shape"]) for c in configs} == {0, 1, 2}


@pytest.mark.parametrize(("rank", "mode", "seed"), CASES)
def test_forward_matches_naive_loops(rank: int, mode: str, seed: int) -> None:
    config = _config(rank, mode, seed)
    conv = _conv(config)
    shape = config["input_shape"]
    (out_shape,), params = conv.build_checked([shape], np.random.default_rng(seed))
    x = np.random.default_rng(seed + 7).normal(size=(3, *shape))
    (y,), _ = conv.forward(params, [x], False)
    expected = naive_conv(x.reshape(3, *shape[:rank], -1), params["weights"], params["biases"],
                          config["stride"], config["dilation"], config["pad"])
    assert y.shape == (3, *out_shape)
    np.testing.assert_allclose(y.reshape(expected.shape), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("rank", "mode", "seed"), CASES)
def test_gradients_inputs_weights_biases(rank: int, mode: str, seed: int) -> None:
    config = _config(rank, mode, seed)
    conv = _conv(config, activation="tanh")
    check_gradients(conv, [config["input_shape"]], batch_size=2, seed=seed, max_coords=30)


def test_activation_is_applied_to_the_correlation() -> None:
    rng = np.random.default_rng(3)
    conv = tn.Conv((2, 3), out_shape=(4,), pad=True, activation="relu")
    _, params = conv.build_checked([(5, 6, 2)], rng)
    params["biases"] = rng.normal(size=4)
    x = rng.normal(size=(2, 5, 6, 2))
    (y,), _ = conv.forward(params, [x], False)
    z = naive_conv(x, params["weights"], params["biases"], (1, 1), (1, 1), True)
    np.testing.assert_allclose(y, np.maximum(z, 0), atol=1e-12)
    assert (y == 0).any() and (y > 0).any()


@pytest.mark.parametrize(("size", "stride", "out"), [(7, 2, 4), (8, 3, 3), (5, 1, 5), (1, 4, 1)])
def test_same_padding_gives_ceil_of_size_over_stride(size: int, stride: int, out: int) -> None:
    x = tn.Input((size, 3))()
    assert tn.Conv((3,), out_shape=(2,), stride=stride, pad=True)(x).shape == (out, 2)


def test_output_shape_is_conv_shape_plus_out_shape() -> None:
    x = tn.Input((9, 8, 2, 3))()
    assert tn.Conv((3, 2))(x).shape == (7, 7)
    assert tn.Conv((3, 2), out_shape=(4,))(x).shape == (7, 7, 4)
    assert tn.Conv((3, 2), out_shape=(2, 3), stride=(2, 3))(x).shape == (4, 3, 2, 3)
    assert tn.Conv((3, 2, 2), pad=((1, 0), 0, (2, 1)))(x).shape == (8, 7, 4)


def test_parameter_layout_and_fan_in() -> None:
    seen = {}

    def init(shape: tuple, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
        seen.update(shape=shape, fan_in=fan_in, fan_out=fan_out)
        return np.zeros(shape)

    layer = tn.Conv((3, 2), out_shape=(2, 2), init=init)(tn.Input((6, 5, 2, 3))())
    assert layer.params["weights"].shape == (4, 3, 2, 6)
    assert layer.params["biases"].shape == (4,)
    assert seen == {"shape": (4, 3, 2, 6), "fan_in": 3 * 2 * 6, "fan_out": 4 * 3 * 2}


def test_weights_are_cross_correlated_not_flipped() -> None:
    """A kernel with one nonzero tap at offset q shifts the input by +q."""
    conv = tn.Conv((3,))
    _, params = conv.build_checked([(6,)], np.random.default_rng(0))
    params["weights"] = np.array([[[0.0], [0.0], [1.0]]])
    x = np.arange(6.0)[np.newaxis]
    (y,), _ = conv.forward(params, [x], False)
    np.testing.assert_array_equal(y[0], [2.0, 3.0, 4.0, 5.0])


@pytest.mark.parametrize(("cls", "kernel", "shape"), [
    ("Conv1D", (3,), (6, 2)), ("Conv2D", (2, 3), (5, 6)), ("Conv3D", (2, 2, 1), (3, 4, 2, 2)),
])
def test_fixed_rank_names(cls: str, kernel: tuple, shape: tuple) -> None:
    layer = getattr(tn, cls)(kernel, out_shape=(2,))
    assert type(layer).__name__ == cls
    assert layer.type_name() == cls
    check_gradients(layer, [shape], batch_size=2, max_coords=15)


def test_float32_end_to_end() -> None:
    """A float32 System keeps float32 through conv forward and backward (no silent float64)."""
    x = tn.Input((8, 8))()
    h = tn.Conv((3, 3), out_shape=(3,), pad=True, activation="relu")(x)
    h = tn.Conv((3, 3), out_shape=(2,), stride=2, activation="relu")(h)
    y = tn.Dense(4, activation="sigmoid")(h)
    system = tn.System([x], [y])
    xs = np.random.default_rng(0).random((5, 8, 8))
    state = system.forward([xs.astype(np.float32)], training=True)
    assert all(v.dtype == np.float32 for v in state.values.values())
    pgrads, xgrads = system.gradients([xs], [np.zeros((5, 4))], loss="ce")
    assert all(g.dtype == np.float32 for grads in pgrads.values() for g in grads.values())
    assert xgrads[0].dtype == np.float32


def _conv_net(seed: int) -> tuple[tn.System, list]:
    tn.set_seed(seed)
    x = tn.Input((7, 6))()
    h = tn.Conv((3, 3), out_shape=(3,), pad=True, activation="tanh")(x)
    h = tn.Conv((2, 3), out_shape=(2,), stride=(2, 1), dilation=(1, 2), activation="tanh")(h)
    y = tn.Dense(3, activation="sigmoid")(h)
    return tn.System([x], [y], dtype=np.float64), [x, y]


def test_system_gradients_with_fused_cross_entropy() -> None:
    system, _ = _conv_net(1)
    rng = np.random.default_rng(1)
    xs, ts = rng.normal(size=(3, 7, 6)), np.eye(3)[rng.integers(0, 3, size=3)]
    check_system_gradients(system, [xs], [ts], loss="ce", max_coords=25)


def test_skipping_the_first_layers_input_gradient_keeps_parameter_gradients() -> None:
    system, _ = _conv_net(2)
    rng = np.random.default_rng(2)
    xs, ts = rng.normal(size=(4, 7, 6)), np.eye(3)[rng.integers(0, 3, size=4)]
    state = system.forward([xs], training=True)
    _, seeds, fused = system.loss_gradients(state, [ts], "ce")
    full, _ = system.backward(state, seeds, fused, input_grads=True)
    skipped, none = system.backward(state, seeds, fused, input_grads=False)
    assert none == []
    for owner, grads in full.items():
        for key, g in grads.items():
            np.testing.assert_allclose(skipped[owner][key], g, rtol=1e-12)


def test_a_small_conv_net_learns_bar_orientation() -> None:
    """Vertical vs horizontal bars at random places on 8x8 noise: a conv net separates them."""
    rng = np.random.default_rng(0)
    n = 256
    images = rng.normal(0, 0.3, size=(n, 8, 8))
    labels = rng.integers(0, 2, size=n)
    where = rng.integers(0, 8, size=n)
    images[labels == 0, :, where[labels == 0]] += 1.0  # vertical bar: a column
    images[labels == 1, where[labels == 1], :] += 1.0  # horizontal bar: a row
    tn.set_seed(0)
    x = tn.Input((8, 8))()
    h = tn.Conv((3, 3), out_shape=(4,), pad=True, activation="relu")(x)
    h = tn.MaxPool((2, 2))(h)
    y = tn.Dense(2, activation="sigmoid")(tn.GlobalAvgPool()(h))
    system = tn.System([x], [y], seed=0)
    targets = np.eye(2)[labels]
    system.fit(images[:192], targets[:192], epochs=15, batch_size=16, optimizer="adam", lr=2e-2, loss="ce",
               verbose=False)
    guesses = system.predict(images[192:])[0].argmax(axis=1)
    assert (guesses == labels[192:]).mean() >= 0.95
