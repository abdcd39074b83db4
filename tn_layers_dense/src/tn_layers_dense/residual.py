"""Residual blocks: ResWrap (as in the original library), y = activation(x + W cell(x) + b)."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, Linear, Params, Shape, init_field, labelled

CELL = kit.Nested("cell")  # the cell's parameters, as "cell/<name>"


def _check_cell(instance: Any, attribute: attrs.Attribute, cell: Any) -> None:
    name = type(instance).__name__
    if isinstance(cell, type) and issubclass(cell, kit.Structure):
        raise kit.ConfigError(f"{name}: cell must be a Structure instance, e.g. {cell.__name__}(...), not the class")
    if not isinstance(cell, kit.Structure):
        raise kit.ConfigError(f"{name}: cell must be a Structure, got {type(cell).__name__} {cell!r}")
    low, high = cell.arity
    if not (low <= 1 and (high is None or high >= 1)):
        takes = f"{low}" if low == high else f"{low} to {'any number of' if high is None else high}"
        raise kit.ConfigError(f"{name}: cell {cell.type_name()} takes {takes} inputs; a residual cell takes one")


def _optional_activation(spec: Any) -> kit.Activation | None:
    return None if spec is None else kit.resolve_activation(spec)


@attrs.define(init=False)
class ResWrap(kit.Neuron):
    """Residual block (the original library's ResWrap): y = activation(x + W h + b), h = ``cell``'s output on x.

    h is output ``slot`` of ``cell`` (any Structure taking one input), flattened; the projection
    maps it back to the input's shape, so the block learns a perturbation of the identity.
    Parameters: the projection's ``weights`` W (in_size, cell_out_size) and ``biases`` b (in_size,)
    (``init``: default Xavier), and the cell's own under ``cell/<name>``. ``activation`` defaults to
    the cell's (as the original library did), or Linear for a cell without one.
    """

    cell: kit.Structure = attrs.field(validator=_check_cell)
    activation: kit.Activation = attrs.field(default=None, converter=labelled(_optional_activation))
    slot: int = kit.int_field(0, low=0)
    init: Any = init_field()

    def __init__(self, *args: Any, output_index: int | None = None, **kwargs: Any) -> None:
        """The fields above; ``output_index`` is the original library's spelling of ``slot`` (deprecated)."""
        if output_index is not None:
            kit.take_seed_keyword(type(self).__name__, "output_index", "slot", output_index, kwargs,
                                  new_given="slot" in kwargs or len(args) > 2, before="cell")
        self.__attrs_init__(*args, **kwargs)

    def __attrs_post_init__(self) -> None:
        if self.activation is None:
            inner = getattr(self.cell, "activation", None)
            self.activation = inner if isinstance(inner, kit.Activation) else Linear()

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        cell_shapes, cell_params = self.cell.build_checked(input_shapes, rng)
        if self.slot >= len(cell_shapes):
            raise kit.ShapeError(
                f"cell {self.cell.type_name()} has output slots 0..{len(cell_shapes) - 1}, slot {self.slot} asked for"
            )
        size, cell_size = math.prod(input_shapes[0]), math.prod(cell_shapes[self.slot])
        params = {
            "weights": kit.init_weights(self.init, None, (size, cell_size), cell_size, size, rng),
            "biases": np.zeros(size),
        }
        params.update(CELL.wrap(cell_params))
        return [input_shapes[0]], params

    def pre_activation(self, params: Params, inputs: list[np.ndarray], training: bool) -> tuple[np.ndarray, Any]:
        x = inputs[0]
        cell_params = CELL.unwrap(params)
        outs, cell_cache = self.cell.forward(cell_params, [x], training)
        h = outs[self.slot].reshape(x.shape[0], -1)
        z = kit.affine_forward(h, params["weights"], params["biases"]).reshape(x.shape)
        z += x
        return z, (cell_params, outs, cell_cache, h)

    def pre_activation_backward(self, params: Params, cache: Any, grad_z: np.ndarray) -> BackwardResult:
        cell_params, outs, cell_cache, h = cache
        dh, dw, db = kit.affine_backward(h, params["weights"], grad_z.reshape(h.shape[0], -1))
        cell_grads = [dh.reshape(out.shape) if k == self.slot else np.zeros_like(out) for k, out in enumerate(outs)]
        (dx_cell,), cell_pgrads = self.cell.backward(cell_params, cell_cache, cell_grads)
        pgrads = {"weights": dw, "biases": db}
        pgrads.update(CELL.wrap(cell_pgrads))
        if not kit.input_grad_wanted(0):  # the cell saw the same answer and skipped its dE/dx too
            return [None], pgrads
        return [grad_z if dx_cell is None else grad_z + dx_cell], pgrads


Residual = kit.alias(ResWrap, "Residual")
