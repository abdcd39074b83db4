"""Plugin modules made inside a test, and process-wide plugins made of them for that test."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

import tn_core as tn
import tn_core.plugins
from tn_core.plugins import Plugins


def module_with(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A plugin module ``name`` implementing each of ``hooks`` (hook name=implementation)."""
    module = types.ModuleType(name)
    for hook, implementation in hooks.items():
        setattr(module, hook, tn.hookimpl(implementation))
    return module


def use_plugins(monkeypatch: pytest.MonkeyPatch, *modules: types.ModuleType) -> Plugins:
    """The core's built-ins and ``modules`` (each as version 1.0 of distribution tn-<its name>) as the
    process-wide plugins for this test: no installed plugin is loaded."""
    plugins = Plugins()
    plugins.register(tn_core.builtins, "core", "", "tn-core")
    for module in modules:
        plugins.register(module, module.__name__, "1.0", f"tn-{module.__name__}")
    monkeypatch.setattr(tn_core.plugins, "_plugins", plugins)
    return plugins
