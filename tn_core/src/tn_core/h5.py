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
read from the file, and nothing from other files: soft and external links,
external storage and virtual datasets are refused.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tn_core.errors import WeightsFileError
from tn_core.weights import check_checkpoint_name, convert_problem

if TYPE_CHECKING:
    from tn_core.system import System

PART = re.compile(r"(\d+)_(.+)")
#: what h5py raises for an object or data it cannot read (a dangling link, a corrupt header or chunk)
READ_ERRORS = (KeyError, OSError, RuntimeError)


def load_seed_weights(system: System, path: Any, checkpoint: str = "default") -> None:
    """Set ``system``'s parameters from the original library's HDF5 weights file (module doc); all or nothing."""
    check_checkpoint_name(checkpoint)  # one group of the file's root: a path could pass through links
    try:
        import h5py
    except ImportError:
        raise ImportError("reading the original library's HDF5 weights needs h5py: pip install 'tn-core[h5]'") from None
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsFileError(f"{path}: cannot be read as HDF5 ({exc})") from None
    with handle:
        group = _open(path, handle, checkpoint, h5py)
        if not isinstance(group, h5py.Group):
            raise WeightsFileError(f"{path} has no checkpoint {checkpoint!r} (it has {sorted(handle)})")
        stored = _seed_parts(path, group, h5py)
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
        values = []
        for part, w, b in stored:  # read only once every declared shape matched
            with _reading(path, f"part {part}"):
                values.append((w[()], b[()]))
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
    with _reading(path, group.name):
        names = list(group)
    for name in names:
        part = _open(path, group, name, h5py)
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
        weights, biases = _open(path, part, "neuron0_w", h5py), _open(path, part, "neuron0_b", h5py)
        for dataset in (weights, biases):
            if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiu":
                raise WeightsFileError(f"{path}: part {name} holds {dataset!r} where the original library wrote "
                                       "numbers")
            if dataset.external or dataset.is_virtual:
                raise WeightsFileError(f"{path}: part {name}: {dataset.name} keeps its data in other files "
                                       "(external storage or a virtual dataset), which are never read")
        if weights.size == 0:
            continue  # activation-only parts (ResWrap and Activate hold empty arrays)
        if PART.fullmatch(name)[2].startswith("Clone("):
            raise WeightsFileError(f"{path}: part {name} is a per-step copy of a seed RNN or LSTM cell; only Dense "
                                   "and Conv layers are converted (retrain the recurrent network)")
        stored.append((name, weights, biases))
    return stored


def _open(path: Any, group: Any, name: str, h5py: Any) -> Any:
    """``group[name]``, or None if it has none; only an object stored in the file under that name (a hard
    link): soft and external links, which lead elsewhere, are refused."""
    where = f"{group.name.rstrip('/')}/{name}"
    with _reading(path, where):
        link = group.get(name, getlink=True)
        if link is None:
            return None
        if isinstance(link, h5py.HardLink):
            return group[name]
    raise WeightsFileError(f"{path}: {where} is a link ({link!r}); only what the file stores under "
                           "its own names is read")


@contextlib.contextmanager
def _reading(path: Any, part: str) -> Iterator[None]:
    """h5py's errors of reading ``part`` as WeightsFileError naming the file and the part."""
    try:
        yield
    except READ_ERRORS as exc:
        raise WeightsFileError(f"{path}: {part} cannot be read ({type(exc).__name__}: {exc})") from None


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
