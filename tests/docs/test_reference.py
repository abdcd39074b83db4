"""docs/reference.md is what docs/gen_reference.py generates from the plugin registry today, and covers it."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import attrs
import numpy as np
import pytest

import tn_core as tn
from tn_core import kit
from tn_core.plugins import get_plugins

DOCS = Path(__file__).resolve().parents[2] / "docs"
REBUILD = "run python docs/gen_reference.py"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def text(gen: ModuleType) -> str:
    return gen.render()


def section(text: str, heading: str) -> str:
    """The markdown of entry ``heading``: from its ``####`` line to the next heading."""
    match = re.search(rf"^#### {re.escape(heading)}\n(.*?)(?=^#{{2,4}} |\Z)", text, re.M | re.S)
    assert match, f"no section #### {heading}"
    return match.group(1)


def test_reference_md_is_current(gen: ModuleType, text: str) -> None:
    stored = (DOCS / "reference.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## (tn-[\w-]+)$", stored, re.M))
    unloaded = documented - set(get_plugins().distributions.values())
    if unloaded:
        pytest.skip(f"the reference documents {sorted(unloaded)}, whose plugins are not loaded here")
    assert stored == text, f"docs/reference.md is out of date: {REBUILD}"


def test_every_first_party_registration_has_a_section(gen: ModuleType, text: str) -> None:
    plugins = get_plugins()
    expected = {(kind, entry.obj.__name__) for kind, table in plugins.registry().items()
                for entry in table.values() if entry.distribution in gen.FIRST_PARTY}
    assert {kind for kind, _ in expected} >= {"structure", "activation", "optimizer", "loss", "initializer"}
    for _kind, name in expected:
        if getattr(tn, name).__dict__.get("alias_of"):  # an alias: a row of the other names, not a section
            assert f"| `tn.{name}`, `\"{name.lower()}\"` | alias of [" in text, name
        else:
            assert f"\n#### {name}\n" in text, name
    for name in ["MaxPool", "AvgPool", "GlobalAvgPool", "GRU", "Bidirectional", "Dropout", "LayerNorm", "LSTM",
                 "Dense", "Conv", "Adam", "SoftmaxCE", "xavier", "accuracy"]:
        assert f"\n#### {name}\n" in text, name


def test_names_are_the_ones_that_work(text: str) -> None:
    assert 'Names: `tn.Dense`, `"dense"`.' in section(text, "Dense")
    assert 'Names: `tn.xavier`, `"xavier"`.' in section(text, "xavier")
    assert '`"softmax_ce"`' in section(text, "SoftmaxCE")  # the design's loss name
    for name in re.findall(r'`"([^"`]+)"`', section(text, "SoftmaxCE")):
        assert type(tn.losses.resolve_loss(name)) is tn.SoftmaxCE, name


def test_sections_give_fields_docstring_and_layout(text: str) -> None:
    dense = section(text, "Dense")
    assert "`Dense(shape, activation='linear', init=None)`" in dense
    assert "| `shape` | `Shape` | required |" in dense and "| `activation` | `Activation` | `'linear'` |" in dense
    assert "```text\nFully connected layer: y = activation(W x + b)" in dense
    # Dense((15, 15)) on (32, 32): weights (out_size, in_size)
    assert "| (32, 32) | (15, 15) | `weights` (225, 1024), `biases` (225,) |" in dense
    assert "`running_mean` (4,) *buffer*, `running_var` (4,) *buffer*" in section(text, "BatchNorm")
    assert "`gain` (4,), `bias` (4,)," in section(text, "BatchNorm")
    assert "- Inputs: none (a source of the network)." in section(text, "Input")
    assert "- Inputs: 1 to 3." in section(text, "LSTM") and "- Inputs: 2 or more." in section(text, "Add")
    assert "- State per parameter (saved with checkpoints): `m`, `v`." in section(text, "Adam")
    assert "- Default weight initializer of a layer using it: `he`." in section(text, "ReLU")
    assert "with the loss BinaryCE" in section(text, "Sigmoid")
    assert "with the activation Sigmoid" in section(text, "BinaryCE")


def test_aliases_and_former_names_are_listed_once_and_named_by_their_class(text: str) -> None:
    other = text.split("\n## Other names\n", 1)[1].split("\n## ", 1)[0]
    assert "| `tn.Swish`, `\"swish\"` | alias of [SiLU](#silu) | activation | tn-layers-dense |" in other
    assert "| `tn.Residual`, `\"residual\"` | alias of [ResWrap](#reswrap) | layer | tn-layers-dense |" in other
    assert "| `tn.CE` | former name of [BinaryCE](#binaryce) (warns) | loss | tn-core |" in other
    assert 'Names: `tn.SiLU`, `"silu"`; aliases `tn.Swish`, `"swish"`.' in section(text, "SiLU")
    assert '"CE"' not in section(text, "BinaryCE")
    assert '`"ce"`' in section(text, "BinaryCE")  # the original library's name stays
    assert "\n#### Swish\n" not in text and "\n#### Residual\n" not in text


@pytest.mark.parametrize(("name", "gates", "order"), [
    ("LSTM", 4, "forget [0, size), input [size, 2*size), candidate [2*size, 3*size), output [3*size, 4*size)"),
    ("GRU", 3, "update u [0, size), reset r [size, 2*size), candidate n [2*size, 3*size)"),
])
def test_recurrent_sections_give_gate_order_and_biases(text: str, name: str, gates: int, order: str) -> None:
    doc = section(text, name)
    words = " ".join(doc.split())
    assert f"rows in gate blocks {order}; columns [0, size)" in words
    assert f"``biases`` b ({gates}*size,), in the same blocks" in words
    size, steps, features = 4, 5, 3  # the plugin's first example: (size) on (steps, features)
    assert (f"| ({steps}, {features}) | ({steps}, {size}), ({size},)" in doc
            and f"`weights` ({gates * size}, {size + features}), `biases` ({gates * size},) |" in doc)


def test_output_is_deterministic_and_holds_no_addresses(gen: ModuleType, text: str) -> None:
    assert gen.render() == text
    assert " at 0x" not in text
    shown = gen.plain("Dense(init=<function f at 0x7f3a2c>,\n      shape=(2,))")
    assert shown == "Dense(init=<function f>, shape=(2,))"
    assert "```python" not in text  # test_docs.py would run it


def test_contents_link_every_section(gen: ModuleType, text: str) -> None:
    anchors = gen.Anchors()
    targets = [anchors(heading) for heading in re.findall(r"^#{1,4} (.+)$", text, re.M)]
    links = re.findall(r"\]\(#([\w-]+)\)", text)
    assert set(links) <= set(targets)
    contents = text.split("\n## Contents\n", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"\]\(#([\w-]+)\)", contents)) == set(targets[2:])  # all but the title and Contents


def test_anchors_number_repeated_headings_as_github_does(gen: ModuleType) -> None:
    anchors = gen.Anchors()
    assert [anchors("MSE"), anchors("mse"), anchors("Layers (tn-core)"), anchors("MSE")] == [
        "mse", "mse-1", "layers-tn-core", "mse-2"]


@attrs.define
class Triple(kit.Structure):
    """y = 3 x (a third-party layer)."""

    def build(self, input_shapes: list, rng: np.random.Generator) -> tuple:
        return [input_shapes[0]], {"w": np.ones(2)}


@attrs.define
class Dense(kit.Structure):
    """A third-party layer that takes the name Dense."""


@pytest.fixture
def third_party() -> Iterator[None]:
    plugin = SimpleNamespace(
        tn_register_structures=tn.hookimpl(lambda: [Triple, Dense]),
        tn_structure_examples=tn.hookimpl(lambda: [(Triple(), [(2,)]), (Dense(), [(2,)])]),
    )
    get_plugins().register(plugin, "reference-test", "1.0", "someones-plugin")
    yield
    get_plugins().unregister("reference-test")


def test_third_party_registrations_are_left_out(gen: ModuleType, third_party: None) -> None:
    text = gen.render()
    assert "Triple" not in text
    dense = section(text, "Dense")  # the first-party Dense, though the name is now ambiguous
    assert "Fully connected layer" in dense and "`tn.Dense`" not in dense
    assert "| (32, 32) | (15, 15) |" in dense


def test_alias_tables_and_spellings_that_resolve_are_names(gen: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    resolve = gen.RESOLVERS["loss"]

    def with_alias(name: str) -> Any:
        return tn.Quad() if name == "squared_error" else resolve(name)

    monkeypatch.setattr(tn.losses, "TEST_LOSS_ALIASES", {"squared_error": "quad", "unheard_of": "quad"},
                        raising=False)
    monkeypatch.setitem(gen.RESOLVERS, "loss", with_alias)
    quad = section(gen.render(), "Quad")
    assert 'Names: `tn.Quad`, `"quad"`, `"squared_error"`.' in quad and "unheard_of" not in quad


def test_metrics_come_from_the_first_metric_home_that_exists(
    gen: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "reference_test_metrics.py").write_text(
        'def hits(y, t):\n    """Share of hits."""\n\n\nMETRICS = {"hits": hits, "hit_rate": hits}\n', encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        monkeypatch.setattr(gen, "METRIC_HOMES", ("reference_test_metrics", "tn_core.metrics", "tn_core.training"))
        text = gen.render()
        monkeypatch.setattr(gen, "METRIC_HOMES", ("reference_test_no_such_module", "reference_test_metrics"))
        assert gen.render() == text
    finally:
        sys.modules.pop("reference_test_metrics", None)
    assert 'Names: `"hits"`, `"hit_rate"`.' in section(text, "hits") and "`hits(y, t)`" in text
    assert "\n#### accuracy\n" not in text


def test_check_mode_reports_a_stale_reference(
    gen: ModuleType, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    stale = tmp_path / "reference.md"
    stale.write_text(text.replace("#### LSTM", "#### LSTM2"), encoding="utf-8")
    monkeypatch.setattr(gen, "TARGET", stale)
    assert gen.main(["--check"]) == 1
    assert REBUILD in capsys.readouterr().err
    assert gen.main([]) == 0 and stale.read_text(encoding="utf-8") == text
    assert gen.main(["--check"]) == 0


def test_the_script_checks_the_stored_reference(text: str) -> None:
    if (DOCS / "reference.md").read_text(encoding="utf-8") != text:
        pytest.skip("docs/reference.md is stale here (test_reference_md_is_current says why)")
    script = subprocess.run([sys.executable, DOCS / "gen_reference.py", "--check"], capture_output=True, text=True)
    assert script.returncode == 0, script.stderr
