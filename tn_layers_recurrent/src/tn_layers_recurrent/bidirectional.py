"""Bidirectional: a recurrent layer run forwards and backwards over the sequence."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import kit
from tn_core.kit import BackwardResult, BuildResult, ForwardResult, Params, Shape
from tn_layers_recurrent.recurrent import Recurrent

MERGES = ("concat", "sum", "ave", "mul")


def _forward_layer(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, Recurrent):
        raise kit.ConfigError(f"Bidirectional needs an RNN, LSTM or GRU layer, got {value!r}")
    if value.go_backwards:
        raise kit.ConfigError(
            f"Bidirectional runs one copy of the layer each way; give it a layer with go_backwards=False, got {value!r}"
        )


@attrs.define
class Bidirectional(kit.Structure):
    """Two copies of ``layer`` with their own parameters, one reading the sequence backwards.

    Parameters are the copies', named ``forward/<name>`` and ``backward/<name>``.
    Slot 0 merges the two state sequences aligned in time (row t: the forward
    state after x_0..x_t and the backward state after x_{T-1}..x_t) by
    ``merge``: concat (T, 2*size), or sum, ave, mul (T, size). Then come the
    forward copy's final carries, then the backward copy's. Both start from
    zero carries.
    """

    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    layer: Recurrent = attrs.field(validator=_forward_layer)
    merge: str = kit.choice_field("concat", MERGES)

    def copies(self) -> list[tuple[kit.Nested, Recurrent]]:
        """Each direction's parameters in this layer's dict (``forward/...``, ``backward/...``), and its layer."""
        return [(kit.Nested("forward"), self.layer),
                (kit.Nested("backward"), attrs.evolve(self.layer, go_backwards=True))]

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        shapes: dict[str, list[Shape]] = {}
        params: Params = {}
        for part, layer in self.copies():
            shapes[part.name], own = layer.build(input_shapes, rng)
            params.update(part.wrap(own))
        steps, size = shapes["forward"][0]
        merged = (steps, 2 * size if self.merge == "concat" else size)
        return [merged, *shapes["forward"][1:], *shapes["backward"][1:]], params

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        outs, caches = {}, {}
        for part, layer in self.copies():
            outs[part.name], caches[part.name] = layer.forward(part.unwrap(params), inputs, training)
        ahead, behind = outs["forward"][0], outs["backward"][0][:, ::-1]  # back in time order
        if self.merge == "concat":
            merged = np.concatenate([ahead, behind], axis=2)
        elif self.merge == "sum":
            merged = ahead + behind
        elif self.merge == "ave":
            merged = 0.5 * (ahead + behind)
        else:
            merged = ahead * behind
        return [merged, *outs["forward"][1:], *outs["backward"][1:]], (caches, ahead, behind)

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        caches, ahead, behind = cache
        g = grads[0]
        if self.merge == "concat":
            g_ahead, g_behind = g[:, :, : ahead.shape[2]], g[:, :, ahead.shape[2] :]
        elif self.merge == "sum":
            g_ahead = g_behind = g
        elif self.merge == "ave":
            g_ahead = g_behind = 0.5 * g
        else:
            g_ahead, g_behind = g * behind, g * ahead
        carries = (len(grads) - 1) // 2
        slot_grads = {
            "forward": [g_ahead, *grads[1 : 1 + carries]],
            "backward": [g_behind[:, ::-1], *grads[1 + carries :]],
        }
        dx, p_grads = None, {}
        for part, layer in self.copies():
            d_inputs, own = layer.backward(part.unwrap(params), caches[part.name], slot_grads[part.name])
            dx = d_inputs[0] if dx is None else dx + d_inputs[0]
            p_grads.update(part.wrap(own))
        return [dx], p_grads
