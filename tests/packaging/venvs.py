"""Fresh virtual environments for packaging tests.

The third-party dependencies (numpy, scipy, pluggy, attrs, mpi4py, mpich,
setuptools) are installed once per test session into a shared "deps" environment that each
fresh environment sees through a .pth file; the tensornet distributions are
then installed into the fresh environment from their local folders, offline
and non-editable. So every test sees exactly the tensornet distributions it
installed, and nothing else of ours.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DISTS = {name: REPO / name for name in (
    "tn_core", "tn_layers_dense", "tn_layers_conv", "tn_layers_recurrent", "tn_distributed")}
#: pinned to .venv's versions; mpi4py finds MPICH's library only in its own environment (sys.prefix/lib),
#: so a test that runs MPI installs mpi4py and mpich into its fresh environment too
DEPENDENCIES = ["numpy", "scipy", "pluggy", "attrs", "mpi4py", "mpich"]


def run(*args: object, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode != 0:
        command = " ".join(map(str, args))
        raise AssertionError(f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def site_packages(venv: Path) -> Path:
    relative = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    return venv / relative


def make_deps_env(path: Path) -> Path:
    """A venv holding the pinned third-party dependencies (and pytest); returns its site-packages."""
    run(sys.executable, "-m", "venv", "--without-pip", path)
    pins = [f"{name}=={version(name)}" for name in DEPENDENCIES]
    run(sys.executable, "-m", "pip", "--python", path / "bin" / "python", "install", "-q",
        *pins, "setuptools>=68", "wheel", f"pytest=={version('pytest')}")
    return site_packages(path)


def make_venv(path: Path, deps_site: Path, *packages: Path) -> Path:
    """A fresh venv at ``path`` seeing ``deps_site``, with ``packages`` installed; returns its bin folder."""
    run(sys.executable, "-m", "venv", "--without-pip", path)
    (site_packages(path) / "tn_test_deps.pth").write_text(f"{deps_site}\n")
    if packages:
        install(path, *packages)
    return path / "bin"


def install(venv: Path, *packages: Path) -> None:
    """pip install local folders into ``venv``, offline, without build isolation."""
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
        "--no-index", "--no-build-isolation", *packages)


def write_distribution(
    folder: Path, name: str, module_source: str, entry_point: str = "", version: str = "0.0.1"
) -> Path:
    """A source folder for distribution ``name``: its package (one module) is the ``tensornet`` entry point
    ``entry_point`` (default: the package's name)."""
    package = name.replace("-", "_")
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text(textwrap.dedent(module_source))
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "{version}"
        dependencies = ["tn-core"]

        [project.entry-points.tensornet]
        {entry_point or package} = "{package}"
    """))
    return folder
