"""attrs field helpers for hyperparameters: validated at construction, errors naming the class.

``labelled(convert)`` puts the class being constructed in front of any
tensornet error ``convert`` raises, e.g. ``Dense: unknown activation
'tanhh' (did you mean 'tanh'?)``. The fields: ``real_field`` (a finite
float), ``int_field`` (an int with a lower bound), ``shape_field`` (a
per-sample shape), ``activation_field`` (an Activation from an object, class
or name) and ``init_field`` (a weight initializer name or callable).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import attrs

from tn_core.activation import resolve_activation
from tn_core.errors import ConfigError, TensornetError
from tn_core.initializers import init_name
from tn_core.structure import as_shape


def labelled(convert: Callable[[Any], Any]) -> attrs.Converter:
    """A converter running ``convert`` and prefixing its errors with the class name."""

    def run(value: Any, instance: Any) -> Any:
        try:
            return convert(value)
        except TensornetError as exc:
            raise type(exc)(f"{type(instance).__name__}: {exc}") from None

    return attrs.Converter(run, takes_self=True)


def _as_real(value: Any) -> Any:
    """Real numbers (not bools) as float; anything else is left for the validator to reject."""
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else value


def real_field(default: float, test: Callable[[float], bool], requirement: str) -> Any:
    """A finite float for which ``test`` holds; ``requirement`` words it for the error."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not (isinstance(value, float) and math.isfinite(value) and test(value)):
            raise ConfigError(
                f"{type(instance).__name__}: {attribute.name} must be a real number {requirement}, got {value!r}"
            )

    return attrs.field(default=default, converter=_as_real, validator=check)


def int_field(default: Any = attrs.NOTHING, low: int = 0) -> Any:
    """An int (not a bool) of at least ``low``; required unless a ``default`` is given."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low):
            raise ConfigError(f"{type(instance).__name__}: {attribute.name} must be an int >= {low}, got {value!r}")

    return attrs.field(default=default, validator=check)


def shape_field() -> Any:
    """A required per-sample shape: an int or a sequence of positive ints."""
    return attrs.field(converter=labelled(as_shape))


def activation_field(default: Any = "linear") -> Any:
    """An Activation, given as an object, class or registered name."""
    return attrs.field(default=default, converter=labelled(resolve_activation))


def init_field() -> Any:
    """A weight initializer: None (the activation's ``default_init``), a registered name or a callable."""
    return attrs.field(default=None, converter=labelled(init_name))
