"""tn-layers-highway's own tests. The kit comes with tn-core: its pytest plugin provides the
``tn_check_structure`` and ``tn_check_gradients`` fixtures (tn_core.testing)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tn_core as tn

from tn_layers_highway import Highway, Mish
from tn_layers_highway.plugin import tn_structure_examples

RNG = np.random.default_rng(0)
SHAPES = [tuple(int(d) for d in RNG.integers(1, 5, size=RNG.integers(1, 4))) for _ in range(3)]
EXAMPLES = tn_structure_examples()


@pytest.mark.parametrize(("structure", "input_shapes"), EXAMPLES, ids=[f"example{k}" for k in range(len(EXAMPLES))])
def test_examples_pass_the_conformance_check(tn_check_structure, structure, input_shapes) -> None:  # type: ignore[no-untyped-def]
    report = tn_check_structure(structure, input_shapes)
    assert set(report.skipped) == {"buffers"}  # registered through our entry point: the round trip ran too


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("activation", ["mish", "tanh", "relu"])
def test_highway_conforms_on_random_shapes(tn_check_structure, shape, activation) -> None:  # type: ignore[no-untyped-def]
    tn_check_structure(Highway(activation=activation, gate_bias=float(RNG.normal())), [shape], batch_size=4)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_mish_gradients_through_a_dense_layer(tn_check_gradients, shape) -> None:  # type: ignore[no-untyped-def]
    tn_check_gradients(tn.Dense(3, activation="mish"), [shape])


def test_mish_values_and_extremes() -> None:
    z = np.array([-1e4, -20.0, 0.0, 1.0, 20.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = Mish().forward(z)
        slope = Mish().derivative(z, a)
    expected = [0.0, -20 * np.tanh(np.log1p(np.exp(-20.0))), 0.0, np.tanh(np.log1p(np.e)), 20.0, 1e4]
    np.testing.assert_allclose(a, expected)
    np.testing.assert_allclose(slope[[0, 2, 5]], [0.0, 0.6, 1.0], atol=1e-12)
    assert Mish().forward(z.astype(np.float32)).dtype == np.float32


def test_a_very_negative_gate_carries_the_input_through() -> None:
    x = tn.Input((2, 3))()
    system = tn.System([x], [Highway(gate_bias=-40.0)(x)], dtype=np.float64)
    data = RNG.normal(size=(5, 2, 3))
    np.testing.assert_allclose(system.guess([data])[0], data, atol=1e-12)


def test_installed_plugin_is_reachable_by_name() -> None:
    assert tn.Highway is Highway and tn.Mish is Mish
    plugins = tn.get_plugins()
    assert plugins.lookup("structure", "highway") is Highway and plugins.lookup("activation", "mish") is Mish
    assert isinstance(Highway(activation="mish").activation, Mish)


@pytest.mark.parametrize("bad", ["wide", float("inf"), None])
def test_bad_gate_bias_is_refused_at_construction(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError, match="Highway gate_bias"):
        Highway(gate_bias=bad)
