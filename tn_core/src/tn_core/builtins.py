"""The core's own plugin: wiring structures, the Linear activation, losses, optimizers, initializers, callbacks.

Registered through the same hooks as any third-party plugin.
"""

from __future__ import annotations

import numpy as np

from tn_core.activation import Linear
from tn_core.callbacks import CALLBACKS
from tn_core.hookspecs import hookimpl
from tn_core.initializers import BUILTIN_INITIALIZERS
from tn_core.losses import BUILTIN_LOSSES
from tn_core.optimizers import BUILTIN_OPTIMIZERS
from tn_core.wiring import (
    BUILTIN_STRUCTURES,
    Combine,
    Concatenate,
    Constant,
    FlatConcat,
    Flatten,
    Input,
    Join,
    Reshape,
    Split,
)


@hookimpl
def tn_register_structures() -> list[type]:
    return list(BUILTIN_STRUCTURES)


@hookimpl
def tn_register_activations() -> list[type]:
    return [Linear]


@hookimpl
def tn_register_losses() -> list[type]:
    return list(BUILTIN_LOSSES)


@hookimpl
def tn_register_optimizers() -> list[type]:
    return list(BUILTIN_OPTIMIZERS)


@hookimpl
def tn_register_initializers() -> list:
    return list(BUILTIN_INITIALIZERS)


@hookimpl
def tn_register_callbacks() -> list[type]:
    return list(CALLBACKS)


@hookimpl
def tn_structure_examples() -> list:
    """Each wiring structure on small inputs, for the conformance suite (tn_core.testing.check_structure)."""
    return [
        (Input((3, 2)), []),
        (Constant(np.arange(6.0).reshape(2, 3)), []),
        (Flatten(), [(2, 3, 2)]),
        (Reshape((3, -1)), [(2, 3, 2)]),
        (Reshape((4, 3)), [(12,)]),
        (Concatenate(axis=1), [(2, 3), (2, 1)]),
        (Concatenate(axis=-1), [(2,), (3,), (1,)]),
        (FlatConcat(), [(2, 2), (3,)]),
        (Split(axis=1), [(2, 3)]),
        (Join(), [(2,), (2,), (2,)]),
        (Combine(), [(2,), (3, 1)]),
    ]
