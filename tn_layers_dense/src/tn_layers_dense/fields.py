"""attrs fields for layer hyperparameters, validated at construction.

Resolution itself is the core's (``tn.resolve_activation``, initializer
names, ``as_shape``); these helpers only put the class being constructed in
front of any error, e.g. ``Dense: shape must hold positive ints, got 0``.
``labelled``, ``real_field`` and ``activation_field`` live in the core and
are re-exported here.
"""

from __future__ import annotations

from typing import Any

import attrs

from tn_core.fields import labelled, real_field
from tn_core.neuron import activation_field, init_name
from tn_core.structure import as_shape

__all__ = ["activation_field", "init_field", "labelled", "real_field", "shape_field"]


def shape_field() -> Any:
    """A required per-sample shape: an int or a sequence of positive ints."""
    return attrs.field(converter=labelled(as_shape))


def init_field() -> Any:
    """A weight initializer: None (the activation's default), a registered name or a callable."""
    return attrs.field(default=None, converter=labelled(init_name))
