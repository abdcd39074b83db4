"""Hyperparameter checks, one per idea: plain functions, and attrs fields built on them.

The checks, usable anywhere (a fit keyword, a CLI option, a layer's
``__attrs_post_init__``): ``is_int`` (an int or NumPy integer, not a bool),
``check_int`` (such an int with a lower bound) and ``check_choice`` (one of
some names). Their errors name ``what`` was checked.

The fields, validated at construction with errors naming the class:
``labelled(convert)`` puts the class being constructed in front of any
tensornet error ``convert`` raises (``Dense: unknown activation 'tanhh'
(did you mean 'tanh'?)``; :func:`tn_core.errors.prefixed` does the same for
a block of code); ``real_field`` (a finite float), ``int_field`` (an int
with a lower bound), ``choice_field`` (one of some names), ``shape_field`` (a
per-sample shape), ``activation_field`` (an Activation from an object, class
or name) and ``init_field`` (a weight initializer name or callable).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection
from typing import Any

import attrs
import numpy as np

from tn_core.activation import resolve_activation
from tn_core.errors import ConfigError, prefixed, suggest
from tn_core.initializers import init_name
from tn_core.structure import as_shape


def labelled(convert: Callable[[Any], Any]) -> attrs.Converter:
    """A converter running ``convert`` and prefixing its errors with the class name."""

    def run(value: Any, instance: Any) -> Any:
        with prefixed(type(instance).__name__):
            return convert(value)

    return attrs.Converter(run, takes_self=True)


def is_int(value: Any) -> bool:
    """An int or NumPy integer, and not a bool (True is an int to Python, never a size or a count here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, what: str, low: int | None = 1) -> int:
    """``value`` as an int when ``is_int(value)`` and value >= ``low`` (None: any int), else a ConfigError.

    The error reads ``<what> must be an int >= <low>, got <value>``.
    """
    if not is_int(value) or (low is not None and value < low):
        bound = "" if low is None else f" >= {low}"
        raise ConfigError(f"{what} must be an int{bound}, got {value!r}")
    return int(value)


def check_choice(value: Any, choices: Collection[str], what: str) -> str:
    """``value`` if it is one of the names ``choices``, else a ConfigError listing them (and the closest)."""
    if not (isinstance(value, str) and value in choices):
        hint = suggest(value, choices) if isinstance(value, str) else ""
        raise ConfigError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}{hint}")
    return value


def _field_name(instance: Any, field: attrs.Attribute) -> str:
    return f"{type(instance).__name__}: {field.name}"


def is_real(value: Any) -> bool:
    """A finite real number, and not a bool (True is a number to Python, never a rate or a size here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _as_real(value: Any) -> Any:
    """Real numbers (not bools) as float; anything else is left for the validator to reject."""
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else value


def real_field(default: float, test: Callable[[float], bool], requirement: str) -> Any:
    """A finite float for which ``test`` holds; ``requirement`` words it for the error."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not (isinstance(value, float) and is_real(value) and test(value)):
            raise ConfigError(
                f"{type(instance).__name__}: {attribute.name} must be a real number {requirement}, got {value!r}"
            )

    return attrs.field(default=default, converter=_as_real, validator=check)


def int_field(default: Any = attrs.NOTHING, low: int | None = 0, optional: bool = False) -> Any:
    """An int (``check_int``: not a bool) of at least ``low`` (None: any), stored as int, or with ``optional``
    None; required without default."""

    def convert(value: Any, instance: Any, field: attrs.Attribute) -> int | None:
        return None if optional and value is None else check_int(value, _field_name(instance, field), low)

    return attrs.field(default=default, converter=attrs.Converter(convert, takes_self=True, takes_field=True))


def choice_field(default: str, choices: Collection[str]) -> Any:
    """One of the names ``choices`` (``check_choice``)."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        check_choice(value, choices, _field_name(instance, attribute))

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
