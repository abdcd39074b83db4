"""The plugin manager: registry, names, clashes, failing plugins, the environment, `tn plugins`."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import types
import warnings
from collections.abc import Callable

import attrs
import numpy as np
import pytest

import tn_core as tn
import tn_core.plugins
from tests.core import layers
from tn_core import cli
from tn_core.plugins import Plugins, get_plugins, missing_plugin_error

#: how the plugins built here see tests/core's test plugin: as if installed from this distribution
LAYERS = "plugin 'layers' from tn-test-layers 1.0"


def core_only() -> Plugins:
    plugins = Plugins()
    plugins.register(importlib.import_module("tn_core.builtins"), "core", "", "tn-core")
    return plugins


def core_and_layers() -> Plugins:
    plugins = core_only()
    plugins.register(layers, "layers", "1.0", "tn-test-layers")
    return plugins


def installed_dense() -> tuple[object, str]:
    """tn-layers-dense's plugin module and version (for the tests marked ``plugins``)."""
    from tn_layers_dense import plugin

    return plugin, importlib.metadata.version("tn-layers-dense")


def plugin_module(name: str, **hooks: object) -> types.ModuleType:
    """A plugin module whose hooks return the given values (or are the given functions)."""
    module = types.ModuleType(name)
    for hook, value in hooks.items():
        function = value if isinstance(value, types.FunctionType) else (lambda value=value: value)
        setattr(module, hook, tn.hookimpl(function))
    return module


def raising(exc: BaseException) -> types.FunctionType:
    def hook() -> None:
        raise exc

    return hook  # type: ignore[return-value]


def tn_plugins_output(plugins: Plugins, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """What `tn plugins` prints with ``plugins`` as the process-wide manager."""
    monkeypatch.setattr(tn_core.plugins, "_plugins", plugins)
    assert cli.main(["plugins"]) == 0
    return capsys.readouterr().out


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


@attrs.define
class Cube(tn.Activation):
    """The design contract's example activation."""

    def forward(self, z):  # type: ignore[no-untyped-def]
        return z**3

    def derivative(self, z, a):  # type: ignore[no-untyped-def]
        return 3 * z**2


def test_names_resolve_by_class_name_and_lower_case() -> None:
    plugins = get_plugins()
    assert plugins.lookup("structure", "Affine") is plugins.lookup("structure", "affine")
    assert plugins.lookup("optimizer", "ADAM") is tn.Adam
    assert tn.Input is plugins.lookup("structure", "input")


def test_entries_name_the_plugin_and_its_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    flatten = get_plugins().registry()["structure"]["Flatten"]
    assert (flatten.plugin, flatten.distribution, flatten.version) == (
        "core", "tn-core", importlib.metadata.version("tn-core"))
    with_entry_points(monkeypatch, [FakeEntryPoint("layers", layers, FakeDist("tn-test-layers", "1.0"))], {})
    plugins = core_only()
    plugins.load_entry_points()
    affine = plugins.registry()["structure"]["affine"]
    assert (affine.obj, affine.plugin, affine.distribution, affine.version) == (
        layers.Affine, "layers", "tn-test-layers", "1.0")


def test_the_design_contracts_example_plugin_works_beside_the_other_plugins() -> None:
    plugins = get_plugins()
    module = plugin_module("scale_plugin", tn_register_structures=[Scale], tn_register_activations=[Cube])
    plugins.register(module, "scale-test")
    try:
        assert tn.Scale is Scale and tn.Cube is Cube
        assert plugins.lookup("structure", "scale") is Scale
        x = tn.Input((2,))()
        y = layers.Affine(2, activation="cube")(tn.Scale(3.0)(x))
        s = tn.System([x], [y], dtype=np.float64)
        np.testing.assert_allclose(s.guess([np.ones(2)])[0], (3.0 * y.params["weights"].sum(1)) ** 3)
    finally:
        plugins.unregister("scale-test")
    with pytest.raises(AttributeError):
        tn.Scale  # noqa: B018


class Countdown(tn.Callback):
    """A plugin's fit callback: stops fit after ``epochs`` epochs."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.system.stop_training = epoch + 1 >= self.epochs


def test_a_plugins_callbacks_are_reachable_as_tn_names_and_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = core_and_layers()
    plugins.register(plugin_module("countdown", tn_register_callbacks=[Countdown]), "countdown", "1.0", "tn-countdown")
    monkeypatch.setattr(tn_core.plugins, "_plugins", plugins)
    assert tn.Countdown is Countdown and plugins.lookup("callback", "countdown") is Countdown
    assert plugins.lookup("callback", "EarlyStopping") is tn.EarlyStopping  # the core's register the same way
    x = tn.Input((2,))()
    s = tn.System([x], [layers.Affine(1)(x)])
    history = s.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=5, callbacks=[tn.Countdown(2)], verbose=0)
    assert len(history["loss"]) == 2
    assert "countdown 1.0\n  callbacks: Countdown\n" in tn_plugins_output(plugins, monkeypatch, capsys)


# -- a plugin whose registration fails is skipped, the rest works ---------------------


@pytest.mark.parametrize(
    "hooks, reason",
    [
        ({"tn_register_losses": raising(ValueError("boom"))}, "tn_register_losses raised ValueError: boom"),
        ({"tn_register_losses": raising(SystemExit(3))}, "tn_register_losses raised SystemExit: 3"),
        ({"tn_register_optimizers": raising(SystemExit())}, "tn_register_optimizers raised SystemExit"),
        ({"tn_register_losses": Scale}, f"tn_register_losses returned {Scale!r}, not a list"),
        ({"tn_register_losses": {"Scale": Scale}}, f"tn_register_losses returned {{'Scale': {Scale!r}}}, not a list"),
        ({"tn_register_activations": [Cube, 42]}, "tn_register_activations returned 42, which is not an Activation "
                                                  "subclass"),
        ({"tn_register_optimizers": [Cube]}, f"tn_register_optimizers returned {Cube!r}, which is not an Optimizer "
                                             "subclass"),
        ({"tn_register_losses": [tn.Adam]}, f"tn_register_losses returned {tn.Adam!r}, which is not a Loss subclass"),
        ({"tn_register_initializers": ["he"]}, "tn_register_initializers returned 'he', which is not a named callable"),
        ({"tn_register_callbacks": [Scale]}, f"tn_register_callbacks returned {Scale!r}, which is not a Callback "
                                             "subclass"),
    ],
    ids=["raises", "sys.exit", "sys.exit()", "bare class", "dict", "42", "activation as optimizer",
         "optimizer as loss", "string initializer", "layer as callback"],
)
def test_a_plugin_whose_registration_fails_is_reported_and_nothing_of_it_is_registered(
    hooks: dict, reason: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = core_and_layers()
    bad = plugin_module("bad", tn_register_structures=[Scale], **{"tn_register_activations": [Cube], **hooks})
    warning = f"tensornet plugin 'bad' from tn-bad 1.0 failed to load and was skipped: {reason}"
    with pytest.warns(RuntimeWarning, match=f"^{re.escape(warning)}$"):
        plugins.register(bad, "bad", "1.0", "tn-bad")
    assert not plugins.pm.has_plugin("bad")
    for kind, name in [("structure", "Scale"), ("activation", "cube")]:
        with pytest.raises(tn.UnknownNameError) as info:
            plugins.lookup(kind, name)
        assert str(info.value).endswith(f"did not load: plugin 'bad' from tn-bad 1.0 failed to load: {reason}")
    assert plugins.lookup("structure", "Affine") is layers.Affine
    assert plugins.lookup("activation", "hyperbolictangent") is layers.HyperbolicTangent
    assert plugins.lookup("loss", "ce") is tn.BinaryCE and plugins.lookup("optimizer", "adam") is tn.Adam
    out = tn_plugins_output(plugins, monkeypatch, capsys)
    assert [line.split()[0] for line in out.splitlines() if not line.startswith(" ")] == ["core", "layers", "bad"]
    assert out.endswith(f"\nbad 1.0: FAILED to load: {reason}\n  distribution: tn-bad\n")


def test_a_keyboard_interrupt_in_a_hook_is_not_swallowed() -> None:
    plugins = core_only()
    with pytest.raises(KeyboardInterrupt):
        plugins.register(plugin_module("stop", tn_register_structures=raising(KeyboardInterrupt())), "stop")


# -- two plugins registering one name: that name is ambiguous, every other works ------


@attrs.define
class HyperbolicTangent(tn.Activation):
    """A rival's tanh, clashing with the test plugin's."""

    def forward(self, z):  # type: ignore[no-untyped-def]
        return np.tanh(z)

    def derivative(self, z, a):  # type: ignore[no-untyped-def]
        return 1 - a**2


def test_a_name_two_plugins_register_is_ambiguous_and_every_other_name_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = core_and_layers()
    plugins.register(plugin_module("rival", tn_register_activations=[HyperbolicTangent, Cube]), "rival", "2.0",
                     "tn-rival")
    both = f"{LAYERS} and plugin 'rival' from tn-rival 2.0"
    for name, ambiguous in [("HyperbolicTangent", "HyperbolicTangent"), ("hyperbolictangent", "hyperbolictangent"),
                            ("HYPERBOLICTANGENT", "hyperbolictangent")]:
        with pytest.raises(tn.PluginError, match=f"activation name '{ambiguous}' is ambiguous: .* by {both}"):
            plugins.lookup("activation", name)
    with pytest.raises(tn.PluginError, match=f"activation name 'HyperbolicTangent' is ambiguous: it is registered "
                                             f"by {both}"):
        plugins.find("HyperbolicTangent")
    assert plugins.lookup("activation", "cube") is Cube and plugins.find("Cube") is Cube
    assert plugins.lookup("activation", "Logistic") is layers.Logistic and plugins.find("Affine") is layers.Affine
    assert "HyperbolicTangent" not in plugins.registry()["activation"]

    out = tn_plugins_output(plugins, monkeypatch, capsys)  # now the process-wide manager
    with pytest.raises(tn.PluginError, match="'HyperbolicTangent' is ambiguous"):
        tn.HyperbolicTangent  # noqa: B018
    assert "  ambiguous: activation 'HyperbolicTangent', also registered by plugin 'rival' from tn-rival 2.0\n" in out
    assert f"  ambiguous: activation 'hyperbolictangent', also registered by {LAYERS}\n" in out
    assert "rival 2.0\n  activations: Cube, HyperbolicTangent\n" in out


def test_a_name_found_before_a_plugin_change_is_looked_up_again_after_it() -> None:
    """lookup remembers what it found only while the registry stays the same."""
    plugins = core_and_layers()
    plugins.register(plugin_module("one", tn_register_activations=[Cube]), "one", "1.0", "tn-one")
    assert plugins.lookup("activation", "cube") is Cube
    rival = attrs.define(type("Cube", (tn.Activation,), {"forward": Cube.forward, "derivative": Cube.derivative}))
    plugins.register(plugin_module("two", tn_register_activations=[rival]), "two", "1.0", "tn-two")
    with pytest.raises(tn.PluginError, match="activation name 'cube' is ambiguous"):
        plugins.lookup("activation", "cube")
    plugins.unregister("one")
    assert plugins.lookup("activation", "cube") is rival


def test_the_core_name_clashes_too() -> None:
    plugins = core_only()

    @attrs.define
    class Flatten(tn.Structure):
        pass

    plugins.register(plugin_module("impostor", tn_register_structures=[Flatten, Scale]), "impostor")
    with pytest.raises(tn.PluginError, match="'Flatten' is ambiguous: it is registered by plugin 'core' from tn-core "
                                             "and plugin 'impostor'; uninstall one of them or skip it with "
                                             "TN_DISABLE_PLUGINS"):
        plugins.lookup("structure", "Flatten")
    assert plugins.lookup("structure", "Scale") is Scale and plugins.lookup("structure", "Reshape") is tn.Reshape


def test_a_class_and_another_plugins_lower_case_name_clash_on_that_name_only() -> None:
    plugins = core_only()

    class Thing(tn.Structure):
        pass

    class thing(tn.Structure):
        pass

    plugins.register(plugin_module("upper", tn_register_structures=[Thing]), "upper")
    plugins.register(plugin_module("lower", tn_register_structures=[thing]), "lower")
    with pytest.raises(tn.PluginError, match="structure name 'thing' is ambiguous: .* 'upper' and plugin 'lower'"):
        plugins.lookup("structure", "thing")
    assert plugins.lookup("structure", "Thing") is Thing


def test_one_object_registered_by_two_plugins_is_not_a_clash() -> None:
    plugins = core_only()
    plugins.register(plugin_module("first", tn_register_structures=[Scale]), "first", "1", "tn-first")
    plugins.register(plugin_module("again", tn_register_structures=[Scale]), "again")
    entry = plugins.registry()["structure"]["scale"]
    assert (entry.obj, entry.plugin, entry.distribution) == (Scale, "first", "tn-first")
    assert plugins.ambiguous()["structure"] == {}


# -- unknown names and missing plugins ------------------------------------------------


def test_an_unknown_name_says_where_names_come_from() -> None:
    plugins = core_only()
    generic = ("no loaded plugin registers it; layers and activations come from plugin distributions "
               r"\(tn-layers-dense, tn-layers-conv, tn-layers-recurrent, or a third-party plugin\), "
               "and `tn plugins` lists the loaded ones")
    with pytest.raises(tn.UnknownNameError, match=f"^unknown structure 'Conv': {generic}$") as info:
        plugins.lookup("structure", "Conv")
    assert not isinstance(info.value, (tn.MissingPluginError, AttributeError))
    with pytest.raises(tn.UnknownNameError, match=r"^unknown structure 'Flaten' \(did you mean 'Flatten'\?\): no lo"):
        plugins.lookup("structure", "Flaten")
    with pytest.raises(AttributeError, match=f"^tn has no attribute 'Tanh': {generic}$"):
        plugins.find("Tanh")
    with pytest.raises(AttributeError, match="tn has no attribute 'Concatenat'.*did you mean 'Concatenate'"):
        tn.Concatenat  # noqa: B018


def test_hasattr_is_false_for_a_name_no_plugin_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tn_core.plugins, "_plugins", core_only())
    assert not hasattr(tn, "Dense") and hasattr(tn, "Flatten")


def test_an_unknown_name_names_the_plugins_that_did_not_load(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [FakeEntryPoint("conv", ImportError("no libfoo"), FakeDist("tn-layers-conv", "0.1.0")),
              FakeEntryPoint("recurrent", plugin_module("recurrent"), FakeDist("tn-layers-recurrent", "0.1.0"))]
    with_entry_points(monkeypatch, points, {"TN_DISABLE_PLUGINS": "recurrent"})
    plugins = core_only()
    with pytest.warns(RuntimeWarning, match="plugin 'conv' from tn-layers-conv 0.1.0 failed to load"):
        plugins.load_entry_points()
    with pytest.raises(tn.UnknownNameError, match=(
        "^unknown structure 'lstm': no loaded plugin registers it; it may come from a plugin that did not load: "
        "plugin 'conv' from tn-layers-conv 0.1.0 failed to load: ImportError: no libfoo; "
        "plugin 'recurrent' from tn-layers-recurrent 0.1.0 is disabled by TN_DISABLE_PLUGINS$")):
        plugins.lookup("structure", "lstm")


def test_a_name_of_another_kind_is_not_reported_as_a_missing_plugin() -> None:
    plugins = get_plugins()
    with pytest.raises(tn.UnknownNameError, match=r"unknown optimizer 'Affine' \(that name is a registered structur"):
        plugins.lookup("optimizer", "Affine")
    with pytest.raises(tn.UnknownNameError, match=r"unknown loss 'adam' \(that name is a registered optim") as info:
        plugins.lookup("loss", "adam")
    assert not isinstance(info.value, tn.MissingPluginError)


def test_missing_plugin_error_for_a_distribution_that_is_not_installed() -> None:
    error = missing_plugin_error("layer 'Conv'", "tn-layers-nowhere", "1.2.0")
    assert isinstance(error, tn.MissingPluginError) and isinstance(error, AttributeError)
    assert str(error) == (
        "layer 'Conv' needs tn-layers-nowhere (1.2.0), which is not installed: pip install tn-layers-nowhere")
    assert str(missing_plugin_error("tn.Conv", "tn-layers-nowhere", "")) == (
        "tn.Conv needs tn-layers-nowhere, which is not installed: pip install tn-layers-nowhere")


def with_entry_points(monkeypatch: pytest.MonkeyPatch, points: list, env: dict) -> None:
    """Make ``points`` the installed tensornet entry points and ``env`` the plugin environment variables."""
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points)
    for key in ("TN_PLUGINS", "TN_DISABLE_PLUGINS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.plugins  # how the core describes the installed tn-layers-dense
@pytest.mark.parametrize(
    "env, load, why",
    [
        ({"TN_DISABLE_PLUGINS": "dense"}, None, "is disabled by TN_DISABLE_PLUGINS"),
        ({"TN_PLUGINS": "conv"}, None, "is not listed in TN_PLUGINS"),
        ({}, ImportError("needs libfoo"), "failed to load: ImportError: needs libfoo"),
        ({}, plugin_module("dense", tn_register_structures=raising(SystemExit(2))),
         "failed to load: tn_register_structures raised SystemExit: 2"),
    ],
    ids=["disabled", "not listed", "import fails", "registration fails"],
)
def test_missing_plugin_error_for_an_installed_distribution_whose_plugin_did_not_load(
    env: dict, load: object, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dense_plugin, version = installed_dense()
    points = [FakeEntryPoint("dense", load or dense_plugin, FakeDist("tn-layers-dense", version))]
    with_entry_points(monkeypatch, points, env)
    plugins = core_only()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        plugins.load_entry_points()
    monkeypatch.setattr(tn_core.plugins, "_plugins", plugins)
    assert str(missing_plugin_error("layer 'Dense'", "tn-layers-dense", "0.1.0")) == (
        f"layer 'Dense' needs tn-layers-dense (0.1.0), which is installed but its plugin 'dense' {why}")


@pytest.mark.plugins  # how the core describes the installed tn-layers-dense
def test_missing_plugin_error_for_an_installed_plugin_that_is_not_loaded_or_lacks_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tn_core.plugins, "_plugins", core_only())
    assert str(missing_plugin_error("tn.Dense", "tn-layers-dense", "")) == (
        "tn.Dense needs tn-layers-dense, which is installed but its plugin 'dense' is not loaded")
    dense_plugin, version = installed_dense()
    with_dense = core_only()
    with_dense.register(dense_plugin, "dense", version, "tn-layers-dense")
    monkeypatch.setattr(tn_core.plugins, "_plugins", with_dense)
    assert str(missing_plugin_error("layer 'Dense2'", "tn-layers-dense", "9.0")) == (
        f"layer 'Dense2' needs tn-layers-dense (9.0), but the installed tn-layers-dense {version} "
        "does not provide it")
    assert str(missing_plugin_error("layer 'X'", "numpy", "")) == (
        "layer 'X' needs numpy, but the installed numpy declares no tensornet plugin")


# -- entry points ----------------------------------------------------------------------


@attrs.define
class FakeDist:
    name: str
    version: str


class FakeEntryPoint:
    def __init__(self, name: str, load: object, dist: FakeDist | None = None) -> None:
        self.name, self.value, self.group, self.dist = name, f"fake_{name}.plugin", "tensornet", dist
        self._load = load

    def load(self) -> object:
        if isinstance(self._load, BaseException):
            raise self._load
        return self._load


@pytest.mark.parametrize(
    "error, message",
    [(ImportError("no module named 'missing_dep'"), "ImportError: no module named 'missing_dep'"),
     (SystemExit("cannot run here"), "SystemExit: cannot run here")],
)
def test_a_plugin_that_fails_to_import_is_reported_and_skipped(
    error: BaseException, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = plugin_module("good", tn_register_structures=[Scale])
    points = [FakeEntryPoint("broken", error, FakeDist("tn-broken", "0.3")), FakeEntryPoint("good", good)]
    with_entry_points(monkeypatch, points, {})
    plugins = core_only()
    with pytest.warns(RuntimeWarning, match=f"plugin 'broken' from tn-broken 0.3 failed to load.*{message}"):
        plugins.load_entry_points()
    assert plugins.lookup("structure", "Scale") is Scale
    infos = {info.name: info for info in plugins.plugin_infos()}
    assert infos["broken"].error == message and infos["broken"].distribution == "tn-broken"
    assert infos["good"].registered == {"structure": ["Scale"]}


def evil_module() -> types.ModuleType:
    @attrs.define
    class Evil(tn.Structure):
        pass

    return plugin_module("evil", tn_register_structures=[Evil])


@pytest.mark.parametrize("name, owner", [("layers", LAYERS), ("core", "plugin 'core' from tn-core")])
def test_an_entry_point_name_already_taken_is_reported(
    name: str, owner: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    points = [FakeEntryPoint("layers", layers, FakeDist("tn-test-layers", "1.0")),
              FakeEntryPoint(name, evil_module(), FakeDist("tn-evil", "6.6"))]
    with_entry_points(monkeypatch, points, {})
    plugins = core_only()
    taken = f"entry point name '{name}' is already taken by {owner}"
    warning = f"plugin '{name}' from tn-evil 6.6 failed to load and was skipped: {taken}"
    with pytest.warns(RuntimeWarning, match=warning):
        plugins.load_entry_points()
    with pytest.raises(tn.UnknownNameError, match=f"unknown structure 'evil'.*{taken}"):
        plugins.lookup("structure", "evil")
    assert plugins.lookup("structure", "Affine") is layers.Affine
    assert plugins.lookup("structure", "Flatten") is tn.Flatten
    out = tn_plugins_output(plugins, monkeypatch, capsys)
    assert f"\n{name} 6.6: FAILED to load: {taken}\n  distribution: tn-evil\n" in out
    assert "layers 1.0\n  activations: " in out


def test_loading_entry_points_again_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [FakeEntryPoint("layers", layers, FakeDist("tn-test-layers", "1.0")),
              FakeEntryPoint("broken", ImportError("nope"), FakeDist("tn-broken", "1"))]
    with_entry_points(monkeypatch, points, {})
    plugins = core_only()
    with pytest.warns(RuntimeWarning, match="'broken'"):
        plugins.load_entry_points()
    before = plugins.plugin_infos()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plugins.load_entry_points()
    assert plugins.plugin_infos() == before


@pytest.mark.parametrize(
    "env, loaded",
    [({"TN_PLUGINS": "good"}, {"good"}), ({"TN_DISABLE_PLUGINS": "good"}, {"other"}), ({"TN_PLUGINS": ""}, set())],
)
def test_environment_restricts_plugins(monkeypatch: pytest.MonkeyPatch, env: dict, loaded: set) -> None:
    points = [FakeEntryPoint("good", plugin_module("good")), FakeEntryPoint("other", plugin_module("other"))]
    with_entry_points(monkeypatch, points, env)
    plugins = core_only()
    plugins.load_entry_points()
    assert {name for name, _ in plugins.pm.list_name_plugin()} - {"core"} == loaded
    assert {info.name for info in plugins.disabled} == {"good", "other"} - loaded


# -- tn plugins ---------------------------------------------------------------------------


@pytest.mark.plugins  # the installed first-party plugins
def test_tn_plugins_lists_every_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    _, dense_version = installed_dense()
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("core", "dense", "conv", "recurrent"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), out
    assert "structures: " in out and "Dense" in out and "optimizers: Adam, AdamW" in out
    assert f"dense {dense_version}\n  activations: ELU, " in out and "\n  distribution: tn-layers-dense\n" in out
    assert "\n  activations: Linear\n" in out and "\n  distribution: tn-core\n" in out


@pytest.mark.plugins  # the installed first-party plugins
def test_tn_plugins_command_honours_the_environment() -> None:
    env = {**os.environ, "TN_PLUGINS": "dense"}
    code = "import sys; from tn_core.cli import main; sys.exit(main(['plugins']))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    names = [line.split()[0] for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert names == ["core", "dense"]


# -- firstresult hooks, called directly (Plugins.first) ------------------------------------------


def test_first_gives_the_answer_pluggy_gives_for_a_firstresult_hook() -> None:
    plugins = core_only()
    system = object()
    assert plugins.first("tn_parallel", system=system) is None  # no implementation
    asked: list[str] = []

    def answering(name: str, answer: object) -> types.ModuleType:
        def tn_parallel(system):  # type: ignore[no-untyped-def]
            asked.append(name)
            return answer

        return plugin_module(name, tn_parallel=tn_parallel)

    plugins.register(answering("early", "early's"), "early")
    plugins.register(answering("silent", None), "silent")
    plugins.register(answering("late", None), "late")
    assert plugins.first("tn_parallel", system=system) == plugins.hook.tn_parallel(system=system) == "early's"
    assert asked == ["late", "silent", "early"] * 2  # last registered first, as pluggy asks


def test_first_leaves_hooks_with_a_wrapper_to_pluggy() -> None:
    plugins = core_only()
    plugins.register(plugin_module("inner", tn_parallel=lambda system: "inner's"), "inner")
    wrapper = types.ModuleType("wrapper")

    @tn.hookimpl(wrapper=True)
    def tn_parallel(system):  # type: ignore[no-untyped-def]
        answer = yield
        return f"wrapped {answer}"

    wrapper.tn_parallel = tn_parallel  # type: ignore[attr-defined]
    plugins.register(wrapper, "wrapper")
    assert plugins.first("tn_parallel", system=object()) == "wrapped inner's"


def test_a_misspelled_hook_fails_the_plugin_naming_the_hook() -> None:
    plugins = core_only()
    misspelled = plugin_module("typo")
    misspelled.tn_register_structure = tn.hookimpl(lambda: [Scale])  # the hook is tn_register_structures
    with pytest.warns(RuntimeWarning, match=r"plugin 'typo' failed to load and was skipped: it implements "
                                            r"\['tn_register_structure'\], which tensornet has no hook for \(did "
                                            r"you mean 'tn_register_structures'\?\)"):
        plugins.register(misspelled, "typo")
    assert not plugins.pm.has_plugin("typo")


@pytest.mark.parametrize("missing_name", [False, True])
def test_one_distribution_whose_entry_points_cannot_be_read_is_skipped(
    missing_name: bool, tmp_path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    """A malformed entry_points.txt (a line without '=') made importlib.metadata.entry_points() raise, and every
    tensornet name with it; metadata without a Name gave a distribution of None."""
    for name, metadata, points in [
        ("junk", "Name: junk\nVersion: 1.0\n", "[console_scripts]\njunk\n"),
        ("fine", ("" if missing_name else "Name: tn-fine\n") + "Version: 2.0\n",
         "[tensornet]\nfine = tn_fine_plugin_module\n"),
    ]:
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\n{metadata}")
        (info / "entry_points.txt").write_text(points)
    (tmp_path / "tn_fine_plugin_module.py").write_text(
        "import tn_core as tn\n\n@tn.hookimpl\ndef tn_register_losses():\n    return []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises((TypeError, ValueError)):  # what importlib.metadata itself does with the junk
        importlib.metadata.entry_points(group="tensornet")
    plugins = core_only()
    with pytest.warns(RuntimeWarning, match="tensornet skipped the entry points of the distribution junk: they cannot "
                                            "be read"):
        plugins.load_entry_points()
    assert plugins.pm.has_plugin("fine")
    assert plugins.distributions["fine"] == ("" if missing_name else "tn-fine") and plugins.versions["fine"] == "2.0"
    assert plugins.lookup("structure", "Flatten") is tn.Flatten


def test_a_model_of_a_plugin_registered_in_process_says_to_register_it_again() -> None:
    error = missing_plugin_error("m.tn (types Local)", "", "", "mine")
    assert str(error) == ("m.tn (types Local) needs plugin 'mine', which the process that saved it registered itself "
                          "(from no installed distribution): register it again before loading")


def test_a_model_file_whose_type_two_plugins_register_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Loading names both plugins, as a lookup does; it used to say the recorded plugin does not provide it."""
    x = tn.Input((3,))()
    tn.save(tn.System([x], [layers.Affine(2)(x)]), tmp_path / "m.tn")
    rival = plugin_module("rival", tn_register_structures=[RivalAffine])
    get_plugins().register(rival, "rival", "2.0", "tn-rival")
    try:
        with pytest.raises(tn.PluginError, match=r"m\.tn: structure name 'Affine' is ambiguous: it is registered by "
                                                 r".* and plugin 'rival' from tn-rival 2\.0"):
            tn.load(tmp_path / "m.tn")
    finally:
        get_plugins().unregister("rival")
    tn.load(tmp_path / "m.tn")


#: another plugin's layer, registered under the test plugin's name Affine
RivalAffine = attrs.define(type("Affine", (layers.Affine,), {}))


def test_an_entry_point_that_is_none_is_reported_not_silently_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    with_entry_points(monkeypatch, [FakeEntryPoint("none", None, FakeDist("tn-none", "1.0"))], {})
    plugins = core_only()
    with pytest.warns(RuntimeWarning, match=r"plugin 'none' from tn-none 1\.0 failed to load and was skipped: its "
                                            r"entry point 'fake_none\.plugin' is None"):
        plugins.load_entry_points()
    assert [info.name for info in plugins.failed] == ["none"]


def test_two_classes_of_one_name_from_one_plugin_fail_it() -> None:
    """Before, the plugin's name was ambiguous with itself, and tn plugins listed it as such four times."""
    twin = attrs.define(type("Scale", (Scale,), {}))
    plugins = core_only()
    with pytest.warns(RuntimeWarning, match=r"plugin 'twins' failed to load and was skipped: tn_register_structures "
                                            r"returned two structures named 'Scale'"):
        plugins.register(plugin_module("twins", tn_register_structures=[Scale, twin]), "twins")
    assert not plugins.pm.has_plugin("twins")


class ImportingEntryPoint(FakeEntryPoint):
    """An entry point whose import runs ``code`` (as a plugin module's top level does)."""

    def __init__(self, name: str, code: Callable[[], object], dist: FakeDist | None = None) -> None:
        super().__init__(name, None, dist)
        self.code = code

    def load(self) -> object:
        return self.code()


def test_a_plugin_using_another_plugins_name_at_import_loads_once_in_any_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """``class Bigger(tn.Scale)`` in a plugin loaded before the plugin registering Scale: the manager being
    loaded loads that one first. Before, a second manager loaded every plugin again, warnings and all."""
    registrations: list[str] = []

    def subclassing() -> types.ModuleType:
        bigger = attrs.define(type("Bigger", (tn.Scale,), {}))  # tn.Scale: asks the manager being loaded
        return plugin_module("first", tn_register_structures=lambda: registrations.append("first") or [bigger])

    points = [ImportingEntryPoint("first", subclassing, FakeDist("tn-first", "1.0")),
              FakeEntryPoint("broken", ImportError("nope"), FakeDist("tn-broken", "1.0")),
              FakeEntryPoint("scale", plugin_module("scale", tn_register_structures=lambda: registrations.append(
                  "scale") or [Scale]), FakeDist("tn-scale", "1.0"))]
    with_entry_points(monkeypatch, points, {})
    monkeypatch.setattr(tn_core.plugins, "_plugins", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugins = get_plugins()
    assert [str(w.message) for w in caught if "failed to load" in str(w.message)] == [
        "tensornet plugin 'broken' from tn-broken 1.0 failed to load and was skipped: ImportError: nope"]
    assert sorted(registrations) == ["first", "scale"]
    assert plugins.lookup("structure", "Bigger").__mro__[1] is Scale
    assert plugins.lookup("structure", "Scale") is Scale


def test_under_warnings_as_errors_a_broken_plugin_raises_once_and_the_rest_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``python -W error`` (or pytest's filterwarnings = error): the broken plugin's warning is raised at the
    first use, once the other plugins are loaded; before, loading never finished and every use raised."""
    points = [FakeEntryPoint("broken", ImportError("nope"), FakeDist("tn-broken", "1.0")),
              FakeEntryPoint("scale", plugin_module("scale", tn_register_structures=[Scale]), FakeDist("tn-s", "1"))]
    with_entry_points(monkeypatch, points, {})
    monkeypatch.setattr(tn_core.plugins, "_plugins", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="plugin 'broken' from tn-broken 1.0 failed to load"):
            get_plugins()
        assert get_plugins().lookup("structure", "Scale") is Scale
