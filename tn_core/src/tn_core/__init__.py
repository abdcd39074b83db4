"""tensornet core: build networks from Structures wired into Instances, run by a System.

Layers, activations, optimizers and losses registered by plugins are reachable
as ``tn.<Name>`` (and by lower-case name strings wherever a name is accepted).
This is the user's namespace; plugin authors import from :mod:`tn_core.kit`.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from typing import Any

from tn_core import data
from tn_core.activation import Activation
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
    warn_renamed,
)
from tn_core.hookspecs import hookimpl
from tn_core.losses import BinaryCE, Loss, Quad, SoftmaxCE
from tn_core.optimizers import SGD, Adam, AdamW, Momentum, Optimizer, RMSProp
from tn_core.plugins import former_names, get_plugins
from tn_core.serialize import from_config, load, save, to_config
from tn_core.structure import Clone, Instance, OutputRef, Structure, set_seed
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
    "SGD",
    "Activation",
    "Adam",
    "AdamW",
    "BinaryCE",
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
    "GradientClip",
    "Input",
    "Instance",
    "Join",
    "Loss",
    "MissingPluginError",
    "ModelCheckpoint",
    "Momentum",
    "NonFiniteError",
    "Optimizer",
    "OutputRef",
    "PluginError",
    "ProgressBar",
    "Quad",
    "RMSProp",
    "Reshape",
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
    "data",
    "from_config",
    "get_plugins",
    "hookimpl",
    "load",
    "save",
    "set_seed",
    "to_config",
]


#: author-API names that lived here in 0.1: still importable, with a DeprecationWarning, until 0.3
MOVED = {
    **dict.fromkeys(
        ["BackwardResult", "BuildResult", "ForwardResult", "Neuron", "Params", "Shape", "activation_field",
         "affine_backward", "affine_forward", "forward_rng", "init_weights", "input_grad_wanted"],
        "tn_core.kit",
    ),
    "resolve_activation": "tn_core.activation",
}


def __getattr__(name: str) -> Any:
    """``tn.Dense`` and friends: anything a plugin registered (and the moved author names and renamed classes)."""
    if name.startswith("__"):
        raise AttributeError(name)
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # ``from tn_core import <submodule>``
        return importlib.import_module(f"{__name__}.{name}")
    if name in MOVED:
        warnings.warn(f"tn.{name} moved to {MOVED[name]}.{name}; the old name goes in tn-core 0.3",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(MOVED[name]), name)
    found = get_plugins().find(name)
    if name in former_names(found):
        warn_renamed(f"tn.{name}", f"tn.{found.__name__}")
    return found
