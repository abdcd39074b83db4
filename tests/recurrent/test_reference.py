"""Each layer's fast path equals its reference (outputs and every gradient), and the reference its derivative."""

from __future__ import annotations

import numpy as np
import pytest

from tests.recurrent.references import LAYERS, SMOOTH, Reference, random_case
from tn_core.testing import check_gradients


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("with_carries", [False, True])
def test_fast_path_equals_the_reference(name: str, seed: int, backwards: bool, with_carries: bool) -> None:
    rng, n, steps, features, size = random_case(seed)
    layer = LAYERS[name](size, backwards)
    carries = len(layer.carry_names)
    given = carries if with_carries else 0
    inputs = [rng.normal(size=(n, steps, *features))] + [rng.normal(size=(n, size)) for _ in range(given)]
    _, params = layer.build_checked([x.shape[1:] for x in inputs], rng)
    params = {key: p + rng.normal(scale=0.5, size=p.shape) for key, p in params.items()}  # off the initial values

    fast, fast_cache = layer.forward(params, inputs, training=True)
    plain, plain_cache = layer.reference_forward(params, inputs)
    assert [o.shape for o in fast] == [o.shape for o in plain] == [(n, steps, size)] + [(n, size)] * carries
    for got, want in zip(fast, plain):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)

    grads = [rng.normal(size=o.shape) for o in fast]
    d_fast, p_fast = layer.backward(params, fast_cache, [g.copy() for g in grads])
    d_plain, p_plain = layer.reference_backward(params, plain_cache, [g.copy() for g in grads])
    assert len(d_fast) == len(d_plain) == len(inputs)
    for got, want, x in zip(d_fast, d_plain, inputs):
        assert got.shape == want.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert sorted(p_fast) == sorted(p_plain) == ["biases", "weights"]
    for key, want in p_plain.items():
        assert p_fast[key].shape == want.shape == params[key].shape
        np.testing.assert_allclose(p_fast[key], want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("name", SMOOTH)
def test_reference_gradients_match_finite_differences(name: str, seed: int) -> None:
    rng, n, steps, features, size = random_case(seed, max_steps=5)
    layer = LAYERS[name](size, bool(rng.integers(2)))
    for given in range(len(layer.carry_names) + 1):  # the sequence alone, then with each initial carry
        shapes = [(steps, *features)] + [(size,)] * given
        check_gradients(Reference(layer), shapes, batch_size=n, seed=seed, max_coords=25)

