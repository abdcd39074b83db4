"""The core's own plugin: wiring structures, losses, optimizers, initializers.

Registered through the same hooks as any third-party plugin.
"""

from __future__ import annotations

from tn_core.hookspecs import hookimpl
from tn_core.losses import BUILTIN_LOSSES
from tn_core.neuron import BUILTIN_INITIALIZERS
from tn_core.optimizers import BUILTIN_OPTIMIZERS
from tn_core.wiring import BUILTIN_STRUCTURES


@hookimpl
def tn_register_structures() -> list[type]:
    return list(BUILTIN_STRUCTURES)


@hookimpl
def tn_register_losses() -> list[type]:
    return list(BUILTIN_LOSSES)


@hookimpl
def tn_register_optimizers() -> list[type]:
    return list(BUILTIN_OPTIMIZERS)


@hookimpl
def tn_register_initializers() -> list:
    return list(BUILTIN_INITIALIZERS)
