"""Registers the Highway layer and the Mish activation with tensornet (entry point ``highway``)."""

from __future__ import annotations

from typing import Any

from tn_core import kit

from tn_layers_highway.highway import Highway
from tn_layers_highway.mish import Mish


@kit.hookimpl
def tn_register_structures() -> list[type]:
    return [Highway]


@kit.hookimpl
def tn_register_activations() -> list[type]:
    return [Mish]


@kit.hookimpl
def tn_structure_examples() -> list[tuple[Any, list[tuple[int, ...]]]]:
    """Configurations the conformance suite (tn_core.testing.check_structure) runs on."""
    return [
        (Highway(), [(5,)]),
        (Highway(activation="tanh", gate_bias=-2.0), [(2, 3)]),
        (Highway(activation=Mish(), gate_bias=0.5), [(4,)]),
    ]
