"""Reading the original library's HDF5 weights files into a System (needs h5py: ``pip install 'tn-core[h5]'``).

The original library's ``System.save_weights("x.h5")`` wrote, per checkpoint group
(``default`` unless named), one group per part of the network,
``<index>_<type>``, index 0 being the output and the input the last, each
holding ``neuron<j>_w`` (outputs, inputs) and ``neuron<j>_b`` (outputs,)
for its neuron sets: one for a Dense or Conv, laid out as today's (a
Dense's ``weights`` (out_size, in_size); a Conv's (out_size, kernel taps *
in_channels), today's (out_size, *kernel_shape, in_channels) flattened),
empty arrays for activation-only parts, none for wiring, and one copy per
time step, in parts named ``Clone(...)``, for the cells of RNN and LSTM.

:func:`load_seed_weights` reads such a file into a network of Dense and Conv
layers chained as in the original DeepNetwork and ConvNetwork notebooks (other
layouts are refused, naming the part): the file's parts with weights, input
side first, fill the System's layers with parameters, in order, each checked
against the layer's shapes before any parameter changes. Then
``system.save_weights("x.npz")`` writes today's file. Nothing but numbers is
read from the file.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from tn_core.errors import WeightsFileError
from tn_core.weights import convert_problem

if TYPE_CHECKING:
    from tn_core.system import System

PART = re.compile(r"(\d+)_(.+)")


def load_seed_weights(system: System, path: Any, checkpoint: str = "default") -> None:
    """Set ``system``'s parameters from the original library's HDF5 weights file (module doc); all or nothing."""
    try:
        import h5py
    except ImportError:
        raise ImportError("reading the original library's HDF5 weights needs h5py: pip install 'tn-core[h5]'") from None
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsFileError(f"{path}: cannot be read as HDF5 ({exc})") from None
    with handle:
        if checkpoint not in handle or not isinstance(handle[checkpoint], h5py.Group):
            raise WeightsFileError(f"{path} has no checkpoint {checkpoint!r} (it has {sorted(handle)})")
        stored = _seed_parts(path, handle[checkpoint], h5py)
        targets = _layers(system)
        if len(stored) != len(targets):
            raise WeightsFileError(
                f"{path} checkpoint {checkpoint!r} holds {len(stored)} layers with weights "
                f"({[name for name, _, _ in stored]}), the network {len(targets)} ({[name for name, _ in targets]})"
            )
        problems = [_shape_problem(part, w, b, layer, params) for (part, w, b), (layer, params) in zip(stored, targets)]
        problems = [p for p in problems if p]
        if problems:
            raise WeightsFileError(f"{path} checkpoint {checkpoint!r} does not match this network: "
                                   + "; ".join(problems))
        values = [(w[()], b[()]) for _, w, b in stored]  # read only once every declared shape matched
    new = {}
    for (part, _, _), (layer, params), (w, b) in zip(stored, targets, values):
        for key, value in (("weights", w.reshape(params["weights"].shape)), ("biases", b)):
            problem = convert_problem(value, params[key].dtype)
            if problem:
                raise WeightsFileError(f"{path} part {part} ({layer}.{key}) {problem}")
            new[layer, key] = value
    for layer, params in targets:
        for key in ("weights", "biases"):
            params[key][...] = new[layer, key]


def _seed_parts(path: Any, group: Any, h5py: Any) -> list[tuple[str, Any, Any]]:
    """(part name, weights dataset, biases dataset) of the parts with weights, input side first."""
    parts = []
    for name, part in group.items():
        match = PART.fullmatch(name)
        if match is None or not isinstance(part, h5py.Group):
            raise WeightsFileError(f"{path}: {group.name}/{name} is not one of the original library's "
                                   "<index>_<type> parts")
        parts.append((int(match[1]), name, part))
    stored = []
    for _, name, part in sorted(parts, key=lambda item: item[0], reverse=True):
        if "neuron1_w" in part:
            raise WeightsFileError(f"{path}: part {name} holds several neuron sets; only Dense and Conv are converted")
        if "neuron0_w" not in part:
            continue  # Input and wiring parts
        weights, biases = part["neuron0_w"], part.get("neuron0_b")
        for dataset in (weights, biases):
            if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiu":
                raise WeightsFileError(f"{path}: part {name} holds {dataset!r} where the original library wrote "
                                       "numbers")
        if weights.size == 0:
            continue  # activation-only parts (ResWrap and Activate hold empty arrays)
        if PART.fullmatch(name)[2].startswith("Clone("):
            raise WeightsFileError(f"{path}: part {name} is a per-step copy of a seed RNN or LSTM cell; only Dense "
                                   "and Conv layers are converted (retrain the recurrent network)")
        stored.append((name, weights, biases))
    return stored


def _layers(system: System) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(layer name, params) of the System's layers with parameters, in order; each must be one set of neurons
    as the original Dense and Conv were: ``weights`` (out_size, ...) and ``biases`` (out_size,), nothing else."""
    layers = []
    for owner, params in system.groups:
        if set(params) != {"weights", "biases"} or params["weights"].shape[:1] != params["biases"].shape:
            raise WeightsFileError(f"layer {system.names[owner]} is a {owner.structure.type_name()} with parameters "
                                   f"{sorted(params)}; only networks of Dense and Conv layers are read from the "
                                   "original library's files")
        layers.append((system.names[owner], params))
    return layers


def _shape_problem(part: str, w: Any, b: Any, layer: str, params: dict[str, np.ndarray]) -> str | None:
    weights, biases = params["weights"], params["biases"]
    if w.shape != (weights.shape[0], weights[0].size) or b.shape != biases.shape:
        return (f"part {part} has weights {w.shape} and biases {b.shape}, layer {layer} weights "
                f"{weights.shape} (seed layout {(weights.shape[0], weights[0].size)}) and biases {biases.shape}")
    return None
