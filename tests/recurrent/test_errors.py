"""Bad hyperparameters and bad wiring: clear errors naming the layer and the shapes or values."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tn_core as tn
from tn_layers_recurrent import plugin


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_an_input_without_a_time_axis_is_refused(layer: str) -> None:
    with pytest.raises(tn.ShapeError, match=rf"{layer} :: \[\(7,\)\].*\(time, \*features\).*\(7,\)"):
        getattr(tn, layer)(4)(tn.Input((7,))())


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_an_initial_state_of_the_wrong_size_is_refused(layer: str) -> None:
    x = tn.Input((5, 2))()
    with pytest.raises(tn.ShapeError, match=rf"{layer} :: .*initial state must have shape \(4,\), got \(3,\)"):
        getattr(tn, layer)(4)(x, tn.Input((3,))())


def test_an_initial_memory_of_the_wrong_shape_is_refused() -> None:
    x, h0 = tn.Input((5, 2))(), tn.Input((4,))()
    with pytest.raises(tn.ShapeError, match=r"LSTM :: .*initial memory must have shape \(4,\), got \(2, 2\)"):
        tn.LSTM(4)(x, h0, tn.Input((2, 2))())


@pytest.mark.parametrize(("layer", "most"), [("RNN", 2), ("LSTM", 3), ("GRU", 2)])
def test_too_many_inputs_are_refused(layer: str, most: int) -> None:
    x, h = tn.Input((5, 2))(), tn.Input((4,))()
    with pytest.raises(tn.ShapeError, match=rf"{layer} :: .*expected 1 to {most} inputs, got {most + 1}"):
        getattr(tn, layer)(4)(x, *[h] * most)


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("size", [0, -3, 2.5, True, "8", None])
def test_size_must_be_a_positive_int(layer: str, size: object) -> None:
    with pytest.raises(tn.ConfigError, match=rf"^{layer}: size must be an int >= 1, got {size!r}$"):
        getattr(tn, layer)(size)


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_a_numpy_integer_size_is_stored_as_an_int(layer: str) -> None:
    structure = getattr(tn, layer)(np.int64(4))
    assert type(structure.size) is int and structure.size == 4
    assert structure == getattr(tn, layer)(4)


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
@pytest.mark.parametrize("tanh", ["tanh", tn.Tanh, tn.Tanh()])
def test_gated_cells_take_keras_activation_keyword_for_tanh(layer: str, tanh: object) -> None:
    """The original library's notebook wrote LSTM(20, activation=tn.Tanh()): the same layer, and the same model file."""
    given, plain = getattr(tn, layer)(3, activation=tanh), getattr(tn, layer)(3)
    assert given == plain and repr(given) == repr(plain)
    assert tn.serialize.to_config(given) == tn.serialize.to_config(plain)
    assert getattr(tn, layer)(3, True, activation=tanh).go_backwards is True


@pytest.mark.parametrize(("layer", "computes"), [("LSTM", r"c' = f\*c \+ i\*g, h' = o\*tanh\(c'\)"),
                                                 ("GRU", r"h' = \(1-u\)\*n \+ u\*h")])
@pytest.mark.parametrize("other", ["relu", tn.Sigmoid()])
def test_gated_cells_refuse_any_other_activation_naming_what_they_compute(layer: str, computes: str,
                                                                          other: object) -> None:
    with pytest.raises(tn.ConfigError, match=rf"^{layer}: activation must be tanh, the only one it computes "
                                             rf"\({computes}.*\), got {re.escape(repr(other))}$"):
        getattr(tn, layer)(3, activation=other)
    with pytest.raises(tn.UnknownNameError, match=rf"^{layer}: unknown activation 'tanhh' \(did you mean 'tanh'\?\)"):
        getattr(tn, layer)(3, activation="tanhh")


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_go_backwards_must_be_a_bool(layer: str) -> None:
    with pytest.raises(tn.ConfigError, match=rf"{layer}: go_backwards must be True or False, got 'yes'"):
        getattr(tn, layer)(3, go_backwards="yes")


def test_bad_activation_and_init_names_are_refused_at_construction() -> None:
    with pytest.raises(tn.UnknownNameError, match="RNN: .*'tanhh'.*did you mean 'tanh'"):
        tn.RNN(3, activation="tanhh")
    with pytest.raises(tn.UnknownNameError, match="LSTM: .*'orthogonl'"):
        tn.LSTM(3, init="orthogonl")


def test_an_init_returning_the_wrong_shape_is_refused_at_wiring() -> None:
    def square(shape, fan_in, fan_out, rng):  # type: ignore[no-untyped-def]
        return np.zeros((shape[0], shape[0]))

    with pytest.raises(tn.ShapeError, match=r"GRU :: \[\(4, 2\)\]: init .*returned weights of shape \(9, 9\), expec"):
        tn.GRU(3, init=square)(tn.Input((4, 2))())


def test_bidirectional_needs_a_forward_recurrent_layer_and_a_known_merge() -> None:
    with pytest.raises(tn.ConfigError, match="Bidirectional needs an RNN, LSTM or GRU layer, got Dense"):
        tn.Bidirectional(tn.Dense(3))
    with pytest.raises(tn.ConfigError, match="go_backwards=False"):
        tn.Bidirectional(tn.LSTM(3, go_backwards=True))
    with pytest.raises(tn.ConfigError, match=r"^Bidirectional: merge must be one of 'concat', 'sum', 'ave', 'mul', "
                                             r"got 'avg' \(did you mean 'ave'\?\)$"):
        tn.Bidirectional(tn.GRU(3), merge="avg")
    with pytest.raises(tn.ShapeError, match=r"Bidirectional :: \[\(6,\)\]"):
        tn.Bidirectional(tn.GRU(3))(tn.Input((6,))())


def test_registered_by_name_and_every_structure_has_an_example() -> None:
    """(tests/kit runs the conformance suite over the examples.)"""
    registry = tn.get_plugins().registry()["structure"]
    for cls in plugin.STRUCTURES:
        assert registry[cls.__name__].obj is registry[cls.__name__.lower()].obj is cls
        assert getattr(tn, cls.__name__) is cls
    assert {type(structure) for structure, _ in plugin.tn_structure_examples()} == set(plugin.STRUCTURES)


def test_custom_init_is_used_for_all_weights() -> None:
    inst = tn.GRU(3, init="zeros")(tn.Input((4, 2))())
    np.testing.assert_array_equal(inst.params["weights"], np.zeros((9, 5)))
