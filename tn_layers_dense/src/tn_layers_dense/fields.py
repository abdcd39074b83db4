"""attrs fields for layer and activation hyperparameters, validated at construction.

Resolution itself is the core's (``tn.resolve_activation``, initializer
names, ``as_shape``); these helpers only put the class being constructed in
front of any error, e.g. ``Dense: unknown activation 'tanhh' (did you mean 'tanh'?)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import attrs

import tn_core as tn
from tn_core.neuron import init_name
from tn_core.structure import as_shape


def labelled(convert: Callable[[Any], Any]) -> attrs.Converter:
    """A converter running ``convert`` and prefixing its errors with the class name."""

    def run(value: Any, instance: Any) -> Any:
        try:
            return convert(value)
        except tn.TensornetError as exc:
            raise type(exc)(f"{type(instance).__name__}: {exc}") from None

    return attrs.Converter(run, takes_self=True)


def shape_field() -> Any:
    """A required per-sample shape: an int or a sequence of positive ints."""
    return attrs.field(converter=labelled(as_shape))


def activation_field(default: Any = "linear") -> Any:
    """An Activation given as an object, a class or a registered name."""
    return attrs.field(default=default, converter=labelled(tn.resolve_activation))


def init_field() -> Any:
    """A weight initializer: None (the activation's default), a registered name or a callable."""
    return attrs.field(default=None, converter=labelled(init_name))


def _as_real(value: Any) -> Any:
    """Real numbers (not bools) as float; anything else is left for the validator to reject."""
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else value


def real_field(default: float, test: Callable[[float], bool], requirement: str) -> Any:
    """A finite float for which ``test`` holds; ``requirement`` words it for the error."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not (isinstance(value, float) and math.isfinite(value) and test(value)):
            raise tn.ConfigError(
                f"{type(instance).__name__}: {attribute.name} must be a real number {requirement}, got {value!r}"
            )

    return attrs.field(default=default, converter=_as_real, validator=check)
