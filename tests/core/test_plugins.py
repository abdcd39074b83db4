"""The plugin manager: registry, names, duplicates, failing plugins, the environment, `tn plugins`."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import types

import attrs
import numpy as np
import pytest

import tn_core as tn
from tn_core import cli
from tn_core.plugins import Plugins, get_plugins


def core_only() -> Plugins:
    plugins = Plugins()
    plugins.register(importlib.import_module("tn_core.builtins"), "core")
    return plugins


def plugin_module(name: str, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, value in hooks.items():
        setattr(module, hook, tn.hookimpl(lambda value=value: value))  # type: ignore[misc]
    return module


@attrs.define
class Scale(tn.Structure):
    """y = factor * x (the DESIGN's example plugin layer)."""

    factor: float = 2.0

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [self.factor * inputs[0]], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [self.factor * grads[0]], {}


def test_names_resolve_by_class_name_and_lower_case() -> None:
    plugins = get_plugins()
    assert plugins.lookup("structure", "Dense") is plugins.lookup("structure", "dense")
    assert plugins.lookup("optimizer", "ADAM") is tn.Adam
    assert tn.Input is plugins.lookup("structure", "input")


@attrs.define
class Cube(tn.Activation):
    """The design contract's example activation."""

    def forward(self, z):  # type: ignore[no-untyped-def]
        return z**3

    def derivative(self, z, a):  # type: ignore[no-untyped-def]
        return 3 * z**2


def test_the_design_contracts_example_plugin_works_beside_the_first_party_ones() -> None:
    plugins = get_plugins()
    module = plugin_module("scale_plugin", tn_register_structures=[Scale], tn_register_activations=[Cube])
    plugins.register(module, "scale-test")
    try:
        assert tn.Scale is Scale and tn.Cube is Cube
        assert plugins.lookup("structure", "scale") is Scale
        x = tn.Input((2,))()
        y = tn.Dense(2, activation="cube")(tn.Scale(3.0)(x))
        s = tn.System([x], [y], dtype=np.float64)
        np.testing.assert_allclose(s.guess([np.ones(2)])[0], (3.0 * y.params["weights"].sum(1)) ** 3)
    finally:
        plugins.unregister("scale-test")
    with pytest.raises(AttributeError):
        tn.Scale  # noqa: B018


def test_the_same_name_from_two_plugins_is_an_error_naming_both() -> None:
    plugins = core_only()

    @attrs.define
    class Flatten(tn.Structure):
        pass

    plugins.register(plugin_module("impostor", tn_register_structures=[Flatten]), "impostor")
    with pytest.raises(tn.PluginError, match="'Flatten' is registered by two plugins: 'core' and 'impostor'"):
        plugins.registry()


def test_hook_returning_nonsense_is_reported() -> None:
    plugins = core_only()
    plugins.register(plugin_module("bad", tn_register_activations=[42]), "bad")
    with pytest.raises(tn.PluginError, match="plugin 'bad' returned 42 from tn_register_activations"):
        plugins.registry()


def test_unknown_and_missing_names() -> None:
    plugins = core_only()
    with pytest.raises(tn.MissingPluginError, match="tn.Conv needs tn-layers-conv.*pip install tn-layers-conv"):
        plugins.lookup("structure", "Conv")
    with pytest.raises(tn.MissingPluginError, match="tn.lstm needs tn-layers-recurrent"):
        plugins.lookup("structure", "lstm")
    with pytest.raises(tn.MissingPluginError, match="tn-layers-dense"):
        plugins.find("Tanh")
    with pytest.raises(tn.UnknownNameError, match="unknown structure 'Flaten' \\(did you mean 'Flatten'\\?\\)"):
        plugins.lookup("structure", "Flaten")
    with pytest.raises(AttributeError, match="tn has no attribute 'Concatenat'.*did you mean 'Concatenate'"):
        tn.Concatenat  # noqa: B018


def test_a_name_of_another_kind_is_not_reported_as_a_missing_plugin() -> None:
    plugins = get_plugins()
    with pytest.raises(tn.UnknownNameError, match=r"unknown optimizer 'Dense' \(that name is a registered structure\)"):
        plugins.lookup("optimizer", "Dense")
    with pytest.raises(tn.UnknownNameError, match=r"unknown loss 'adam' \(that name is a registered optim") as info:
        plugins.lookup("loss", "adam")
    assert not isinstance(info.value, tn.MissingPluginError)


class FakeEntryPoint:
    def __init__(self, name: str, load: object) -> None:
        self.name, self.value, self.dist = name, f"fake_{name}.plugin", None
        self._load = load

    def load(self) -> object:
        if isinstance(self._load, Exception):
            raise self._load
        return self._load


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    good = plugin_module("good", tn_register_structures=[Scale])
    points = [FakeEntryPoint("broken", ImportError("no module named 'missing_dep'")), FakeEntryPoint("good", good)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points)
    plugins = core_only()
    with pytest.warns(RuntimeWarning, match="plugin 'broken'.*failed to load.*missing_dep"):
        plugins.load_entry_points()
    assert plugins.lookup("structure", "Scale") is Scale
    infos = {info.name: info for info in plugins.plugin_infos()}
    assert infos["broken"].error == "ImportError: no module named 'missing_dep'"
    assert infos["good"].registered == {"structure": ["Scale"]}


@pytest.mark.parametrize(
    "env, loaded",
    [({"TN_PLUGINS": "good"}, {"good"}), ({"TN_DISABLE_PLUGINS": "good"}, {"other"}), ({"TN_PLUGINS": ""}, set())],
)
def test_environment_restricts_plugins(monkeypatch: pytest.MonkeyPatch, env: dict, loaded: set) -> None:
    points = [FakeEntryPoint("good", plugin_module("good")), FakeEntryPoint("other", plugin_module("other"))]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points)
    for key in ("TN_PLUGINS", "TN_DISABLE_PLUGINS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugins = core_only()
    plugins.load_entry_points()
    assert {name for name, _ in plugins.pm.list_name_plugin()} - {"core"} == loaded


def test_tn_plugins_lists_every_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("core", "dense", "conv", "recurrent"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), out
    assert "structures: " in out and "Dense" in out and "optimizers: Adam, AdamW" in out


def test_tn_plugins_command_honours_the_environment() -> None:
    env = {**os.environ, "TN_PLUGINS": "dense"}
    code = "import sys; from tn_core.cli import main; sys.exit(main(['plugins']))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    names = [line.split()[0] for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert names == ["core", "dense"]
