"""attrs field helpers for hyperparameters: validated at construction, errors naming the class.

``labelled(convert)`` puts the class being constructed in front of any
tensornet error ``convert`` raises, e.g. ``Dense: unknown activation
'tanhh' (did you mean 'tanh'?)``; ``real_field`` holds a finite float and
``int_field`` an int with a lower bound.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import attrs

from tn_core.errors import ConfigError, TensornetError


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


def int_field(default: int, low: int) -> Any:
    """An int (not a bool) of at least ``low``."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low):
            raise ConfigError(f"{type(instance).__name__}: {attribute.name} must be an int >= {low}, got {value!r}")

    return attrs.field(default=default, validator=check)
