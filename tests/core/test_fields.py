"""The core's hyperparameter fields: errors name the class being constructed."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core import kit
from tn_core.fields import real_field


@attrs.define
class Gate(tn.Structure):
    activation: tn.Activation = kit.activation_field("logistic")
    gain: float = real_field(1.0, lambda v: v > 0, "> 0")


def test_activation_field_resolves_names_and_names_the_class_in_errors() -> None:
    assert type(Gate().activation).__name__ == "Logistic"
    assert type(Gate(activation="ramp").activation).__name__ == "Ramp"
    with pytest.raises(tn.UnknownNameError, match=r"^Gate: unknown activation 'rampp' \(did you mean 'ramp'\?\)"):
        Gate(activation="rampp")
    with pytest.raises(tn.ConfigError, match="^Gate: activation must be an Activation"):
        Gate(activation=3)


@pytest.mark.parametrize("bad", [0, -1.0, "2", True, float("nan"), float("inf"), None])
def test_real_field_refuses_anything_but_a_finite_real_passing_the_test(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ConfigError, match="^Gate: gain must be a real number > 0"):
        Gate(gain=bad)
    assert Gate(gain=2).gain == 2.0 and isinstance(Gate(gain=2).gain, float)


def test_init_weights_refuses_an_initializer_of_the_wrong_shape() -> None:
    def flat(shape, fan_in, fan_out, rng):  # type: ignore[no-untyped-def]
        return np.zeros(fan_in * fan_out)

    with pytest.raises(tn.ConfigError, match=r"init .*flat.* returned weights of shape \(12,\), expected \(3, 4\)"):
        kit.init_weights(flat, None, (3, 4), 4, 3, np.random.default_rng(0))
    with pytest.raises(tn.ShapeError, match=r"Affine :: \[\(2, 2\)\]: init .*returned weights of shape"):
        Affine(3, init=flat)(tn.Input((2, 2))())


@pytest.mark.plugins
def test_first_party_layers_building_weights_their_own_way_refuse_an_initializer_of_the_wrong_shape() -> None:
    def flat(shape, fan_in, fan_out, rng):  # type: ignore[no-untyped-def]
        return np.zeros(fan_in * fan_out)

    x = tn.Input((2, 2))()
    for layer in (tn.ResWrap(tn.Dense(3), init=flat), tn.Conv((1, 1), out_shape=(2,), init=flat)):
        with pytest.raises(tn.ShapeError, match=f"{type(layer).__name__} :: .*returned weights of shape"):
            layer(x)
