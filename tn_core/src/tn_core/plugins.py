"""The plugin manager: loads ``tensornet`` entry points and builds the name registry.

Everything a network refers to by name (layers, activations, optimizers,
losses, initializers) and the fit callbacks (``tn.DataParallel``) come from
the registration hooks of :mod:`tn_core.hookspecs`, the core's own built-ins
included. Names are the class (or function) name and its lower-case form,
and the same for each former name a renamed class declares in
``renamed_from`` (so old model files and ``tn.<OldName>`` keep working one
release; ``tn.<OldName>`` warns). ``alias(cls, name)`` makes a second name
that stays itself: a subclass adding nothing, registered beside ``cls``.

One plugin's fault stays that plugin's: a plugin that fails to import or to
register (a hook raises or returns nonsense) is skipped with a warning, and a
name two plugins register is ambiguous (an error to use) while every other
name works.

Environment:
    TN_PLUGINS          comma-separated entry-point names to load (unset: all)
    TN_DISABLE_PLUGINS  comma-separated entry-point names to skip
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import pluggy

from tn_core import hookspecs
from tn_core.errors import (
    ConfigError,
    MissingPluginError,
    PluginError,
    TensornetError,
    UnknownAttributeError,
    UnknownNameError,
    suggest,
)

ENTRY_POINT_GROUP = "tensornet"
CORE_DISTRIBUTION = "tn-core"
KINDS = ("structure", "activation", "optimizer", "loss", "initializer", "callback")
_HOOK_OF_KIND = {
    "structure": "tn_register_structures",
    "activation": "tn_register_activations",
    "optimizer": "tn_register_optimizers",
    "loss": "tn_register_losses",
    "initializer": "tn_register_initializers",
    "callback": "tn_register_callbacks",
}
_WHERE_NAMES_COME_FROM = (
    "layers and activations come from plugin distributions "
    "(tn-layers-dense, tn-layers-conv, tn-layers-recurrent, or a third-party plugin), "
    "and `tn plugins` lists the loaded ones"
)


@attrs.define
class Entry:
    """One registered object, the plugin that registered it and that plugin's distribution."""

    obj: Any
    kind: str
    plugin: str
    distribution: str
    version: str


@attrs.define
class PluginInfo:
    """What ``tn plugins`` reports for one plugin."""

    name: str
    version: str
    distribution: str = ""
    registered: dict[str, list[str]] = attrs.Factory(dict)
    ambiguous: list[str] = attrs.Factory(list)
    error: str | None = None
    #: why a kernel hook of it failed (the plugin is loaded): {"optimizer kernels" or "array kernels": error}
    kernel_errors: dict[str, str] = attrs.Factory(dict)
    disabled_by: str | None = None

    @property
    def label(self) -> str:
        """``plugin 'dense' from tn-layers-dense 0.1.0``."""
        return plugin_label(self.name, self.distribution, self.version)

    def why_not_loaded(self) -> str:
        """``failed to load: ...`` or ``is disabled by ...`` for a plugin that is not loaded."""
        if self.error is not None:
            return f"failed to load: {self.error}"
        if self.disabled_by == "TN_PLUGINS":
            return "is not listed in TN_PLUGINS"
        return f"is disabled by {self.disabled_by}"


def plugin_label(name: str, distribution: str, version: str) -> str:
    """``plugin 'dense' from tn-layers-dense 0.1.0`` (what is known of it)."""
    source = " ".join(part for part in (distribution, version) if part)
    return f"plugin {name!r} from {source}" if source else f"plugin {name!r}"


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _same_distribution(a: str, b: str) -> bool:
    """Distribution names compare as PyPI does (case, and ``-``, ``_``, ``.`` alike)."""
    return re.sub(r"[-_.]+", "-", a).lower() == re.sub(r"[-_.]+", "-", b).lower()


def _refuse_unknown_hooks(callers: list[Any]) -> None:
    """PluginError for a plugin's implementation of a hook tensornet does not have (a misspelled name would
    otherwise register nothing, silently)."""
    unknown = sorted(caller.name for caller in callers if caller.spec is None)
    if unknown:
        known = [name for name in vars(hookspecs) if name.startswith("tn_")]
        raise PluginError(f"it implements {unknown}, which tensornet has no hook for{suggest(unknown[0], known)}")


def _raised(who: str, exc: Exception) -> PluginError:
    """The PluginError for the plugin code ``who`` raising ``exc`` (an error that is not tensornet's own)."""
    return PluginError(f"{who} raised {_exception_text(exc)}")


def _exception_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _expected_types() -> dict[str, type]:
    """The base class each registration hook must return subclasses of (imported here: they import this module)."""
    from tn_core.activation import Activation
    from tn_core.callbacks import Callback
    from tn_core.losses import Loss
    from tn_core.optimizers import Optimizer
    from tn_core.structure import Structure

    return {"structure": Structure, "activation": Activation, "optimizer": Optimizer, "loss": Loss,
            "callback": Callback}


@functools.cache
def _parameters_of(function: Any) -> tuple[str, ...]:
    return tuple(name for name in inspect.signature(function).parameters if name != "self")


def _parameters(function: Any) -> tuple[str, ...]:
    """The argument names a hook implementation takes (pluggy passes only those)."""
    return _parameters_of(getattr(function, "__func__", function))


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "AEIOU" else f"a {noun}"


def _registrable(kind: str, obj: Any, expected: dict[str, type]) -> bool:
    if kind == "initializer":
        return callable(obj) and isinstance(getattr(obj, "__name__", None), str)
    return isinstance(obj, type) and issubclass(obj, expected[kind])


def former_names(obj: Any) -> tuple[str, ...]:
    """The names ``obj`` declares it had before a rename (its own ``renamed_from``, not a base class's)."""
    return tuple(getattr(obj, "__dict__", {}).get("renamed_from", ()))


def registered_names(obj: Any) -> tuple[str, ...]:
    """The names ``obj`` is registered under: its ``__name__`` and former names, each also in lower case."""
    return tuple(dict.fromkeys(n for name in (obj.__name__, *former_names(obj)) for n in (name, name.lower())))


def alias(cls: type, name: str) -> type:
    """A second name for ``cls``: a subclass adding nothing, whose ``alias_of`` is ``cls``. Register it beside
    ``cls``; objects made by it keep its name (repr, errors, model files), and docs/reference.md lists it as an
    alias of ``cls``."""
    namespace = {"__doc__": f"Another name for {cls.__name__}.", "__module__": cls.__module__,
                 "__qualname__": name, "alias_of": cls}
    return type(name, (cls,), namespace)


class Plugins:
    """A pluggy PluginManager plus the registry built from its registration hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.versions: dict[str, str] = {}
        self.distributions: dict[str, str] = {}
        self.failed: list[PluginInfo] = []
        self.disabled: list[PluginInfo] = []
        self._offered: dict[str, dict[str, list[Any]]] = {}  # plugin -> kind -> objects, in registration order
        self._entry_points: dict[str, tuple[str, str]] = {}  # plugin -> (distribution, entry-point value)
        self._importing: set[str] = set()  # entry points being imported now (a plugin's import may ask for names)
        self._registry: dict[str, dict[str, Entry]] | None = None
        self._ambiguous: dict[str, dict[str, list[Entry]]] = {}
        self._found: dict[tuple[str, str], Any] = {}  # (kind, name) -> what lookup found in this registry
        #: by kernel hook (KERNEL_HOOKS): what the plugins offer, collected on first use, without the clashes
        self._kernels: dict[str, dict[Any, Any]] = {}
        self._kernel_offers: dict[str, dict[str, dict[Any, Any]]] = {}  # hook -> plugin -> its kernels
        self._kernel_errors: dict[str, dict[str, str]] = {}  # hook -> plugin -> why its kernels are not used

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def register(self, plugin: Any, name: str, version: str = "", distribution: str = "") -> None:
        """Register a plugin module or object (clears the registry cache).

        A plugin whose registration hooks raise or return anything but a list
        of the right classes is unregistered again, reported and skipped.
        """
        self.pm.register(plugin, name=name)
        try:
            _refuse_unknown_hooks(self.pm.get_hookcallers(plugin) or [])
            offered = self._registrations(plugin)
        except PluginError as exc:
            self.pm.unregister(plugin)
            self._fail(PluginInfo(name, version, distribution, error=str(exc)))
            return
        self.versions[name] = version
        self.distributions[name] = distribution
        self._offered[name] = offered
        self._registry = None
        self._kernels = {}

    def call(self, hook_name: str, extra: Sequence[Any] = (), **kwargs: Any) -> None:
        """Run training hook ``hook_name``: each registered plugin's implementation (last registered first,
        as pluggy does), then those of the ``extra`` objects (a fit's own callbacks).

        An implementation that raises anything but a tensornet error is named: PluginError
        "tn_before_update of plugin 'x' raised ValueError: ...".
        """
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        if not impls and not extra:
            return
        calls = [(impl.function, f"plugin {self.pm.get_name(impl.plugin)!r}") for impl in reversed(impls)]
        calls += [(getattr(obj, hook_name), f"callback {type(obj).__name__}")
                  for obj in extra if callable(getattr(obj, hook_name, None))]
        for function, who in calls:
            try:
                function(**{name: kwargs[name] for name in _parameters(function)})
            except TensornetError:
                raise
            except Exception as exc:
                raise _raised(f"{hook_name} of {who}", exc) from exc

    def first(self, hook_name: str, **kwargs: Any) -> Any:
        """The answer of ``firstresult`` hook ``hook_name``: the first implementation's (last registered first)
        that is not None, as pluggy gives it; an implementation that raises anything but a tensornet error is
        named, as in :meth:`call`. The implementations are called here directly, without pluggy's
        dispatch (a few microseconds, for a hook asked at every update), unless one of them wraps the others."""
        caller = getattr(self.pm.hook, hook_name)
        impls = caller.get_hookimpls()
        if any(impl.wrapper or impl.hookwrapper for impl in impls):
            try:
                return caller(**kwargs)
            except TensornetError:
                raise
            except Exception as exc:
                raise _raised(f"{hook_name} (a plugin wrapping it)", exc) from exc
        for impl in reversed(impls):
            try:
                answer = impl.function(*[kwargs[name] for name in impl.argnames])
            except TensornetError:
                raise
            except Exception as exc:
                raise _raised(f"{hook_name} of plugin {self.pm.get_name(impl.plugin)!r}", exc) from exc
            if answer is not None:
                return answer
        return None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        for table in (self.versions, self.distributions, self._offered, self._entry_points):
            table.pop(name, None)
        self._registry = None
        self._kernels = {}

    def load_entry_points(self) -> None:
        """Import every ``tensornet`` entry point allowed by the environment.

        A plugin that fails to import or to register, or whose entry-point name
        is taken, is reported with a warning and skipped. Loading again skips
        what was already loaded or reported.
        """
        only = _env_names("TN_PLUGINS")
        skip = _env_names("TN_DISABLE_PLUGINS") or set()
        for ep in _entry_points():
            distribution, version = (ep.dist.name or "", ep.dist.version or "") if ep.dist is not None else ("", "")
            info = PluginInfo(ep.name, version, distribution)
            if (self._entry_points.get(ep.name) == (distribution, ep.value) or ep.name in self._importing
                    or self.not_loaded(ep.name, distribution)):
                continue
            if (only is not None and ep.name not in only) or ep.name in skip:
                info.disabled_by = "TN_DISABLE_PLUGINS" if ep.name in skip else "TN_PLUGINS"
                self.disabled.append(info)
                continue
            if self.pm.has_plugin(ep.name):
                info.error = f"entry point name {ep.name!r} is already taken by {self.label(ep.name)}"
                self._fail(info)
                continue
            self._importing.add(ep.name)
            try:
                module = ep.load()
            except (Exception, SystemExit) as exc:  # any import failure must not take the core down
                info.error = _exception_text(exc)
                self._fail(info)
                continue
            finally:
                self._importing.discard(ep.name)
            if module is None:  # pluggy would take it as blocking the name: the plugin would vanish unreported
                info.error = f"its entry point {ep.value!r} is None"
                self._fail(info)
                continue
            try:
                self.register(module, ep.name, version, distribution)
            except (ValueError, pluggy.PluginValidationError) as exc:  # malformed hooks, module of another plugin
                info.error = _exception_text(exc)
                self._fail(info)
                continue
            if self.pm.has_plugin(ep.name):
                self._entry_points[ep.name] = (distribution, ep.value)

    def not_loaded(self, name: str, distribution: str) -> PluginInfo | None:
        """The report of plugin ``name`` of ``distribution`` if it failed or was disabled."""
        for info in self.failed + self.disabled:
            if info.name == name and _same_distribution(info.distribution, distribution):
                return info
        return None

    def label(self, name: str) -> str:
        """``plugin 'dense' from tn-layers-dense 0.1.0`` for a registered plugin."""
        return plugin_label(name, self.distributions.get(name, ""), self.versions.get(name, ""))

    def _fail(self, info: PluginInfo) -> None:
        self.failed.append(info)
        warnings.warn(f"tensornet {info.label} failed to load and was skipped: {info.error}", RuntimeWarning,
                      stacklevel=3)

    def _registrations(self, plugin: Any) -> dict[str, list[Any]]:
        """{kind: objects} that ``plugin``'s registration hooks return; PluginError saying what is wrong."""
        expected = _expected_types()
        offered: dict[str, list[Any]] = {}
        for kind, hook_name in _HOOK_OF_KIND.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                try:
                    objs = impl.function()
                except (Exception, SystemExit) as exc:
                    raise _raised(hook_name, exc) from exc
                if objs is None:  # pluggy's "no result"
                    continue
                if not isinstance(objs, (list, tuple)):
                    raise PluginError(f"{hook_name} returned {objs!r}, not a list")
                names: dict[str, Any] = {}
                for obj in objs:
                    if not _registrable(kind, obj, expected):
                        what = _a(f"{expected[kind].__name__} subclass") if kind in expected else "a named callable"
                        raise PluginError(f"{hook_name} returned {obj!r}, which is not {what}")
                    for name in registered_names(obj):
                        if names.setdefault(name, obj) is not obj:
                            raise PluginError(f"{hook_name} returned two {kind}s named {name!r}: {names[name]!r} and "
                                              f"{obj!r}")
                if objs:
                    offered[kind] = list(objs)
        return offered

    # -- registry -------------------------------------------------------------

    def registry(self) -> dict[str, dict[str, Entry]]:
        """{kind: {name: Entry}}, built once from the registration hooks; ambiguous names are left out."""
        if self._registry is None:
            self._registry, self._ambiguous = self._build_registry()
            self._found = {}
        return self._registry

    def ambiguous(self) -> dict[str, dict[str, list[Entry]]]:
        """{kind: {name: the Entries of the plugins that each registered a different object as name}}."""
        self.registry()
        return self._ambiguous

    def _build_registry(self) -> tuple[dict[str, dict[str, Entry]], dict[str, dict[str, list[Entry]]]]:
        table: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        clashes: dict[str, dict[str, list[Entry]]] = {kind: {} for kind in KINDS}
        for plugin, offered in self._offered.items():
            for kind, objs in offered.items():
                for obj in objs:
                    entry = Entry(obj, kind, plugin, self.distributions[plugin], self.versions[plugin])
                    for name in registered_names(obj):
                        if name in clashes[kind]:
                            if all(other.obj is not obj for other in clashes[kind][name]):
                                clashes[kind][name].append(entry)
                        elif name in table[kind] and table[kind][name].obj is not obj:
                            clashes[kind][name] = [table[kind].pop(name), entry]
                        else:
                            table[kind].setdefault(name, entry)
        return table, clashes

    def optimizer_kernels(self) -> dict[type, tuple[tuple[str, ...], Any]]:
        """{optimizer class: (state names, kernel)} from the ``tn_optimizer_kernels`` hooks (:meth:`kernels`)."""
        return self.kernels("tn_optimizer_kernels")

    def array_kernels(self) -> dict[str, Any]:
        """{primitive name: function} from the ``tn_array_kernels`` hooks (:meth:`kernels`)."""
        return self.kernels("tn_array_kernels")

    def kernels(self, hook: str) -> dict[Any, Any]:
        """What the plugins' kernel hook ``hook`` (one of KERNEL_HOOKS) offer, collected on first use.

        A hook that raises or returns anything but what it should is skipped with a warning (``tn plugins``
        shows why); a key two plugins give a kernel is left out (the core's own code serves it).
        """
        found = self._kernels.get(hook)  # asked at every optimizer step and batch-1 weight gradient
        if found is None:
            what, check = KERNEL_HOOKS[hook]
            offers, errors = self._kernel_offers[hook], self._kernel_errors[hook] = {}, {}
            for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):  # in registration order
                name = self.pm.get_name(impl.plugin)
                try:
                    offers[name] = check(impl.function())
                except (Exception, SystemExit) as exc:  # a missing or broken compiler must not stop training
                    errors[name] = _exception_text(exc)
                    warnings.warn(f"tensornet {self.label(name)}: its {what} are not used: {errors[name]}",
                                  RuntimeWarning, stacklevel=3)
            keys = [key for offer in offers.values() for key in offer]
            found = self._kernels[hook] = {key: kernel for offer in offers.values() for key, kernel in offer.items()
                                           if keys.count(key) == 1}
        return found

    def lookup(self, kind: str, name: str) -> Any:
        """The object registered as ``name`` for ``kind``; a clear error otherwise."""
        table = self.registry()[kind]  # first: a registry rebuilt after a plugin change forgets what was found
        found = self._found.get((kind, name))  # a System asks for its optimizer by name at every learn
        if found is not None:
            return found
        for candidate in dict.fromkeys((name, name.lower())):
            self.refuse_ambiguous(kind, candidate)
            if candidate in table:
                found = self._found[kind, name] = table[candidate].obj
                return found
        for other, entries in self.registry().items():  # not "plugin missing" when it is only the wrong kind
            if name in entries or name.lower() in entries:
                raise UnknownNameError(f"unknown {kind} {name!r} (that name is a registered {other})")
        raise self._unknown_name_error(f"unknown {kind} {name!r}", name, table, UnknownNameError)

    def find(self, name: str) -> Any:
        """Look ``name`` up in every kind (``tn.<Name>`` attribute access). Asked while a plugin is imported
        (``class MyDense(tn.Dense)`` in it), the entry points not loaded yet are loaded first where no loaded
        plugin registers ``name``: what a plugin's import may use does not depend on the order of loading."""
        if self._importing and not any(name in entries for entries in self.registry().values()):
            self.load_entry_points()
        table = self.registry()
        for kind in KINDS:
            self.refuse_ambiguous(kind, name)
            if name in table[kind]:
                return table[kind][name].obj
        all_names = [n for kind in KINDS for n in table[kind]]
        raise self._unknown_name_error(f"tn has no attribute {name!r}", name, all_names, UnknownAttributeError)

    def refuse_ambiguous(self, kind: str, name: str) -> None:
        """PluginError naming the plugins when more than one registers a different object as ``name``."""
        entries = self.ambiguous()[kind].get(name)
        if entries:
            registrants = " and ".join(plugin_label(e.plugin, e.distribution, e.version) for e in entries)
            raise PluginError(f"{kind} name {name!r} is ambiguous: it is registered by {registrants}; "
                              "uninstall one of them or skip it with TN_DISABLE_PLUGINS")

    def _unknown_name_error(
        self, subject: str, name: str, known: Iterable[str], error: type[UnknownNameError]
    ) -> UnknownNameError:
        """The suggestion, then the plugins that did not load and why (or where names come from)."""
        not_loaded = [f"{info.label} {info.why_not_loaded()}" for info in self.failed + self.disabled]
        hint = _WHERE_NAMES_COME_FROM
        if not_loaded:
            hint = f"it may come from a plugin that did not load: {'; '.join(not_loaded)}"
        return error(f"{subject}{suggest(name, known)}: no loaded plugin registers it; {hint}")

    def plugin_infos(self) -> list[PluginInfo]:
        """Loaded plugins with what each registered and its ambiguous names, then the ones that failed."""
        infos = {
            name: PluginInfo(name, self.versions.get(name, ""), self.distributions.get(name, ""))
            for name, _plugin in self.pm.list_name_plugin()
        }
        for name, offered in self._offered.items():
            for kind, objs in offered.items():
                infos[name].registered[kind] = list(dict.fromkeys(obj.__name__ for obj in objs))
        for kind, names in self.ambiguous().items():
            for name, entries in names.items():
                for entry in entries:
                    others = " and ".join(plugin_label(e.plugin, e.distribution, e.version)
                                          for e in entries if e is not entry)
                    infos[entry.plugin].ambiguous.append(f"{kind} {name!r}, also registered by {others}")
        for hook, (what, _) in KERNEL_HOOKS.items():
            kernels, offers = self.kernels(hook), self._kernel_offers[hook]
            kind = what[:-1]  # "optimizer kernel"
            for name, offer in offers.items():
                infos[name].registered[kind] = [_kernel_key(key) for key in offer]
                for key in offer:
                    if key not in kernels:
                        others = " and ".join(self.label(other) for other, o in offers.items()
                                              if key in o and other != name)
                        infos[name].ambiguous.append(f"{kind} for {_kernel_key(key)} (not used), also "
                                                     f"registered by {others}")
            for name, error in self._kernel_errors[hook].items():
                infos[name].kernel_errors[what] = error
        return list(infos.values()) + self.failed


def _kernel_key(key: Any) -> str:
    """How ``tn plugins`` names what a kernel serves: an optimizer class by its name, a primitive as itself."""
    return key.__name__ if isinstance(key, type) else str(key)


def _checked_kernels(kernels: Any) -> dict[type, tuple[tuple[str, ...], Any]]:
    """What a ``tn_optimizer_kernels`` hook returned, if it is ``{Optimizer subclass: (state names, kernel)}``."""
    optimizer = _expected_types()["optimizer"]
    if kernels is None:  # pluggy's "no result"
        return {}
    if not isinstance(kernels, dict):
        raise PluginError(f"tn_optimizer_kernels returned {kernels!r}, not a dict")
    for cls, value in kernels.items():
        if not (isinstance(cls, type) and issubclass(cls, optimizer)):
            raise PluginError(f"tn_optimizer_kernels returned the key {cls!r}, which is not an Optimizer subclass")
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], tuple)
                and all(isinstance(name, str) for name in value[0]) and callable(value[1])):
            raise PluginError(f"tn_optimizer_kernels returned {value!r} for {cls.__name__}, "
                              "not (state names, kernel)")
    return kernels


def _checked_array_kernels(kernels: Any) -> dict[str, Any]:
    """What a ``tn_array_kernels`` hook returned, if it is ``{primitive name: function}``."""
    if kernels is None:  # pluggy's "no result"
        return {}
    if not isinstance(kernels, dict):
        raise PluginError(f"tn_array_kernels returned {kernels!r}, not a dict")
    for name, function in kernels.items():
        if not (isinstance(name, str) and callable(function)):
            raise PluginError(f"tn_array_kernels returned {name!r}: {function!r}, not a primitive name and a function")
    return kernels


#: the kernel hooks: hook name -> (what its kernels are called, the check of its answer)
KERNEL_HOOKS = {"tn_optimizer_kernels": ("optimizer kernels", _checked_kernels),
                "tn_array_kernels": ("array kernels", _checked_array_kernels)}


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The ``tensornet`` entry points of the installed distributions. Where one distribution's entry points cannot
    be read (a malformed entry_points.txt), the others are read one distribution at a time and it is skipped with a
    warning naming it."""
    try:
        return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception:
        pass
    found, seen = [], set()
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata.get("Name") or "").lower()
        if name and name in seen:  # as importlib.metadata does: the first on the path of a name counts
            continue
        seen.add(name)
        try:
            found += [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        except Exception as exc:
            warnings.warn(f"tensornet skipped the entry points of the distribution {name or '(no name)'}: they "
                          f"cannot be read ({_exception_text(exc)})", RuntimeWarning, stacklevel=4)
    return found


_plugins: Plugins | None = None
_loading: Plugins | None = None  # the process-wide manager while it loads the entry points


def get_plugins() -> Plugins:
    """The process-wide plugin manager, created on first use; while it loads the plugins, a plugin's import that
    asks for it gets it (not a second manager loading every plugin again)."""
    global _plugins, _loading
    if _plugins is None:
        if _loading is not None:
            return _loading
        builtins = importlib.import_module("tn_core.builtins")
        try:
            version = importlib.metadata.version(CORE_DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:  # running from a source tree
            version = ""
        plugins = _loading = Plugins()
        try:
            with warnings.catch_warnings(record=True) as raised:  # given once loading is done: see below
                warnings.simplefilter("always")
                plugins.register(builtins, "core", version, CORE_DISTRIBUTION)
                plugins.load_entry_points()
        finally:
            _loading = None
        _plugins = plugins
        given = {(str(w.message), w.category, w.filename, w.lineno): w for w in raised}  # each once
        for warning in given.values():  # after the manager is in place: under -W error, one raises, once
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return _plugins


def missing_plugin_error(subject: str, distribution: str, version: str, plugin: str = "") -> MissingPluginError:
    """``<subject> needs <distribution> (<version>)``, and why it is not there: not installed, disabled or failed;
    or, for a ``plugin`` registered in the saving process rather than installed, that it must be registered again."""
    if not distribution:
        return MissingPluginError(f"{subject} needs plugin {plugin!r}, which the process that saved it registered "
                                  "itself (from no installed distribution): register it again before loading")
    needs = f"{subject} needs {distribution} ({version})" if version else f"{subject} needs {distribution}"
    try:
        installed = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return MissingPluginError(f"{needs}, which is not installed: pip install {distribution}")
    plugins = get_plugins()
    ours = [ep for ep in installed.entry_points if ep.group == ENTRY_POINT_GROUP]
    if not ours:
        return MissingPluginError(f"{needs}, but the installed {distribution} declares no tensornet plugin")
    reasons = []
    for ep in ours:
        if plugins.pm.has_plugin(ep.name) and _same_distribution(plugins.distributions[ep.name], distribution):
            continue
        info = plugins.not_loaded(ep.name, distribution)
        reasons.append(f"its plugin {ep.name!r} {info.why_not_loaded() if info else 'is not loaded'}")
    if reasons:
        return MissingPluginError(f"{needs}, which is installed but {'; '.join(reasons)}")
    return MissingPluginError(f"{needs}, but the installed {distribution} {installed.version} does not provide it")


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
    a = _a(base.__name__)
    raise ConfigError(f"{kind} must be {a}, {a} class or a registered name, got {type(spec).__name__} {spec!r}")
