"""Bad input to the dense plugin's layers: clear errors, naming the layer, at construction or wiring."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import tn_core as tn


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: tn.Dense(0), tn.ConfigError, r"Dense: shape must hold positive ints, got 0"),
        (lambda: tn.Dense((3, -2)), tn.ConfigError, r"Dense: shape must hold positive ints, got \(3, -2\)"),
        (lambda: tn.Dense("big"), tn.ConfigError, r"Dense: shape must be an int or a sequence of ints"),
        (lambda: tn.Dense(3, activation="tanhh"), tn.UnknownNameError,
         r"Dense: unknown activation 'tanhh' \(did you mean 'tanh'\?\)"),
        (lambda: tn.Dense(3, activation="sigmod"), tn.UnknownNameError, r"did you mean 'sigmoid'"),
        (lambda: tn.Dense(3, activation=tn.Dense(2)), tn.ConfigError,
         r"Dense: activation must be an Activation, an Activation class or a registered name, got Dense"),
        (lambda: tn.Dense(3, activation=tn.BinaryCE()), tn.ConfigError, r"Dense: activation must be .*got BinaryCE"),
        (lambda: tn.Dense(3, activation=tn.LayerNorm), tn.ConfigError, r"Dense: activation must be"),
        (lambda: tn.Dense(3, activation=3), tn.ConfigError, r"Dense: activation must be .*got int 3"),
        (lambda: tn.Dense(3, init="xavir"), tn.UnknownNameError, r"Dense: unknown initializer 'xavir' \(did you mean"),
        (lambda: tn.Dense(3, init=42), tn.ConfigError, r"Dense: init must be a registered initializer name"),
        (lambda: tn.Activate("nope"), tn.UnknownNameError, r"Activate: unknown activation 'nope'"),
        (lambda: tn.Activate(tn.Add()), tn.ConfigError, r"Activate: activation must be .*got Add"),
        (lambda: tn.Pointwise("pow"), tn.ConfigError,
         r"Pointwise: op must be one of 'add', 'sub', 'mul', 'max', 'min', got 'pow'$"),
        (lambda: tn.Pointwise("ad"), tn.ConfigError, r"got 'ad' \(did you mean 'add'\?\)"),
        (lambda: tn.Dropout(1.0), tn.ConfigError, r"Dropout: rate must be a real number in \[0, 1\), got 1.0"),
        (lambda: tn.Dropout(-0.1), tn.ConfigError, r"Dropout: rate must be"),
        (lambda: tn.Dropout(float("nan")), tn.ConfigError, r"Dropout: rate must be"),
        (lambda: tn.Dropout("0.5"), tn.ConfigError, r"Dropout: rate must be a real number in \[0, 1\), got '0.5'"),
        (lambda: tn.LayerNorm(eps=0), tn.ConfigError, r"LayerNorm: eps must be a real number > 0, got 0.0"),
    ],
)
def test_construction_errors(make: Callable[[], object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_missing_activation_of_activate_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="activation"):
        tn.Activate()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (lambda a, b, c: tn.Add()(a), r"Add :: \[\(3,\)\]: expected 2 to any number of inputs, got 1"),
        (lambda a, b, c: tn.Sub()(a), r"Sub :: \[\(3,\)\]: expected 2 to any number of inputs"),
        (lambda a, b, c: tn.Mul()(a, c), r"Mul :: \[\(3,\), \(2, 2\)\]: element-wise 'mul' needs inputs of one shape"),
        (lambda a, b, c: tn.Pointwise("max")(a, b, c), r"Pointwise :: \[\(3,\), \(3,\), \(2, 2\)\]"),
        (lambda a, b, c: tn.Dense(4)(a, b), r"Dense :: \[\(3,\), \(3,\)\]: expected 1 inputs, got 2"),
        (lambda a, b, c: tn.ResWrap(tn.Dense(4))(a, b), r"ResWrap :: \[\(3,\), \(3,\)\]: expected 1 inputs, got 2"),
        (lambda a, b, c: tn.Dropout(0.1)(a, b), r"Dropout :: .*expected 1 inputs, got 2"),
        (lambda a, b, c: tn.LayerNorm()(a, b), r"LayerNorm :: .*expected 1 inputs, got 2"),
        (lambda a, b, c: tn.Activate("relu")(a, c), r"Activate :: .*expected 1 inputs, got 2"),
    ],
)
def test_wiring_errors(wire: Callable, message: str) -> None:
    a, b, c = tn.Input((3,))(), tn.Input((3,))(), tn.Input((2, 2))()
    with pytest.raises(tn.ShapeError, match=message):
        wire(a, b, c)
