"""The plugin author's API: everything a layer, activation, optimizer or loss plugin imports.

A plugin distribution (the first-party ones included) imports from this
module and from ``tn_core`` itself, nothing deeper::

    import attrs, numpy as np
    from tn_core import kit

    @attrs.define
    class Scale(kit.Structure):
        factor: float = kit.real_field(2.0, lambda v: v != 0, "!= 0")

        def build(self, input_shapes, rng):
            return [input_shapes[0]], {}

        def forward(self, params, inputs, training):
            return [self.factor * inputs[0]], None

        def backward(self, params, cache, grads):
            return [self.factor * grads[0]], {}

    @kit.hookimpl
    def tn_register_structures():
        return [Scale]

What is here, by purpose:

- protocol: Structure (with ``arity`` and ``buffers``), Neuron (affine map +
  activation, fused losses), Activation, Optimizer, Loss, and the result
  types Shape, Params, BuildResult, ForwardResult, BackwardResult;
- inside forward/backward: ``forward_rng()`` (the System's seeded generator),
  ``input_grad_wanted(k)`` (skip an unused input gradient), ``gradient_target(param)``
  (where to compute a parameter's gradient: the System's buffer, no copy);
- math with one home: affine_forward, affine_backward, init_weights;
- layers inside layers: Nested (a sub-layer's parameters as "<name>/<key>"
  in its owner's dict);
- validated hyperparameters: real_field, int_field, choice_field,
  shape_field, activation_field, init_field, labelled, as_shape,
  resolve_activation; the same checks as plain functions: is_int,
  check_int, check_choice;
- errors: ShapeError, ConfigError, PluginError, suggest, prefixed (errors
  of a block re-raised with their owner's name in front);
- deprecations: warn_renamed (a name tensornet renamed), warn_seed_spelling
  (an original library's keyword): DeprecationWarnings naming today's spelling;
- registration: hookimpl; alias(cls, name) (a second registered name for a class);
- data parallelism: Parallel (what a ``tn_parallel`` hook returns), parallel_of;
- checks for the plugin's own tests: check_structure, check_gradients,
  check_system_gradients (also the pytest fixtures ``tn_check_structure``
  and ``tn_check_gradients``).
"""

from __future__ import annotations

from tn_core.activation import Activation, Linear, resolve_activation
from tn_core.errors import ConfigError, PluginError, ShapeError, prefixed, suggest, warn_renamed
from tn_core.fields import (
    activation_field,
    check_choice,
    check_int,
    choice_field,
    init_field,
    int_field,
    is_int,
    labelled,
    real_field,
    shape_field,
)
from tn_core.hookspecs import hookimpl
from tn_core.initializers import init_weights
from tn_core.losses import Loss
from tn_core.nested import Nested
from tn_core.neuron import Neuron, affine_backward, affine_forward
from tn_core.optimizers import Optimizer
from tn_core.parallel import Parallel, parallel_of
from tn_core.plugins import alias
from tn_core.seed import take_seed_keyword, warn_seed_spelling
from tn_core.structure import (
    BackwardResult,
    BuildResult,
    ForwardResult,
    Params,
    Shape,
    Structure,
    as_shape,
    forward_rng,
    gradient_target,
    input_grad_wanted,
)
from tn_core.testing import check_gradients, check_structure, check_system_gradients
from tn_core.work_arrays import reusable_empty, scratch

__all__ = [
    "Activation",
    "BackwardResult",
    "BuildResult",
    "ConfigError",
    "ForwardResult",
    "Linear",
    "Loss",
    "Nested",
    "Neuron",
    "Optimizer",
    "Parallel",
    "Params",
    "PluginError",
    "Shape",
    "ShapeError",
    "Structure",
    "activation_field",
    "affine_backward",
    "affine_forward",
    "alias",
    "as_shape",
    "check_choice",
    "check_gradients",
    "check_int",
    "check_structure",
    "check_system_gradients",
    "choice_field",
    "forward_rng",
    "gradient_target",
    "hookimpl",
    "init_field",
    "init_weights",
    "input_grad_wanted",
    "int_field",
    "is_int",
    "labelled",
    "parallel_of",
    "prefixed",
    "real_field",
    "resolve_activation",
    "reusable_empty",
    "scratch",
    "shape_field",
    "suggest",
    "take_seed_keyword",
    "warn_renamed",
    "warn_seed_spelling",
]
