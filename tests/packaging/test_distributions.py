"""Each distribution installs on its own, plugins are found through entry points, and a
broken plugin does not take the rest down. Every test builds a fresh virtual environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.packaging.venvs import DISTS, install, make_venv, run

pytestmark = pytest.mark.slow


def python(bin_dir: Path, code: str) -> str:
    return run(bin_dir / "python", "-c", textwrap.dedent(code)).stdout


def plugin_names(bin_dir: Path) -> list[str]:
    out = run(bin_dir / "tn", "plugins").stdout
    return [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]


def test_core_alone(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"])
    assert plugin_names(bin_dir) == ["core"]
    out = python(bin_dir, """
        import importlib.metadata as md, tn_core as tn
        requires = sorted(r.split(">")[0].split("=")[0].split(";")[0].strip() for r in md.requires("tn-core")
                          if "extra ==" not in r)
        print(requires)
        x = tn.Input((2,))()
        print(tn.System([x], [tn.Flatten()(x)]).guess([[1.0, 2.0]])[0].tolist())
        try:
            tn.Dense
        except tn.MissingPluginError as e:
            print(e)
    """)
    assert out.splitlines() == [
        "['attrs', 'numpy', 'pluggy', 'scipy']",
        "[1.0, 2.0]",
        "tn.Dense needs tn-layers-dense, which is not installed: pip install tn-layers-dense",
    ]


def test_core_and_dense(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"], DISTS["tn_layers_dense"])
    assert plugin_names(bin_dir) == ["core", "dense"]
    out = python(bin_dir, """
        import numpy as np, tn_core as tn
        rng = np.random.default_rng(0)
        x = tn.Input((4,))()
        y = tn.Dense(2, activation="sigmoid")(tn.Dense(8, activation="tanh")(x))
        s = tn.System([x], [y])
        xs = rng.normal(size=(64, 4)); ts = np.eye(2)[(xs[:, 0] > 0).astype(int)]
        losses = []
        for _ in range(100):
            _, state = s.guess([xs], return_state=True)
            losses.append(s.learn(state, [ts], method="adam", scale=0.05, loss="ce"))
        print(losses[-1] < 0.5 * losses[0])
        try:
            tn.Conv((3, 3))
        except tn.MissingPluginError as e:
            print(e)
    """)
    missing = "tn.Conv needs tn-layers-conv, which is not installed: pip install tn-layers-conv"
    assert out.splitlines() == ["True", missing]


def test_all_four(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, *DISTS.values())
    assert plugin_names(bin_dir) == ["core", "conv", "dense", "recurrent"]


def write_distribution(folder: Path, name: str, module_source: str) -> Path:
    package = name.replace("-", "_")
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text(textwrap.dedent(module_source))
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "0.0.1"
        dependencies = ["tn-core"]

        [project.entry-points.tensornet]
        {package} = "{package}"
    """))
    return folder


THIRD_PARTY = """
    import attrs, numpy as np, tn_core as tn

    @attrs.define
    class Square(tn.Structure):
        '''y = x * x.'''

        def build(self, input_shapes, rng):
            return [input_shapes[0]], {}

        def forward(self, params, inputs, training):
            return [inputs[0] ** 2], inputs[0]

        def backward(self, params, cache, grads):
            return [2 * cache * grads[0]], {}

    @tn.hookimpl
    def tn_register_structures():
        return [Square]
"""


def test_third_party_plugin_is_found_after_install(tmp_path: Path, deps_site: Path) -> None:
    plugin = write_distribution(tmp_path / "src", "tn-square", THIRD_PARTY)
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"])
    install(tmp_path / "venv", plugin)
    assert plugin_names(bin_dir) == ["core", "tn_square"]
    out = python(bin_dir, """
        import tn_core as tn
        x = tn.Input((3,))()
        s = tn.System([x], [tn.Square()(x)], dtype="float64")
        print(s.guess([[1.0, -2.0, 3.0]])[0].tolist())
        print(tn.get_plugins().lookup("structure", "square") is tn.Square)
    """)
    assert out.splitlines() == ["[1.0, 4.0, 9.0]", "True"]


def test_a_broken_plugin_leaves_the_rest_working(tmp_path: Path, deps_site: Path) -> None:
    broken = write_distribution(tmp_path / "src", "tn-broken", "raise ImportError('needs libfoo')\n")
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"], DISTS["tn_layers_dense"])
    install(tmp_path / "venv", broken)
    listing = run(bin_dir / "tn", "plugins")
    assert "tn_broken 0.0.1: FAILED to load: ImportError: needs libfoo" in listing.stdout
    assert "failed to load and was skipped" in listing.stderr
    out = python(bin_dir, """
        import warnings
        warnings.simplefilter("ignore")
        import tn_core as tn
        x = tn.Input((2,))()
        print(tn.System([x], [tn.Dense(3)(x)]).guess([[1.0, 2.0]])[0].shape)
    """)
    assert out.strip() == "(3,)"
