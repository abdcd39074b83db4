"""Embedding: rows picked by ids, the scatter-add gradient, bad ids, integer Inputs, PyTorch equality."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tests.dense import make_torch_references
from tests.torch_references import reference_fixture
from tn_core import kit
from tn_layers_dense import Embedding


def random_case(seed: int) -> tuple[Embedding, np.ndarray]:
    """An Embedding and ids (batch first, per-sample rank 1 to 3) drawn from a small range, so ids repeat."""
    rng = np.random.default_rng(seed)
    layer = Embedding(int(rng.integers(1, 8)), int(rng.integers(1, 5)))
    shape = tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 4)))
    return layer, rng.integers(0, layer.vocab, size=(int(rng.integers(1, 5)), *shape))


def test_layout_and_initialization() -> None:
    layer = Embedding(vocab=500, dim=40)
    shapes, params = layer.build_checked([(2, 3)], np.random.default_rng(0))
    assert shapes == [(2, 3, 40)] and list(params) == ["weights"] and params["weights"].shape == (500, 40)
    weights = params["weights"]
    assert abs(weights.mean()) < 0.02 and abs(weights.std() - 1) < 0.02  # N(0, 1), as nn.Embedding


@pytest.mark.parametrize("seed", range(6))
def test_rows_and_the_scatter_add_gradient_match_one_hot_products(seed: int) -> None:
    layer, ids = random_case(seed)
    rng = np.random.default_rng(100 + seed)
    _, params = layer.build_checked([ids.shape[1:]], rng)
    one_hot = np.eye(layer.vocab)[ids]  # (*ids.shape, vocab)
    (y,), cache = layer.forward(params, [ids], True)
    np.testing.assert_array_equal(y, one_hot @ params["weights"])
    grad_out = rng.normal(size=y.shape)
    (grad_ids,), grads = layer.backward(params, cache, [grad_out])
    expected = one_hot.reshape(-1, layer.vocab).T @ grad_out.reshape(-1, layer.dim)
    assert grad_ids is None and grads.keys() == {"weights"}
    np.testing.assert_allclose(grads["weights"], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_gradients_on_random_shapes(seed: int) -> None:
    layer, ids = random_case(seed)
    kit.check_gradients(layer, [ids.shape[1:]], inputs=[ids], seed=seed)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_any_integer_ids_and_float32_weights(dtype: type) -> None:
    layer = Embedding(4, 3)
    params = {"weights": np.arange(12, dtype=np.float32).reshape(4, 3)}
    ids = np.array([[3, 0], [3, 3]], dtype=dtype)
    (y,), cache = layer.forward(params, [ids], True)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[1, 0], [9, 10, 11])
    (_,), grads = layer.backward(params, cache, [np.ones_like(y)])
    assert grads["weights"].dtype == np.float32
    np.testing.assert_array_equal(grads["weights"][:, 0], [1, 0, 0, 3])


@pytest.mark.parametrize(
    ("ids", "value"), [(np.array([[0, 5, 1]]), "5"), (np.array([[2, -1, 9]]), "-1"), (np.array([[-3, -3, 9]]), "-3")]
)
def test_ids_out_of_range_are_a_shape_error_naming_layer_vocab_and_value(ids: np.ndarray, value: str) -> None:
    layer = Embedding(5, 2)
    _, params = layer.build_checked([(3,)], np.random.default_rng(0))
    bad = int(np.sum((ids < 0) | (ids >= 5)))
    with pytest.raises(tn.ShapeError, match=rf"Embedding\(vocab=5, dim=2\): ids must lie in \[0, 5\).* got {value} "
                                            rf"\({bad} of 3 ids out of range\)"):
        layer.forward(params, [ids], False)


@pytest.mark.parametrize("ids", [np.array([[0.0, 1.0]]), np.array([[True, False]])])
def test_non_integer_ids_say_to_feed_an_integer_input(ids: np.ndarray) -> None:
    layer = Embedding(5, 2)
    _, params = layer.build_checked([(2,)], np.random.default_rng(0))
    with pytest.raises(tn.ShapeError, match=r'Embedding\(vocab=5, dim=2\): ids must be integers.*tn\.Input\(shape, '
                                            r'dtype="int64"\)'):
        layer.forward(params, [ids], False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"vocab": 0, "dim": 2}, "vocab must be an int >= 1, got 0"), ({"vocab": 3, "dim": -1}, "dim must be"),
     ({"vocab": 3.0, "dim": 2}, "vocab must be"), ({"vocab": 3, "dim": True}, "dim must be")],
)
def test_settings_are_validated(settings: dict, message: str) -> None:
    with pytest.raises(tn.ConfigError, match=f"Embedding: {message}"):
        Embedding(**settings)


def test_vocab_and_dim_are_required() -> None:
    with pytest.raises(TypeError):
        Embedding(3)  # type: ignore[call-arg]


# -- in a System -------------------------------------------------------------------------


def network() -> tuple[tn.System, tn.Instance]:
    ids, values = tn.Input((4,), dtype="int64")(), tn.Input((4, 3))()
    embedded = Embedding(7, 3)(ids, rng=np.random.default_rng(0))
    mixed = tn.Add()(embedded, values)
    y = tn.Dense(2, activation="sigmoid")(mixed, rng=np.random.default_rng(1))
    return tn.System([ids, values], [y], dtype=np.float64, seed=0), embedded


IDS = np.array([[0, 5, 5, 2], [1, 1, 1, 1], [4, 3, 0, 5]])
VALUES = np.random.default_rng(2).normal(size=(3, 4, 3))
TARGETS = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])


def test_fed_from_an_integer_input_it_trains_and_its_ids_get_no_gradient() -> None:
    system, embedded = network()
    pgrads, (grad_ids, grad_values) = system.gradients([IDS, VALUES], [TARGETS], loss="ce")
    assert grad_ids is None and grad_values.shape == VALUES.shape
    assert not pgrads[embedded]["weights"][6].any() and pgrads[embedded]["weights"][:6].all()  # id 6 is unused
    kit.check_system_gradients(system, [IDS, VALUES], [TARGETS], loss="ce")
    before = system.evaluate([IDS, VALUES], TARGETS, loss="ce")["loss"]
    system.fit([IDS, VALUES], TARGETS, epochs=20, batch_size=3, loss="ce", lr=0.05, verbose=0)
    assert system.evaluate([IDS, VALUES], TARGETS, loss="ce")["loss"] < before


def test_in_a_system_bad_ids_name_the_layer() -> None:
    system, _ = network()
    with pytest.raises(tn.ShapeError, match=r"Embedding\(vocab=7, dim=3\).* got 7 "):
        system.guess([IDS + 2, VALUES])


# -- PyTorch -----------------------------------------------------------------------------


reference = reference_fixture(make_torch_references)


def test_output_and_weight_gradient_with_repeated_ids_match_pytorch(reference: dict[str, np.ndarray]) -> None:
    weights, ids = reference["embedding_weights"], reference["embedding_ids"]
    assert len(np.unique(ids)) < ids.size  # repeats must accumulate
    layer = Embedding(*weights.shape)
    params = {"weights": weights.copy()}
    (y,), cache = layer.forward(params, [ids], True)
    (_,), grads = layer.backward(params, cache, [reference["embedding_grad_out"]])
    np.testing.assert_allclose(y, reference["embedding_out"], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(grads["weights"], reference["embedding_weight_grad"], rtol=1e-8, atol=1e-8)
