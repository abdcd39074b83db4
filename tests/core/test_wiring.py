"""Wiring structures: forward semantics, numerical gradients on random shapes, bad wiring."""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tn_core.testing import check_gradients


def random_shape(rng: np.random.Generator, rank: int) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(1, 5, size=rank))


@pytest.mark.parametrize("seed", range(6))
def test_reshaping_layers_gradients(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, int(rng.integers(1, 4)))
    batch = int(rng.integers(1, 5))
    check_gradients(tn.Flatten(), [shape], batch_size=batch, seed=seed)
    check_gradients(tn.Reshape((-1,)), [shape], batch_size=batch, seed=seed)
    check_gradients(tn.Reshape(tuple(reversed(shape))), [shape], batch_size=batch, seed=seed)
    axis = int(rng.integers(-len(shape), len(shape)))
    check_gradients(tn.Split(axis=axis), [shape], batch_size=batch, seed=seed)


@pytest.mark.parametrize("seed", range(6))
def test_multi_input_layers_gradients(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 4))
    base = random_shape(rng, rank)
    count = int(rng.integers(1, 4))
    axis = int(rng.integers(0, rank))
    shapes = [base[:axis] + (int(rng.integers(1, 4)),) + base[axis + 1:] for _ in range(count)]
    check_gradients(tn.Concatenate(axis=axis), shapes, seed=seed)
    mixed = [random_shape(rng, int(rng.integers(1, 3))) for _ in range(count)]
    check_gradients(tn.FlatConcat(), mixed, seed=seed)
    check_gradients(tn.Combine(), mixed, seed=seed)
    check_gradients(tn.Join(), [base] * count, seed=seed)


def test_split_and_join_are_inverse() -> None:
    x = tn.Input((4, 3))()
    parts = tn.Split(axis=0)(x)
    assert parts.output_shapes == [(3,)] * 4
    joined = tn.Join()([parts[k] for k in range(4)])
    s = tn.System([x], [joined], dtype=np.float64)
    data = np.random.default_rng(0).normal(size=(2, 4, 3))
    np.testing.assert_array_equal(s.guess([data])[0], data)


def test_split_on_a_later_axis() -> None:
    x = tn.Input((2, 3))()
    parts = tn.Split(axis=-1)(x)
    s = tn.System([x], [parts[2]], dtype=np.float64)
    data = np.arange(12.0).reshape(2, 2, 3)
    np.testing.assert_array_equal(s.guess([data])[0], data[:, :, 2])


def test_concatenate_and_flatconcat_values() -> None:
    a, b = tn.Input((2, 2))(), tn.Input((2, 1))()
    c = tn.Concatenate(axis=1)(a, b)
    f = tn.FlatConcat()(a, b)
    assert c.shape == (2, 3) and f.shape == (6,)
    s = tn.System([a, b], [c, f], dtype=np.float64)
    xa, xb = np.arange(8.0).reshape(2, 2, 2), -np.arange(4.0).reshape(2, 2, 1)
    out_c, out_f = s.guess([xa, xb])
    np.testing.assert_array_equal(out_c, np.concatenate([xa, xb], axis=2))
    np.testing.assert_array_equal(out_f, np.concatenate([xa.reshape(2, -1), xb.reshape(2, -1)], axis=1))


def test_combine_exposes_slots() -> None:
    a, b = tn.Input((2,))(), tn.Input((3,))()
    both = tn.Combine()(a, b)
    assert both.output_shapes == [(2,), (3,)]
    s = tn.System([a, b], [both[1], both[0]])
    out = s.guess([np.ones(2), np.zeros(3)])
    assert out[0].shape == (3,) and out[1].shape == (2,)


def test_constant_is_broadcast_over_the_batch() -> None:
    x = tn.Input((3,))()
    c = tn.Constant([1.0, 2.0, 3.0])()
    total = tn.Concatenate()(x, c)
    s = tn.System([x], [total], dtype=np.float64)
    out = s.guess([np.zeros((4, 3))])[0]
    np.testing.assert_array_equal(out[:, 3:], np.tile([1.0, 2.0, 3.0], (4, 1)))


@pytest.mark.parametrize(
    "make, shapes, match",
    [
        (lambda: tn.Reshape((4, 4)), [(3, 5)], r"cannot reshape 15 elements into \(4, 4\)"),
        (lambda: tn.Concatenate(axis=0), [(2, 3), (2, 4)], "shapes must match except on axis 0"),
        (lambda: tn.Concatenate(axis=3), [(2, 3), (2, 3)], "axis 3 is out of range"),
        (lambda: tn.Join(), [(2,), (3,)], "same shape"),
        (lambda: tn.Split(axis=2), [(2, 3)], "axis 2 is out of range"),
    ],
)
def test_bad_wiring_names_layer_and_shapes(make, shapes, match) -> None:  # type: ignore[no-untyped-def]
    parents = [tn.Input(s)() for s in shapes]
    structure = make()
    with pytest.raises(tn.ShapeError, match=match) as info:
        structure(*parents)
    assert type(structure).__name__ in str(info.value)
    assert str(list(shapes)) in str(info.value)


def test_bad_configuration_is_refused_at_construction() -> None:
    with pytest.raises(tn.ConfigError, match="positive"):
        tn.Input((0, 3))
    for bad in [2.5, "8", (2, 1.5), (True, 2), None]:
        with pytest.raises(tn.ConfigError, match="Input shape must be an int or a sequence of ints"):
            tn.Input(bad)
    with pytest.raises(tn.ConfigError, match="at most one -1"):
        tn.Reshape((-1, -1))
    with pytest.raises(tn.ConfigError, match="finite"):
        tn.Constant([np.nan])


@pytest.mark.parametrize("bad", ["a", 1.5, None, True])
def test_axes_must_be_ints(bad) -> None:  # type: ignore[no-untyped-def]
    for layer in (tn.Split, tn.Concatenate):
        with pytest.raises(tn.ConfigError, match=f"{layer.__name__}: axis must be an int"):
            layer(axis=bad)


@pytest.mark.parametrize("bad", [2.0, True, (2, 1.5), (2, False), "ab", None])
def test_reshape_refuses_non_int_shapes(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError, match="Reshape shape must hold positive ints"):
        tn.Reshape(bad)


@pytest.mark.parametrize("bad", ["a", [[1.0], [1.0, 2.0]], {"a": 1}])
def test_constant_refuses_non_numeric_values(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError, match="Constant value must be"):
        tn.Constant(bad)


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array([1 + 0j]), np.complex64(1), [1.0, 2j]])
def test_constant_refuses_complex_values(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError, match=r"^Constant value must be a real numeric array, .* \(complex values\)"):
        tn.Constant(bad)


def test_arity_is_checked() -> None:
    x = tn.Input((2,))()
    with pytest.raises(tn.ShapeError, match="expected 1 inputs, got 2"):
        tn.Flatten()(x, x)
    with pytest.raises(tn.ShapeError, match="expected 0 inputs, got 1"):
        tn.Input((2,))(x)
    with pytest.raises(tn.ShapeError, match="Instances or instance"):
        tn.Flatten()("not a layer")


def test_output_slot_out_of_range() -> None:
    x = tn.Input((2,))()
    with pytest.raises(IndexError, match="slots 0..0"):
        x[1]


def test_print_matches_the_seed() -> None:
    x = tn.Input((32, 32))()
    assert repr(x) == "Input :: [] -> [(32, 32)]"
    assert repr(tn.Flatten()(x)) == "Flatten :: [(32, 32)] -> [(1024,)]"
