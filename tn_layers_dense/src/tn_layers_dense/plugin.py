"""Registers the dense layers and the standard activations with tensornet."""

from __future__ import annotations

import tn_core as tn
from tn_layers_dense.activations import ACTIVATIONS
from tn_layers_dense.dense import Dense


@tn.hookimpl
def tn_register_structures() -> list[type]:
    return [Dense]


@tn.hookimpl
def tn_register_activations() -> list[type]:
    return list(ACTIVATIONS)
