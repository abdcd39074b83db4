"""The core's own plugin: wiring structures, the Linear activation, losses, optimizers, initializers, callbacks.

Registered through the same hooks as any third-party plugin, by the convention
every first-party plugin module follows (docs/writing-a-plugin.md): one list
per registration hook, named after its kind (STRUCTURES, ACTIVATIONS, ...),
each hook returning a copy of its list, then the conformance examples.
"""

from __future__ import annotations

import numpy as np

from tn_core.activation import Linear
from tn_core.callbacks import CosineLR, EarlyStopping, GradientClip, ModelCheckpoint, ProgressBar, StepLR
from tn_core.hookspecs import hookimpl
from tn_core.initializers import he, lecun, orthogonal, xavier, zeros
from tn_core.losses import MAE, MSE, BinaryCE, Quad, SoftmaxCE
from tn_core.optimizers import SGD, Adam, AdamW, Momentum, RMSProp
from tn_core.wiring import Combine, Concatenate, Constant, FlatConcat, Flatten, Input, Join, Reshape, Split

STRUCTURES = [Input, Constant, Flatten, Reshape, Concatenate, FlatConcat, Split, Join, Combine]
ACTIVATIONS = [Linear]
LOSSES = [Quad, MSE, MAE, BinaryCE, SoftmaxCE]
OPTIMIZERS = [SGD, Momentum, RMSProp, Adam, AdamW]
INITIALIZERS = [xavier, he, lecun, orthogonal, zeros]
CALLBACKS = [ProgressBar, EarlyStopping, ModelCheckpoint, StepLR, CosineLR, GradientClip]


@hookimpl
def tn_register_structures() -> list[type]:
    return list(STRUCTURES)


@hookimpl
def tn_register_activations() -> list[type]:
    return list(ACTIVATIONS)


@hookimpl
def tn_register_losses() -> list[type]:
    return list(LOSSES)


@hookimpl
def tn_register_optimizers() -> list[type]:
    return list(OPTIMIZERS)


@hookimpl
def tn_register_initializers() -> list:
    return list(INITIALIZERS)


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
