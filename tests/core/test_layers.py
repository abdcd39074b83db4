"""tests/core's test plugin (tests/core/layers.py) passes the conformance checks every layer must, and its
activations are the functions they stand for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

import tn_core as tn
from tests.core import layers
from tn_core.testing import as_example, check_gradients, check_structure

EXAMPLES = [as_example(entry) for entry in layers.tn_structure_examples()]


@pytest.mark.parametrize(("structure", "shapes", "inputs"), EXAMPLES, ids=[repr(s)[:48] for s, _, _ in EXAMPLES])
def test_each_layer_conforms(structure: object, shapes: list, inputs: list | None) -> None:
    report = check_structure(structure, shapes, inputs=inputs)
    assert "round trip" in report.passed and "gradients" in report.passed, report.skipped


def test_every_layer_has_an_example() -> None:
    assert {type(structure) for structure, _, _ in EXAMPLES} == set(layers.tn_register_structures())


@pytest.mark.parametrize(("activation", "formula"), [
    (layers.Logistic(), expit),
    (layers.HyperbolicTangent(), np.tanh),
    (layers.Ramp(), lambda z: np.maximum(z, 0)),
    (layers.SoftArgmax(), lambda z: softmax(z, axis=-1)),
])
def test_activations_compute_their_formula_and_its_gradient(activation, formula, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    z = rng.normal(scale=3.0, size=(4, 5))
    np.testing.assert_allclose(activation.forward(z), formula(z), rtol=1e-12, atol=1e-300)
    low, high = activation.output_range
    assert np.all((low <= activation.forward(50 * z)) & (activation.forward(50 * z) <= high))
    check_gradients(layers.Apply(activation), [(5,)], batch_size=4)


def test_affine_is_dense_math_and_layout(rng: np.random.Generator) -> None:
    x = tn.Input((2, 2))()
    y = layers.Affine((2, 3), activation="hyperbolictangent")(x, rng=rng)
    assert y.params["weights"].shape == (6, 4) and not y.params["biases"].any()
    y.params["biases"][:] = rng.normal(size=6)
    xs = rng.normal(size=(5, 2, 2))
    expected = np.tanh(xs.reshape(5, 4) @ y.params["weights"].T + y.params["biases"]).reshape(5, 2, 3)
    np.testing.assert_allclose(tn.System([x], [y], dtype=np.float64).guess([xs])[0], expected, rtol=1e-12)
