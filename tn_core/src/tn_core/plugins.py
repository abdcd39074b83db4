"""The plugin manager: loads ``tensornet`` entry points and builds the name registry.

Everything a network refers to by name (layers, activations, optimizers,
losses, initializers) comes from the registration hooks of
:mod:`tn_core.hookspecs`, the core's own built-ins included. Names are the
class (or function) name and its lower-case form.

Environment:
    TN_PLUGINS          comma-separated entry-point names to load (unset: all)
    TN_DISABLE_PLUGINS  comma-separated entry-point names to skip
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from typing import Any

import attrs
import pluggy

from tn_core import hookspecs
from tn_core.errors import (
    ConfigError,
    MissingPluginError,
    PluginError,
    UnknownAttributeError,
    UnknownNameError,
    suggest,
)

ENTRY_POINT_GROUP = "tensornet"
KINDS = ("structure", "activation", "optimizer", "loss", "initializer")
_HOOK_OF_KIND = {
    "structure": "tn_register_structures",
    "activation": "tn_register_activations",
    "optimizer": "tn_register_optimizers",
    "loss": "tn_register_losses",
    "initializer": "tn_register_initializers",
}

# Names provided by the first-party plugins, so a missing one says what to install.
FIRST_PARTY = {
    "tn-layers-dense": (
        "Dense Pointwise Add Sub Mul Activate Gain Bias ResWrap Residual Dropout LayerNorm "
        "Linear Sigmoid Tanh ReLU LeakyReLU Softmax ELU GELU Softplus SiLU Swish Softsign HardTanh"
    ).split(),
    "tn-layers-conv": "Conv Conv1D Conv2D Conv3D MaxPool AvgPool GlobalAvgPool".split(),
    "tn-layers-recurrent": "RNN LSTM GRU Bidirectional".split(),
}


@attrs.define
class Entry:
    """One registered object and the plugin that registered it."""

    obj: Any
    kind: str
    plugin: str


@attrs.define
class PluginInfo:
    """What ``tn plugins`` reports for one plugin."""

    name: str
    version: str
    registered: dict[str, list[str]] = attrs.Factory(dict)
    error: str | None = None


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


class Plugins:
    """A pluggy PluginManager plus the registry built from its registration hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.versions: dict[str, str] = {}
        self.failed: list[PluginInfo] = []
        self._registry: dict[str, dict[str, Entry]] | None = None

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def register(self, plugin: Any, name: str, version: str = "") -> None:
        """Register a plugin module or object (clears the registry cache)."""
        self.pm.register(plugin, name=name)
        self.versions[name] = version
        self._registry = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.versions.pop(name, None)
        self._registry = None

    def load_entry_points(self) -> None:
        """Import every ``tensornet`` entry point allowed by the environment.

        A plugin that fails to import is reported with a warning and skipped.
        """
        only = _env_names("TN_PLUGINS")
        skip = _env_names("TN_DISABLE_PLUGINS") or set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if (only is not None and ep.name not in only) or ep.name in skip:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            version = ep.dist.version if ep.dist is not None else ""
            try:
                module = ep.load()
            except Exception as exc:  # any import failure must not take the core down
                message = f"{type(exc).__name__}: {exc}"
                self.failed.append(PluginInfo(ep.name, version, error=message))
                warnings.warn(
                    f"tensornet plugin {ep.name!r} ({ep.value}) failed to load and was skipped: "
                    f"{message}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            self.register(module, ep.name, version)

    # -- registry -------------------------------------------------------------

    def registry(self) -> dict[str, dict[str, Entry]]:
        """{kind: {name: Entry}}, built once from the registration hooks."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> dict[str, dict[str, Entry]]:
        table: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            caller = getattr(self.pm.hook, _HOOK_OF_KIND[kind])
            for impl in caller.get_hookimpls():  # registration order
                plugin = self.pm.get_name(impl.plugin) or repr(impl.plugin)
                for obj in impl.function() or ():
                    base = getattr(obj, "__name__", None)
                    if not isinstance(base, str):
                        raise PluginError(
                            f"plugin {plugin!r} returned {obj!r} from {_HOOK_OF_KIND[kind]}; "
                            "expected classes or named functions"
                        )
                    for name in dict.fromkeys((base, base.lower())):
                        if name in table[kind] and table[kind][name].obj is not obj:
                            other = table[kind][name].plugin
                            raise PluginError(
                                f"{kind} name {name!r} is registered by two plugins: "
                                f"{other!r} and {plugin!r}"
                            )
                        table[kind][name] = Entry(obj, kind, plugin)
        return table

    def lookup(self, kind: str, name: str) -> Any:
        """The object registered as ``name`` for ``kind``; a clear error otherwise."""
        table = self.registry()[kind]
        if name in table:
            return table[name].obj
        lowered = name.lower()
        if lowered in table:
            return table[lowered].obj
        for other, entries in self.registry().items():  # not "plugin missing" when it is only the wrong kind
            if name in entries or lowered in entries:
                raise UnknownNameError(f"unknown {kind} {name!r} (that name is a registered {other})")
        raise missing_name_error(kind, name, table)

    def find(self, name: str) -> Any:
        """Look ``name`` up in every kind (``tn.<Name>`` attribute access)."""
        table = self.registry()
        for kind in ("structure", "activation", "optimizer", "loss", "initializer"):
            if name in table[kind]:
                return table[kind][name].obj
        all_names = [n for kind in KINDS for n in table[kind]]
        raise missing_name_error("name", name, all_names, attribute=True)

    def plugin_infos(self) -> list[PluginInfo]:
        """Loaded plugins with what each registered, then the ones that failed."""
        infos: dict[str, PluginInfo] = {}
        for name, _plugin in self.pm.list_name_plugin():
            infos[name] = PluginInfo(name, self.versions.get(name, ""))
        for kind, entries in self.registry().items():
            for name, entry in entries.items():
                if name == entry.obj.__name__:  # list each object once, by its own name
                    info = infos.setdefault(entry.plugin, PluginInfo(entry.plugin, ""))
                    info.registered.setdefault(kind, []).append(name)
        return list(infos.values()) + self.failed


def missing_name_error(
    kind: str, name: str, known: Any, attribute: bool = False
) -> UnknownNameError:
    """An UnknownNameError with a suggestion, or MissingPluginError naming the distribution."""
    for dist, names in FIRST_PARTY.items():
        if name in names or name in (n.lower() for n in names):
            return MissingPluginError(
                f"tn.{name} needs {dist}, which is not installed: pip install {dist}"
            )
    if attribute:
        return UnknownAttributeError(f"tn has no attribute {name!r}{suggest(name, known)}")
    return UnknownNameError(f"unknown {kind} {name!r}{suggest(name, known)}")


_plugins: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, created on first use."""
    global _plugins
    if _plugins is None:
        builtins = importlib.import_module("tn_core.builtins")
        try:
            version = importlib.metadata.version("tn-core")
        except importlib.metadata.PackageNotFoundError:  # running from a source tree
            version = ""
        plugins = Plugins()
        plugins.register(builtins, "core", version)
        plugins.load_entry_points()
        _plugins = plugins
    return _plugins


def lookup(kind: str, name: str) -> Any:
    """Shortcut for ``get_plugins().lookup(kind, name)``."""
    return get_plugins().lookup(kind, name)


def resolve(kind: str, base: type, spec: Any) -> Any:
    """An instance of ``base`` from an instance, a subclass of it, or a name registered for ``kind``."""
    if isinstance(spec, base):
        return spec
    if isinstance(spec, type) and issubclass(spec, base):
        return spec()
    if isinstance(spec, str):
        return lookup(kind, spec)()
    a = f"an {base.__name__}" if base.__name__[0] in "AEIOU" else f"a {base.__name__}"
    raise ConfigError(f"{kind} must be {a}, {a} class or a registered name, got {type(spec).__name__} {spec!r}")
