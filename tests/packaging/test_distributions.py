"""Each distribution installs on its own, plugins are found through entry points, and a faulty
plugin (import fails, a hook exits, a taken entry-point name, a clashing name) does not take the
rest down. Every test builds a fresh virtual environment."""

from __future__ import annotations

import os
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.packaging.venvs import DISTS, install, make_venv, run, write_distribution

pytestmark = pytest.mark.slow


def python(bin_dir: Path, code: str) -> str:
    return run(bin_dir / "python", "-c", textwrap.dedent(code)).stdout


def plugin_names(bin_dir: Path) -> list[str]:
    out = run(bin_dir / "tn", "plugins").stdout
    return [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]


UNKNOWN = ("no loaded plugin registers it; layers and activations come from plugin distributions (tn-layers-dense, "
           "tn-layers-conv, tn-layers-recurrent, or a third-party plugin), and `tn plugins` lists the loaded ones")


def test_core_alone(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"])
    assert plugin_names(bin_dir) == ["core"]
    out = python(bin_dir, """
        import importlib.metadata as md, tn_core as tn
        from tn_core.plugins import missing_plugin_error
        requires = sorted(r.split(">")[0].split("=")[0].split(";")[0].strip() for r in md.requires("tn-core")
                          if "extra ==" not in r)
        print(requires)
        x = tn.Input((2,))()
        print(tn.System([x], [tn.Flatten()(x)]).guess([[1.0, 2.0]])[0].tolist())
        try:
            tn.Dense
        except AttributeError as e:
            print(type(e).__name__, e)
        print(hasattr(tn, "Dense"), tn.get_plugins().registry()["structure"]["Flatten"].distribution)
        print(missing_plugin_error("layer 'Dense'", "tn-layers-dense", "0.1.0"))
    """)
    assert out.splitlines() == [
        "['attrs', 'numpy', 'pluggy', 'scipy']",
        "[1.0, 2.0]",
        f"UnknownAttributeError tn has no attribute 'Dense': {UNKNOWN}",
        "False tn-core",
        "layer 'Dense' needs tn-layers-dense (0.1.0), which is not installed: pip install tn-layers-dense",
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
        except tn.UnknownNameError as e:
            print(type(e).__name__, e)
        entry = tn.get_plugins().registry()["structure"]["Dense"]
        print(entry.plugin, entry.distribution, entry.version)
    """)
    assert out.splitlines() == ["True", f"UnknownAttributeError tn has no attribute 'Conv': {UNKNOWN}",
                                "dense tn-layers-dense 0.1.0"]
    env = {**os.environ, "TN_DISABLE_PLUGINS": "dense"}
    disabled = run(bin_dir / "python", "-c", textwrap.dedent("""
        import tn_core as tn
        from tn_core.plugins import missing_plugin_error
        print(hasattr(tn, "Dense"))
        try:
            tn.get_plugins().lookup("structure", "dense")
        except tn.UnknownNameError as e:
            print(e)
        print(missing_plugin_error("layer 'Dense'", "tn-layers-dense", "0.1.0"))
    """), env=env).stdout
    assert disabled.splitlines() == [
        "False",
        "unknown structure 'dense': no loaded plugin registers it; it may come from a plugin that did not load: "
        "plugin 'dense' from tn-layers-dense 0.1.0 is disabled by TN_DISABLE_PLUGINS",
        "layer 'Dense' needs tn-layers-dense (0.1.0), which is installed but its plugin 'dense' is disabled by "
        "TN_DISABLE_PLUGINS",
    ]


def test_all_five(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, *DISTS.values())
    assert sorted(plugin_names(bin_dir)) == ["conv", "core", "dense", "distributed", "recurrent"]


def test_distributed_brings_mpiexec_and_trains_on_two_ranks(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"], DISTS["tn_distributed"])
    assert plugin_names(bin_dir) == ["core", "distributed"]
    assert "\ndistributed 0.1.0\n  callbacks: DataParallel\n" in run(bin_dir / "tn", "plugins").stdout
    code = "import tn_core as tn; dp = tn.DataParallel(); print(dp.rank, dp.size)"
    no_library = run(bin_dir / "python", "-c", code, check=False)  # mpi4py is there, MPICH's library is not
    assert no_library.returncode == 1
    assert no_library.stderr.splitlines()[-1] == (
        "tn_core.errors.ConfigError: DataParallel needs mpi4py and an MPI library (RuntimeError: cannot load MPI "
        "library): pip install mpi4py mpich (tn-distributed's dependencies)")
    run(sys.executable, "-m", "pip", "--python", bin_dir / "python", "install", "-q", "--ignore-installed", "--no-deps",
        *(f"{name}=={version(name)}" for name in ("mpi4py", "mpich")))  # into this environment: bin/mpiexec, lib/
    assert python(bin_dir, code).split() == ["0", "1"]
    # each rank writes a file of its own: mpiexec interleaves the ranks' standard output
    each = ("import sys, tn_core as tn; dp = tn.DataParallel(); "
            "open(f'{sys.argv[1]}/rank{dp.rank}', 'w').write(f'{dp.size}')")
    run(bin_dir / "mpiexec", "-launcher", "fork", "-n", "2", bin_dir / "python", "-c", each, tmp_path)
    assert {p.name: p.read_text() for p in tmp_path.glob("rank*")} == {"rank0": "2", "rank1": "2"}


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


RIVAL = """
    import attrs, numpy as np, tn_core as tn

    @attrs.define
    class Tanh(tn.Activation):
        def forward(self, z):
            return np.tanh(z)

    @attrs.define
    class Cube(tn.Activation):
        def forward(self, z):
            return z ** 3

    @tn.hookimpl
    def tn_register_activations():
        return [Tanh, Cube]
"""

EXITS = """
    import sys, tn_core as tn

    @tn.hookimpl
    def tn_register_structures():
        sys.exit(1)
"""


def test_faulty_plugins_leave_the_rest_working(tmp_path: Path, deps_site: Path) -> None:
    faulty = [
        write_distribution(tmp_path / "broken", "tn-broken", "raise ImportError('needs libfoo')\n"),
        write_distribution(tmp_path / "exits", "tn-exits", EXITS),
        write_distribution(tmp_path / "impostor", "tn-impostor", THIRD_PARTY, entry_point="core"),
        write_distribution(tmp_path / "rival", "tn-rival", RIVAL),
    ]
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"], DISTS["tn_layers_dense"])
    install(tmp_path / "venv", *faulty)
    listing = run(bin_dir / "tn", "plugins")
    lines = listing.stdout.splitlines()
    assert "tn_broken 0.0.1: FAILED to load: ImportError: needs libfoo" in lines
    assert "tn_exits 0.0.1: FAILED to load: tn_register_structures raised SystemExit: 1" in lines
    assert "core 0.0.1: FAILED to load: entry point name 'core' is already taken by plugin 'core' from tn-core 0.1.0" \
        in lines
    assert "  ambiguous: activation 'Tanh', also registered by plugin 'tn_rival' from tn-rival 0.0.1" in lines
    assert "  ambiguous: activation 'tanh', also registered by plugin 'dense' from tn-layers-dense 0.1.0" in lines
    assert listing.stderr.count("failed to load and was skipped") == 3, listing.stderr
    out = python(bin_dir, """
        import warnings
        warnings.simplefilter("ignore")
        import tn_core as tn
        x = tn.Input((2,))()
        print(tn.System([x], [tn.Dense(3, activation="cube")(x)]).guess([[1.0, 2.0]])[0].shape)
        print(hasattr(tn, "Square"), tn.Flatten.__module__)
        try:
            tn.Tanh
        except tn.PluginError as e:
            print(e)
    """)
    assert out.splitlines() == [
        "(3,)",
        "False tn_core.wiring",
        "activation name 'Tanh' is ambiguous: it is registered by plugin 'dense' from tn-layers-dense 0.1.0 and "
        "plugin 'tn_rival' from tn-rival 0.0.1; uninstall one of them or skip it with TN_DISABLE_PLUGINS",
    ]
