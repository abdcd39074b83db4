"""tensornet core: build networks from Structures wired into Instances, run by a System.

Layers, activations, optimizers and losses registered by plugins are reachable
as ``tn.<Name>`` (and by lower-case name strings wherever a name is accepted).
"""

from __future__ import annotations

from typing import Any

from tn_core import data
from tn_core.activation import Activation, resolve_activation
from tn_core.callbacks import Callback, CosineLR, EarlyStopping, GradientClip, ModelCheckpoint, ProgressBar, StepLR
from tn_core.errors import (
    ConfigError,
    MissingPluginError,
    NonFiniteError,
    PluginError,
    ShapeError,
    TensornetError,
    UnknownNameError,
    WeightsFileError,
)
from tn_core.hookspecs import hookimpl
from tn_core.losses import CE, Loss, Quad, SoftmaxCE
from tn_core.neuron import Neuron, activation_field, affine_backward, affine_forward, init_weights
from tn_core.optimizers import SGD, Adam, AdamW, Momentum, Optimizer, RMSProp
from tn_core.plugins import get_plugins
from tn_core.serialize import from_config, load, save, to_config
from tn_core.structure import (
    BackwardResult,
    BuildResult,
    Clone,
    ForwardResult,
    Instance,
    OutputRef,
    Params,
    Shape,
    Structure,
    forward_rng,
    input_grad_wanted,
    set_seed,
)
from tn_core.system import State, System
from tn_core.wiring import (
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

__all__ = [
    "CE",
    "SGD",
    "Activation",
    "Adam",
    "AdamW",
    "BackwardResult",
    "BuildResult",
    "Callback",
    "Clone",
    "Combine",
    "Concatenate",
    "ConfigError",
    "Constant",
    "CosineLR",
    "EarlyStopping",
    "FlatConcat",
    "Flatten",
    "ForwardResult",
    "GradientClip",
    "Input",
    "Instance",
    "Join",
    "Loss",
    "MissingPluginError",
    "ModelCheckpoint",
    "Momentum",
    "Neuron",
    "NonFiniteError",
    "Optimizer",
    "OutputRef",
    "Params",
    "PluginError",
    "ProgressBar",
    "Quad",
    "RMSProp",
    "Reshape",
    "Shape",
    "ShapeError",
    "SoftmaxCE",
    "Split",
    "State",
    "StepLR",
    "Structure",
    "System",
    "TensornetError",
    "UnknownNameError",
    "WeightsFileError",
    "activation_field",
    "affine_backward",
    "affine_forward",
    "data",
    "forward_rng",
    "from_config",
    "get_plugins",
    "hookimpl",
    "init_weights",
    "input_grad_wanted",
    "load",
    "resolve_activation",
    "save",
    "set_seed",
    "to_config",
]


def __getattr__(name: str) -> Any:
    """``tn.Dense`` and friends: anything a plugin registered."""
    if name.startswith("__"):
        raise AttributeError(name)
    return get_plugins().find(name)
