"""Configurations and model files.

``to_config(obj)`` turns any registered object (a Structure, Activation,
Optimizer or Loss, with whatever registered objects, tuples, arrays and
initializer names its attrs fields hold) into plain JSON data, and
``from_config`` turns it back. Names are resolved only through the plugin
registry, so reading a configuration never runs code named by it.

``save(system, path)`` writes one .npz file: the architecture as UTF-8 JSON
in a uint8 array (``model.json``), the parameters and buffers
(``params/<group>/<name>``) and optionally the optimizer's state
(``optimizer/<key>``). ``model.json`` records, for every type it names, the
plugin, distribution and version that registered it, so a file whose plugin
is missing says what to install. ``load(path)`` reads it with
``allow_pickle=False`` and checks every part before building the System.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from tn_core.activation import Activation
from tn_core.errors import ConfigError, UnknownNameError, WeightsFileError
from tn_core.losses import Loss
from tn_core.optimizers import Optimizer
from tn_core.plugins import get_plugins, missing_plugin_error
from tn_core.structure import Clone, Instance, Structure
from tn_core.system import System
from tn_core.weights import read_npz, write_npz_atomic
from tn_core.wiring import Input

FORMAT = "tensornet-model"
VERSION = 2  # 2: a "types" table of provenance; 1 (tn-core 0.1): a plugin name per layer
READABLE_VERSIONS = (1, 2)
BASES = {"structure": Structure, "activation": Activation, "optimizer": Optimizer, "loss": Loss}
ARRAY_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64")


# -- configurations ------------------------------------------------------------------


def _kind(obj: Any) -> str:
    for kind, base in BASES.items():
        if isinstance(obj, base):
            return kind
    raise ConfigError(f"{type(obj).__name__} is not a Structure, Activation, Optimizer or Loss")


def _init_fields(cls: type) -> list[attrs.Attribute]:
    if not attrs.has(cls):
        raise ConfigError(f"{cls.__name__} is not an attrs class, so its configuration cannot be saved")
    return [field for field in attrs.fields(cls) if field.init]


def to_config(obj: Any) -> dict[str, Any]:
    """``{"kind", "type", "config"}`` for a registered object; plain JSON data.

    ``config`` holds the object's attrs fields (those its constructor takes).
    """
    kind = _kind(obj)
    name = type(obj).__name__
    try:
        registered = get_plugins().lookup(kind, name)
    except UnknownNameError:
        registered = None
    if registered is not type(obj):
        raise ConfigError(f"{kind} {name} is not registered by any plugin, so it cannot be saved by name")
    fields = _init_fields(type(obj))
    config = {field.alias: _encode(getattr(obj, field.name), f"{name}.{field.name}") for field in fields}
    return {"kind": kind, "type": name, "config": config}


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{k}]") for k, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype.name in ARRAY_DTYPES:
        flat = [_encode(v, where) for v in value.reshape(-1).tolist()]
        return {"__array__": {"dtype": value.dtype.name, "shape": list(value.shape), "data": flat}}
    if isinstance(value, tuple(BASES.values())):
        return {"__object__": to_config(value)}
    if callable(value) and _registered_initializer(value):
        return {"__initializer__": value.__name__}
    raise ConfigError(
        f"{where} = {value!r} cannot be saved: configurations hold numbers, strings, tuples, lists, "
        "numeric arrays, registered objects and registered initializer names"
    )


def _registered_initializer(fn: Any) -> bool:
    name = getattr(fn, "__name__", None)
    try:
        return isinstance(name, str) and get_plugins().lookup("initializer", name) is fn
    except UnknownNameError:
        return False


def from_config(config: Any) -> Any:
    """The object a :func:`to_config` result describes, built through the registry.

    Unknown names raise UnknownNameError (MissingPluginError, naming the
    distribution to install, for first-party names); malformed data ConfigError.
    """
    if not isinstance(config, dict) or set(config) != {"kind", "type", "config"}:
        raise ConfigError(f"a configuration is a dict with keys kind, type and config, got {_short(config)}")
    kind, name, fields = config["kind"], config["type"], config["config"]
    if kind not in BASES or not isinstance(name, str) or not isinstance(fields, dict):
        raise ConfigError(f"malformed configuration: {_short(config)}")
    cls = get_plugins().lookup(kind, name)
    if not isinstance(cls, type) or not issubclass(cls, BASES[kind]):
        raise ConfigError(f"{kind} {name!r} is registered as {cls!r}, not a {BASES[kind].__name__}")
    known = {field.alias for field in _init_fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"{name} has no field(s) {unknown} (its fields: {sorted(known)})")
    kwargs = {key: _decode(value, f"{name}.{key}") for key, value in fields.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}({_short(fields)}): {exc}") from None


def _decode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(f"{where}: malformed value {_short(value)}")
    (tag, body), = value.items()
    if tag == "__tuple__" and isinstance(body, list):
        return tuple(_decode(v, where) for v in body)
    if tag == "__dict__" and isinstance(body, dict):
        return {str(k): _decode(v, where) for k, v in body.items()}
    if tag == "__float__" and body in ("inf", "-inf", "nan"):
        return float(body)
    if tag == "__object__":
        return from_config(body)
    if tag == "__initializer__" and isinstance(body, str):
        return get_plugins().lookup("initializer", body)
    if tag == "__array__" and isinstance(body, dict) and set(body) == {"dtype", "shape", "data"}:
        return _decode_array(body, where)
    raise ConfigError(f"{where}: malformed value {_short(value)}")


def _decode_array(body: dict, where: str) -> np.ndarray:
    dtype, shape, data = body["dtype"], body["shape"], body["data"]
    if dtype not in ARRAY_DTYPES or not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise ConfigError(f"{where}: malformed array (dtype {dtype!r}, shape {shape!r})")
    if not isinstance(data, list) or len(data) != math.prod(shape):
        raise ConfigError(f"{where}: array of shape {shape} needs {math.prod(shape)} values")
    values = [_decode(v, where) for v in data]
    if not all(isinstance(v, (bool, int, float)) for v in values):
        raise ConfigError(f"{where}: array values must be numbers")
    return np.array(values, dtype=dtype).reshape(shape)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- model files ----------------------------------------------------------------------


def save(system: Any, path: Any, optimizer: bool = True) -> None:
    """Write the System's architecture, parameters and (``optimizer=True``) optimizer state to ``path``.

    The file is an .npz archive written atomically; see :func:`load`.
    """
    index = {inst: k for k, inst in enumerate(system.order)}
    group_of = {id(params): g for g, (_, params) in enumerate(system.groups)}
    instances = [
        {
            "name": inst.name,
            "structure": to_config(inst.structure),
            "parents": [[index[ref.instance], ref.slot] for ref in inst.parents],
            "group": group_of.get(id(inst.params)) if inst.params else None,
        }
        for inst in system.order
    ]
    arrays = {
        f"params/{g}/{key}": np.ascontiguousarray(array)
        for g, (_, params) in enumerate(system.groups)
        for key, array in params.items()
    }
    model: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": system.dtype.name,
        "instances": instances,
        "inputs": [index[inst] for inst in system.inputs],
        "outputs": [[index[ref.instance], ref.slot] for ref in system.outputs],
        "names": [system.names[inst] for inst in system.order],
        "optimizer": None,
        "step": system.step,
    }
    if optimizer and system.optimizer is not None:
        model["optimizer"] = to_config(system.optimizer)
        arrays.update({f"optimizer/{key}": np.asarray(value) for key, value in system.optimizer.state().items()})
    model["types"] = _provenance(model)
    text = json.dumps(model, allow_nan=False)
    arrays["model.json"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    write_npz_atomic(Path(path), arrays)


def _named_types(data: Any) -> set[tuple[str, str]]:
    """(kind, type) of every configuration inside ``data`` (the model's JSON)."""
    found = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if set(item) == {"kind", "type", "config"} and isinstance(item["kind"], str):
                found.add((item["kind"], item["type"]))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _provenance(model: dict[str, Any]) -> list[dict[str, str]]:
    """For every type the model names: its kind, name, and the plugin, distribution and version behind it."""
    registry = get_plugins().registry()
    rows = []
    for kind, name in sorted(_named_types(model)):
        entry = registry[kind][name]
        rows.append({"kind": kind, "type": name, "plugin": entry.plugin, "distribution": entry.distribution,
                     "version": entry.version})
    return rows


def _check_plugins_present(model: dict[str, Any], path: Any) -> None:
    """MissingPluginError naming what to install when a type the file names is registered by no plugin."""
    registry = get_plugins().registry()
    missing: dict[tuple[str, str], list[str]] = {}
    for row in model.get("types", []):
        if row["type"] not in registry.get(row["kind"], {}):
            missing.setdefault((row["distribution"], row["version"]), []).append(row["type"])
    if missing:
        (distribution, version), names = next(iter(missing.items()))
        raise missing_plugin_error(f"{path} (types {', '.join(names)})", distribution, version)


def load(path: Any) -> Any:
    """The System stored in a :func:`save` file, with its parameters (and optimizer state).

    Raises WeightsFileError for an unreadable, truncated or inconsistent file
    (or one holding pickled objects), MissingPluginError naming the
    distribution to install when a layer's plugin is missing.
    """
    arrays = read_npz(path)
    model = _read_model(arrays, path)
    _check_plugins_present(model, path)
    try:
        instances = _rebuild(model["instances"], path)
        inputs = [instances[k] for k in model["inputs"]]
        outputs = [instances[k][slot] for k, slot in model["outputs"]]
        if any(not isinstance(inst.structure, Input) for inst in inputs):
            raise WeightsFileError(f"{path}: the System's inputs must be Input layers")
        _set_params(instances, model["instances"], arrays, path)
        system = System(inputs, outputs, dtype=np.dtype(model["dtype"]))
    except (ConfigError, IndexError, TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, (UnknownNameError, WeightsFileError)):
            raise
        raise WeightsFileError(f"{path}: the architecture cannot be rebuilt: {exc}") from None
    if [system.names[inst] for inst in system.order] != model["names"]:
        raise WeightsFileError(f"{path}: the rebuilt network does not match the stored one (layer names differ)")
    system.step = model["step"]
    if model["optimizer"] is not None:
        system.optimizer = _load_optimizer(model["optimizer"], system, arrays, path)
    return system


def _read_model(arrays: dict[str, np.ndarray], path: Any) -> dict[str, Any]:
    raw = arrays.get("model.json")
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise WeightsFileError(f"{path}: not a tensornet model file (no model.json); weights files load with "
                               "System.load_weights")
    try:
        model = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WeightsFileError(f"{path}: model.json is not valid JSON ({exc})") from None
    expected = {"format": str, "version": int, "dtype": str, "instances": list, "inputs": list, "outputs": list,
                "names": list, "optimizer": (dict, type(None))}
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise WeightsFileError(f"{path}: not a tensornet model file")
    version = model.get("version")
    if version not in READABLE_VERSIONS:
        raise WeightsFileError(f"{path}: model file version {version!r}; this tn-core reads {READABLE_VERSIONS}")
    if version >= 2:
        expected["types"] = list
    bad = [key for key, kind in expected.items() if not isinstance(model.get(key), kind)]
    bad += [] if _is_count(model.get("step")) else ["step"]
    if bad or model["dtype"] not in ("float32", "float64"):
        raise WeightsFileError(f"{path}: model.json has missing or malformed entries {bad or ['dtype']}")
    count = len(model["instances"])
    for k, entry in enumerate(model["instances"]):
        _check_entry(entry, k, path, version)
    if version >= 2:
        _check_types(model, path)
    refs_ok = all(_is_ref(pair, count) for pair in model["outputs"])
    if not (refs_ok and all(_is_index(k, count) for k in model["inputs"])):
        raise WeightsFileError(f"{path}: model.json refers to layers that do not exist")
    return model


def _check_entry(entry: Any, k: int, path: Any, version: int) -> None:
    """A stored layer: its name, structure, parents stored before it, parameter group (and, in version 1, plugin)."""
    keys = {"name", "structure", "parents", "group"} | ({"plugin"} if version == 1 else set())
    ok = (
        isinstance(entry, dict)
        and set(entry) == keys
        and isinstance(entry["name"], (str, type(None)))
        and isinstance(entry["structure"], dict)
        and isinstance(entry["parents"], list)
        and (entry["group"] is None or _is_count(entry["group"]))
        and isinstance(entry.get("plugin", ""), str)
    )
    if not ok:
        raise WeightsFileError(f"{path}: layer {k} of model.json is malformed")
    if not all(_is_ref(pair, k) for pair in entry["parents"]):
        raise WeightsFileError(f"{path}: layer {k} reads a layer that is not stored before it")


def _check_types(model: dict[str, Any], path: Any) -> None:
    """The provenance table: well formed, and naming every type the architecture uses."""
    fields = {"kind", "type", "plugin", "distribution", "version"}
    rows = model["types"]
    if not all(isinstance(row, dict) and set(row) == fields and all(isinstance(row[f], str) for f in fields)
               for row in rows):
        raise WeightsFileError(f"{path}: model.json has a malformed types table")
    undeclared = _named_types({k: v for k, v in model.items() if k != "types"}) - {(r["kind"], r["type"]) for r in rows}
    if undeclared:
        raise WeightsFileError(f"{path}: model.json names types its types table does not list: {sorted(undeclared)}")


def _is_index(value: Any, count: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count


def _is_ref(pair: Any, count: int) -> bool:
    return isinstance(pair, list) and len(pair) == 2 and _is_index(pair[0], count) and _is_count(pair[1])


def _rebuild(entries: list[Any], path: Any) -> list[Instance]:
    """Instances in stored order; parents must come first, shared groups reuse one Clone."""
    instances: list[Instance] = []
    clones: dict[int, Clone] = {}
    rng = np.random.default_rng(0)  # build's initial values are replaced by the stored ones
    for k, entry in enumerate(entries):
        try:
            structure = from_config(entry["structure"])
        except UnknownNameError as exc:
            if "plugin" not in entry:
                raise
            raise type(exc)(f"{exc} (the file's layer {k} came from plugin {entry['plugin']!r})") from None
        parents = [instances[index][slot] for index, slot in entry["parents"]]
        group = entry["group"]
        if group is None:
            instances.append(structure(*parents, name=entry["name"], rng=rng))
            continue
        clone = clones.get(group)
        if clone is None:
            clone = clones[group] = Clone(structure)
        elif to_config(clone.structure) != to_config(structure):
            raise WeightsFileError(f"{path}: layers sharing parameter group {group} have different structures")
        instances.append(clone(*parents, name=entry["name"], rng=rng))
    return instances


def _set_params(instances: list[Instance], entries: list[dict], arrays: dict[str, np.ndarray], path: Any) -> None:
    """Replace the freshly built parameters by the stored ones, after checking names, shapes and values."""
    stored = {key: value for key, value in arrays.items() if key.startswith("params/")}
    expected: dict[str, np.ndarray] = {}
    for inst, entry in zip(instances, entries):
        if inst.params:
            if entry["group"] is None:
                raise WeightsFileError(f"{path}: layer {entry['structure']['type']} has parameters but no group")
            for key, array in inst.params.items():
                expected[f"params/{entry['group']}/{key}"] = array
    problems = [f"missing {key}" for key in expected if key not in stored]
    problems += [f"unexpected {key}" for key in stored if key not in expected]
    for key, array in expected.items():
        value = stored.get(key)
        if value is None:
            continue
        if value.shape != array.shape:
            problems.append(f"{key}: the layer has shape {array.shape}, the file {value.shape}")
        elif value.dtype.kind != "f" or not np.isfinite(value).all():
            problems.append(f"{key}: expected finite floats, got {value.dtype}")
    if problems:
        raise WeightsFileError(f"{path}: stored parameters do not match the architecture: {'; '.join(problems[:6])}")
    for inst, entry in zip(instances, entries):
        for key in inst.params:
            inst.params[key] = np.array(stored[f"params/{entry['group']}/{key}"], dtype=np.float64)


def _load_optimizer(config: dict, system: Any, arrays: dict[str, np.ndarray], path: Any) -> Optimizer:
    try:
        optimizer = from_config(config)
    except ConfigError as exc:
        raise WeightsFileError(f"{path}: optimizer: {exc}") from None
    if not isinstance(optimizer, Optimizer):
        raise WeightsFileError(f"{path}: the stored optimizer is a {type(optimizer).__name__}")
    state = {key[len("optimizer/"):]: value for key, value in arrays.items() if key.startswith("optimizer/")}
    shapes = [array.shape for _, _, array in system.parameters()]
    for key, value in state.items():
        name, _, index = key.partition("/")
        if key == "steps":
            ok = value.shape == () and value.dtype.kind in "iu"
        else:
            ok = (index.isdigit() and int(index) < len(shapes) and value.shape == shapes[int(index)]
                  and value.dtype.kind == "f" and bool(np.isfinite(value).all()) and bool(name))
        if not ok:
            raise WeightsFileError(f"{path}: optimizer state {key!r} does not match the network's parameters")
    if "steps" not in state:
        raise WeightsFileError(f"{path}: optimizer state has no step count")
    optimizer.load_state({key: value.astype(system.dtype) if key != "steps" else value for key, value in state.items()})
    return optimizer
