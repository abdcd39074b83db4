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
is missing says what to install.

``load(path)`` never unpickles and checks before it allocates: the archive's
entries and headers (:func:`tn_core.weights.open_npz`), model.json's size,
nesting and numbers, that every member belongs to the model, and each
layer's stored parameters against what its build makes, layer by layer,
with build's random initial values capped by what the file stores. Every
failure is a WeightsFileError naming the file and the part (a missing
plugin: MissingPluginError, saying what to install).
"""

from __future__ import annotations

import inspect
import json
import math
import re
from typing import Any

import attrs
import numpy as np

from tn_core.activation import Activation
from tn_core.errors import ConfigError, UnknownNameError, WeightsFileError, prefixed
from tn_core.fields import check_int, is_int
from tn_core.losses import Loss
from tn_core.optimizers import Optimizer
from tn_core.parallel import writes_output
from tn_core.plugins import KINDS, get_plugins, missing_plugin_error
from tn_core.structure import Clone, Instance, Structure
from tn_core.system import System
from tn_core.weights import Archive, Member, convert_problem, open_npz, stored_problem, write_npz_atomic
from tn_core.wiring import Input

FORMAT = "tensornet-model"
VERSION = 2  # 2: a "types" table of provenance; 1 (tn-core 0.1): a plugin name per layer
READABLE_VERSIONS = (1, 2)
BASES = {"structure": Structure, "activation": Activation, "optimizer": Optimizer, "loss": Loss}
ARRAY_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64")
#: limits of model.json that bound what parsing it costs (about 100 bytes of Python objects per value at most)
MODEL_JSON_BYTES = 8 << 20
MODEL_JSON_VALUES = 1_000_000
MODEL_JSON_DEPTH = 100
#: random numbers a loaded layer's build may draw beyond the count of its stored parameters
DRAW_SLACK = 1 << 20
#: numbers a loaded layer's inputs may hold per sample beyond the count of the file's stored parameters (a build
#: may fill arrays as large as its inputs: Gain, LayerNorm; this bounds what a lying Input shape makes it cost)
INPUT_SLACK = 1 << 25  # a 4K RGB image (24.9M numbers) with a small conv net loads (tn.load can raise it)
PARAM_KEY = re.compile(r"params/(0|[1-9][0-9]{0,8})/(.+)")
#: an optimizer state array's key under optimizer/: "<state name>/<parameter index>" ("m/0")
STATE_KEY = re.compile(r"\w+/([0-9]{1,9})", re.ASCII)


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
    if is_int(value):
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
    Former names load as today's: a renamed class's (its ``renamed_from``, in
    the registry) and a renamed field's (the class's ``renamed_fields``).
    """
    if not isinstance(config, dict) or set(config) != {"kind", "type", "config"}:
        raise ConfigError(f"a configuration is a dict with keys kind, type and config, got {_short(config)}")
    kind, name, fields = config["kind"], config["type"], config["config"]
    if not isinstance(kind, str) or kind not in BASES or not isinstance(name, str) or not isinstance(fields, dict):
        raise ConfigError(f"malformed configuration: {_short(config)}")
    cls = get_plugins().lookup(kind, name)
    if not isinstance(cls, type) or not issubclass(cls, BASES[kind]):
        raise ConfigError(f"{kind} {name!r} is registered as {cls!r}, not a {BASES[kind].__name__}")
    renamed = getattr(cls, "renamed_fields", {})  # {old field name: today's}: files naming the old one still load
    today = {renamed.get(key, key): value for key, value in fields.items()}
    if len(today) < len(fields):
        raise ConfigError(f"{name} gives both the old and the new name of a renamed field: {sorted(fields)}")
    fields = today
    known = {field.alias for field in _init_fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"{name} has no field(s) {unknown} (its fields: {sorted(known)})")
    kwargs = {key: _decode(value, f"{name}.{key}") for key, value in fields.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, OverflowError) as exc:
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
        raise ConfigError(f"{where}: array of shape {_short(shape)} needs {math.prod(shape)} values")
    values = [_decode(v, where) for v in data]
    if not all(isinstance(v, (bool, int, float)) for v in values):
        raise ConfigError(f"{where}: array values must be numbers")
    kind = np.dtype(dtype).kind
    if kind in "iu":
        limits = np.iinfo(dtype)
        outside = [v for v in values if not limits.min <= v <= limits.max]
    elif kind == "f":
        limits = np.finfo(dtype)
        outside = [v for v in values if math.isfinite(v) and abs(v) > limits.max]
    else:
        outside = []
    if outside:  # NumPy before 2 would wrap or overflow them silently
        raise ConfigError(f"{where}: array values do not fit {dtype}, e.g. {outside[0]!r}")
    try:  # NumPy refuses more dimensions than it has (64; 32 before NumPy 2) and sizes beyond its index range
        return np.array(values, dtype=dtype).reshape(shape)
    except (ValueError, OverflowError) as exc:
        raise ConfigError(f"{where}: no {dtype} array has the shape {_short(shape)} ({exc})") from None


def _is_count(value: Any) -> bool:
    return is_int(value) and value >= 0


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- model files ----------------------------------------------------------------------


def save(system: Any, path: Any, optimizer: bool = True) -> None:
    """Write the System's architecture, parameters and (``optimizer=True``) optimizer state to ``path``.

    The file is an .npz archive written atomically; see :func:`load`. Writes nothing on the processes
    of a data-parallel run that do not write output.
    """
    if not writes_output(system):
        return
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
        f"params/{g}/{key}": np.asarray(array)
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
    write_npz_atomic(path, arrays)


def _named_types(data: Any) -> set[tuple[str, str]]:
    """(kind, type) of every configuration inside ``data`` (the model's JSON)."""
    found = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            # a "kind" or "type" that is not a name makes no configuration (from_config refuses it)
            if set(item) == {"kind", "type", "config"} and all(isinstance(item[key], str) for key in ("kind", "type")):
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
    plugins = get_plugins()
    registry = plugins.registry()
    missing: dict[tuple[str, str, str], list[str]] = {}
    for row in model["types"] if model["version"] >= 2 else []:  # version 1 had no types table
        with prefixed(str(path)):
            plugins.refuse_ambiguous(row["kind"], row["type"])
        if row["type"] not in registry.get(row["kind"], {}):
            missing.setdefault((row["plugin"], row["distribution"], row["version"]), []).append(row["type"])
    if missing:
        (plugin, distribution, version), names = next(iter(missing.items()))
        raise missing_plugin_error(f"{path} (types {', '.join(names)})", distribution, version, plugin)


def load(path: Any, *, max_input_numbers: int = INPUT_SLACK) -> Any:
    """The System stored in a :func:`save` file, with its parameters (and optimizer state).

    Raises WeightsFileError, naming the file and the part, for anything
    unreadable, inconsistent, oversized or holding pickled objects;
    MissingPluginError naming the distribution to install when a layer's
    plugin is missing. ``max_input_numbers`` bounds the numbers per sample a
    layer's inputs may hold beyond the parameters the file stores (a build
    may fill arrays that large, so a lying Input shape would cost that much
    memory); raise it for a file you trust whose model takes larger inputs.
    """
    max_input_numbers = check_int(max_input_numbers, "tn.load: max_input_numbers", low=0)
    with open_npz(path) as archive:
        model = _read_model(archive, path)
        _check_plugins_present(model, path)
        groups = _stored_groups(archive, model, path)
        instances = _rebuild(model, groups, archive, path, max_input_numbers)
        try:
            inputs = [instances[k] for k in model["inputs"]]
            outputs = [instances[k][slot] for k, slot in model["outputs"]]
            if any(not isinstance(inst.structure, Input) for inst in inputs):
                raise WeightsFileError(f"{path}: the System's inputs must be Input layers")
            system = System(inputs, outputs, dtype=np.dtype(model["dtype"]))
        except WeightsFileError:
            raise
        except Exception as exc:
            raise WeightsFileError(f"{path}: the architecture cannot be rebuilt: {type(exc).__name__}: {exc}") from None
        if [system.names[inst] for inst in system.order] != model["names"]:
            raise WeightsFileError(f"{path}: the rebuilt network does not match the stored one (layer names differ)")
        system.step = model["step"]
        if model["optimizer"] is not None:
            system.optimizer = _load_optimizer(model["optimizer"], system, archive, path)
    return system


def _read_model(archive: Archive, path: Any) -> dict[str, Any]:
    """model.json, parsed within bounds (size, values, nesting, finite numbers) and checked."""
    member = archive.members.get("model.json")
    if member is None or member.dtype != np.uint8 or len(member.shape) != 1:
        raise WeightsFileError(f"{path}: not a tensornet model file (no model.json); weights files load with "
                               "System.load_weights")
    if member.nbytes > MODEL_JSON_BYTES:
        raise WeightsFileError(f"{path}: model.json: {member.nbytes:,} bytes, more than a model file's "
                               f"{MODEL_JSON_BYTES:,}")
    text = archive.read("model.json").tobytes()
    values = text.count(b",") + text.count(b"[") + text.count(b"{")
    if values > MODEL_JSON_VALUES:
        raise WeightsFileError(f"{path}: model.json: about {values:,} values, more than a model file's "
                               f"{MODEL_JSON_VALUES:,}")
    try:
        model = json.loads(text.decode("utf-8"), parse_float=_finite_float, parse_int=_bounded_int,
                           parse_constant=_no_constant)
    except RecursionError:
        raise WeightsFileError(f"{path}: model.json nests deeper than {MODEL_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise WeightsFileError(f"{path}: model.json is not valid JSON ({exc})") from None
    if _depth(model) > MODEL_JSON_DEPTH:
        raise WeightsFileError(f"{path}: model.json nests deeper than {MODEL_JSON_DEPTH} levels")
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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise ValueError(f"the integer {text[:40]}... has more than 19 digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (model files write non-finite numbers as {{'__float__': ...}})")


def _depth(data: Any) -> int:
    """How deeply lists and dicts nest in ``data`` (iteratively, as it guards against deep recursion)."""
    deepest = 0
    stack = [(data, 1)] if isinstance(data, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


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
               and row["kind"] in KINDS for row in rows):
        raise WeightsFileError(f"{path}: model.json has a malformed types table")
    undeclared = _named_types({k: v for k, v in model.items() if k != "types"}) - {(r["kind"], r["type"]) for r in rows}
    if undeclared:
        raise WeightsFileError(f"{path}: model.json names types its types table does not list: {sorted(undeclared)}")


def _is_index(value: Any, count: int) -> bool:
    return is_int(value) and 0 <= value < count


def _is_ref(pair: Any, count: int) -> bool:
    return isinstance(pair, list) and len(pair) == 2 and _is_index(pair[0], count) and _is_count(pair[1])


def _stored_groups(archive: Archive, model: dict[str, Any], path: Any) -> dict[int, dict[str, Member]]:
    """The stored parameters by group, once every member is known to belong to the model: model.json, the
    parameters of groups its layers use (each of them stored), and the optimizer's state if it has one."""
    used = {entry["group"] for entry in model["instances"]} - {None}
    groups: dict[int, dict[str, Member]] = {}
    for key, member in archive.members.items():
        match = PARAM_KEY.fullmatch(key)
        if match and int(match[1]) in used:
            groups.setdefault(int(match[1]), {})[match[2]] = member
        elif key != "model.json" and not (key.startswith("optimizer/") and model["optimizer"] is not None):
            raise WeightsFileError(f"{path}: {key}: the model has no such part")
    unstored = sorted(used - set(groups))
    if unstored:
        raise WeightsFileError(f"{path}: the file stores no parameters for the groups {unstored[:6]} its layers use")
    return groups


class _Overdrawn(Exception):
    """A build asked a _BoundedGenerator for more numbers than it allows (not a ValueError: build_checked
    rewraps those)."""


class _BoundedGenerator(np.random.Generator):
    """The generator loaded layers' builds draw their initial values from (replaced by the stored ones): it
    refuses to draw more than ``budget`` numbers, so that a model.json lying about a layer's size cannot make
    build fill giant arrays."""

    def __init__(self) -> None:
        super().__init__(np.random.PCG64(0))
        self.budget = 0

    def __getattribute__(self, name: str) -> Any:
        method = super().__getattribute__(name)
        if name.startswith("_") or not callable(method):
            return method
        try:
            signature: inspect.Signature | None = inspect.signature(method)
        except (TypeError, ValueError):  # NumPy before 2 gives its generator methods no signature
            signature = None
        if signature is not None and "size" not in signature.parameters:
            return method

        def draw(*args: Any, **kwargs: Any) -> Any:
            # without a signature only size=... by keyword is seen (as every built-in initializer passes it)
            size = signature.bind(*args, **kwargs).arguments.get("size") if signature else kwargs.get("size")
            count = 1 if size is None else math.prod(size) if np.iterable(size) else int(size)
            if count > self.budget:
                raise _Overdrawn(count)
            self.budget -= count
            return method(*args, **kwargs)

        return draw


def _rebuild(model: dict[str, Any], groups: dict[int, dict[str, Member]], archive: Archive,
             path: Any, max_input_numbers: int) -> list[Instance]:
    """Instances in stored order; parents come first, shared groups reuse one Clone.

    A layer is built only if its inputs hold no more numbers per sample
    than the file stores parameters (plus ``max_input_numbers``); its build may draw
    as many random numbers as the file stores for its parameters (plus
    DRAW_SLACK); its parameters are checked against the stored headers and
    replaced by the stored values before the next layer is built.
    """
    stored_numbers = sum(member.size for group in groups.values() for member in group.values())
    instances: list[Instance] = []
    clones: dict[int, Clone] = {}
    rng = _BoundedGenerator()
    for k, entry in enumerate(model["instances"]):
        group = entry["group"]
        label = f"layer {k} ({entry['structure'].get('type')!r})"
        try:
            structure = from_config(entry["structure"])
        except UnknownNameError as exc:
            hint = f" (it came from plugin {entry['plugin']!r})" if "plugin" in entry else ""
            raise type(exc)(f"{path}: {label}: {exc}{hint}") from None
        except Exception as exc:
            raise WeightsFileError(f"{path}: {label} cannot be rebuilt: {exc}") from None
        builder: Structure | Clone = structure
        first = group is not None and group not in clones
        if first:
            builder = clones[group] = Clone(structure)
        elif group is not None:
            builder = clones[group]
            if to_config(builder.structure) != to_config(structure):
                raise WeightsFileError(f"{path}: layers sharing parameter group {group} have different structures")
        rng.budget = sum(member.size for member in groups.get(group, {}).values()) + DRAW_SLACK
        try:
            parents = [instances[index][slot] for index, slot in entry["parents"]]
            numbers = sum(math.prod(ref.shape) for ref in parents)
            if numbers > stored_numbers + max_input_numbers:
                raise WeightsFileError(f"{path}: {label}: its inputs hold {numbers:,} numbers per sample, more than "
                                       f"a loaded model's layers may ({max_input_numbers:,} beyond the file's "
                                       f"{stored_numbers:,} parameters); for a file you trust, "
                                       f"tn.load(path, max_input_numbers={numbers - stored_numbers}) loads it "
                                       f"(tn summary --max-input-numbers {numbers - stored_numbers})")
            instance = builder(*parents, name=entry["name"], rng=rng)
        except WeightsFileError:
            raise
        except _Overdrawn as exc:
            raise WeightsFileError(f"{path}: {label}: its build draws {exc.args[0]:,} random numbers, more than "
                                   "the parameters the file stores for it") from None
        except Exception as exc:
            raise WeightsFileError(f"{path}: {label} cannot be rebuilt: {type(exc).__name__}: {exc}") from None
        if instance.params and group is None:
            raise WeightsFileError(f"{path}: {label} has parameters but no group")
        if first:
            _set_params(instance, groups[group], archive, f"params/{group}/", np.dtype(model["dtype"]),
                        f"{path}: {label}")
        instances.append(instance)
    return instances


def _set_params(instance: Instance, stored: dict[str, Member], archive: Archive, prefix: str, dtype: np.dtype,
                where: str) -> None:
    """Replace a freshly built layer's parameters by the stored ones, after checking names, shapes and values."""
    problems = [f"missing {prefix}{key}" for key in instance.params if key not in stored]
    problems += [f"unexpected {prefix}{key}" for key in stored if key not in instance.params]
    problems += [f"{prefix}{key}: {problem}" for key, array in instance.params.items()
                 if key in stored and (problem := stored_problem(stored[key], array.shape))]
    if problems:
        raise WeightsFileError(f"{where}: stored parameters do not match the architecture: {'; '.join(problems[:6])}")
    keys = list(instance.params)
    instance.params.clear()  # build's initial values go before the stored ones come
    for key in keys:
        value = archive.read(prefix + key)
        problem = convert_problem(value, dtype)
        if problem:
            raise WeightsFileError(f"{where}: {prefix}{key} {problem}")
        instance.params[key] = value.astype(dtype, order="C", copy=False)


def _load_optimizer(config: dict, system: Any, archive: Archive, path: Any) -> Optimizer:
    """The stored optimizer with its state, checked against the System's parameters before it is read."""
    try:
        optimizer = from_config(config)
    except UnknownNameError as exc:
        raise type(exc)(f"{path}: optimizer: {exc}") from None
    except Exception as exc:  # as for the layers (_rebuild): whatever a hostile configuration makes fail
        raise WeightsFileError(f"{path}: optimizer: {exc}") from None
    if not isinstance(optimizer, Optimizer):
        raise WeightsFileError(f"{path}: the stored optimizer is a {type(optimizer).__name__}")
    members = {key[len("optimizer/"):]: m for key, m in archive.members.items() if key.startswith("optimizer/")}
    shapes = [array.shape for _, _, array in system.parameters()]
    for key, member in members.items():
        entry = STATE_KEY.fullmatch(key)
        if key == "steps":
            ok = member.shape == () and member.dtype.kind in "iu"
        else:
            ok = entry is not None and int(entry[1]) < len(shapes) and not stored_problem(member, shapes[int(entry[1])])
        if not ok:
            raise WeightsFileError(f"{path}: optimizer state {key!r} does not match the network's parameters")
    if "steps" not in members:
        raise WeightsFileError(f"{path}: optimizer state has no step count")
    state = {key: archive.read(f"optimizer/{key}") for key in members}
    if int(state["steps"]) < 0:
        raise WeightsFileError(f"{path}: optimizer state 'steps' is {int(state['steps'])}, not a count")
    for key, value in state.items():
        problem = convert_problem(value, system.dtype)
        if problem:
            raise WeightsFileError(f"{path}: optimizer state {key!r} {problem}")
    optimizer.load_state({key: value.astype(system.dtype) if key != "steps" else value for key, value in state.items()})
    return optimizer
