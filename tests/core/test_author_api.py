"""The author API: plugin authors import tn_core.kit; tn_core is the user's namespace; the core
names no first-party layer or activation."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core import kit
from tn_core.plugins import get_plugins

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "tn_core" / "src" / "tn_core"
FIRST_PARTY = ["tn_layers_dense", "tn_layers_conv", "tn_layers_recurrent", "tn_accel"]


def test_the_kit_exports_the_author_api() -> None:
    for name in kit.__all__:
        assert getattr(kit, name) is not None
    assert kit.Structure is tn.Structure and kit.Activation is tn.Activation and kit.hookimpl is tn.hookimpl
    assert {"check_structure", "check_gradients", "input_grad_wanted", "forward_rng", "affine_forward",
            "int_field", "real_field", "shape_field", "activation_field", "init_field"} <= set(kit.__all__)


@pytest.mark.parametrize("name", sorted(tn.MOVED))
def test_moved_names_still_import_with_a_deprecation_warning(name: str) -> None:
    assert name not in tn.__all__
    with pytest.warns(DeprecationWarning, match=rf"tn.{name} moved to {tn.MOVED[name]}.{name}"):
        moved = getattr(tn, name)
    assert moved is getattr(__import__(tn.MOVED[name], fromlist=[name]), name)


def test_the_user_namespace_keeps_what_users_need() -> None:
    assert {"System", "Input", "Adam", "SGD", "Quad", "SoftmaxCE", "ShapeError", "WeightsFileError", "save", "load",
            "EarlyStopping", "Callback", "Clone", "Structure", "Activation", "hookimpl"} <= set(tn.__all__)


def _tn_core_imports(path: Path) -> list[str]:
    """Modules under tn_core that ``path`` imports (``from tn_core import x`` counts as tn_core.x)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tn_core":
            found += [f"{node.module}.{a.name}" if node.module == "tn_core" else node.module for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "tn_core"]
    return found


@pytest.mark.parametrize("package", [*FIRST_PARTY, "examples"])
def test_first_party_plugins_import_only_the_kit_and_tn_core(package: str) -> None:
    folder = ROOT / "examples" / "third_party_plugin" / "src" if package == "examples" else ROOT / package / "src"
    deep = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in folder.rglob("*.py")
        for module in _tn_core_imports(path)
        if module not in ("tn_core", "tn_core.kit")
    }
    assert not deep, sorted(deep)


def _identifiers_and_strings(path: Path) -> tuple[set[str], set[str]]:
    """Identifiers of a module and its string literals, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
        and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    identifiers = {t.string for t in tokens if t.type == tokenize.NAME}
    strings = {
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }
    return identifiers, strings


@pytest.mark.plugins  # the names the first-party plugins register
def test_the_core_names_no_first_party_layer_or_activation() -> None:
    entries = [entry for kind in ("structure", "activation") for entry in get_plugins().registry()[kind].values()
               if entry.plugin in ("dense", "conv", "recurrent")]
    classes = {entry.obj.__name__ for entry in entries}
    assert {"Dense", "Sigmoid", "Conv", "LSTM"} <= classes
    # "softmax" is also the name of the math a fusion contract promises (Activation.fusion), not a lookup
    names = classes | {name.lower() for name in classes} - {"softmax"}
    # demo.py is an application of the plugins (tn demo trains their networks), not the core's machinery
    offenders = set()
    for path in CORE.glob("*.py"):
        if path.name != "demo.py":
            identifiers, strings = _identifiers_and_strings(path)
            offenders |= {f"{path.name}: {name}" for name in (identifiers & classes) | (strings & names)}
    assert not offenders, sorted(offenders)


def test_linear_lives_in_the_core() -> None:
    entry = get_plugins().registry()["activation"]["Linear"]
    assert entry.plugin == "core" and entry.obj is kit.Linear

    @attrs.define
    class Gate(kit.Structure):
        activation: kit.Activation = kit.activation_field()

    assert isinstance(Gate().activation, kit.Linear)


@attrs.define
class FastLogistic(kit.Activation):
    """A third party's logistic sigmoid: it declares the fusion, so cross-entropy fuses with it."""

    fusion = "logistic"

    def forward(self, z: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return a * (1.0 - a)


def test_a_third_party_activation_declaring_the_fusion_fuses_with_its_loss() -> None:
    x = tn.Input((2,))()
    system = tn.System([x], [Affine(3, activation=FastLogistic())(x)], dtype=np.float64)
    system.order[-1].params["biases"][:] = 60.0  # saturated: a = 1.0 exactly, the unfused gradient would be 0/0
    state = system.forward([np.zeros((4, 2))])
    targets = np.zeros((4, 3))
    _, seeds, fused = system.loss_gradients(state, [targets], "ce")
    assert seeds == {} and set(fused) == {system.order[-1]}
    np.testing.assert_allclose(fused[system.order[-1]], np.full((4, 3), 0.25))  # dE/dz = (a - t) / N
    _, seeds, fused = system.loss_gradients(state, [np.eye(3)[[0, 1, 2, 0]]], "softmax_ce")
    assert fused == {} and set(seeds) == {system.outputs[0]}
