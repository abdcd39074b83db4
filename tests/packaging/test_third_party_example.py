"""examples/third_party_plugin (tn-layers-highway) installs next to tn-core and tn-layers-dense in a
fresh virtual environment, passes its own kit-based tests there, and trains a network using its layer."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.packaging.venvs import DISTS, REPO, make_venv, run

EXAMPLE = REPO / "examples" / "third_party_plugin"

TRAIN = """
    import sys

    import numpy as np
    import tn_core as tn

    # two classes: points inside a circle of radius 1, and a ring around it
    rng = np.random.default_rng(0)
    radius = np.where(rng.random(600) < 0.5, rng.uniform(0, 1, 600), rng.uniform(1.1, 2.0, 600))
    angle = rng.uniform(0, 2 * np.pi, 600)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    y = (radius > 1.05).astype(float)[:, None]

    tn.set_seed(0)
    inp = tn.Input((2,))()
    h = tn.Dense(8, activation="mish")(inp)
    h = tn.Highway(activation="mish")(h)
    h = tn.Highway(activation="tanh", gate_bias=-2.0)(h)
    out = tn.Dense(1, activation="sigmoid")(h)
    system = tn.System([inp], [out], seed=0)
    before = system.evaluate(x[400:], y[400:], loss="ce")["loss"]
    system.fit(x[:400], y[:400], epochs=20, batch_size=32, optimizer="adam", lr=0.02, loss="ce", seed=0)
    accuracy = float(np.mean((system.predict(x[400:])[0] > 0.5) == y[400:]))
    after = system.evaluate(x[400:], y[400:], loss="ce")["loss"]

    tn.save(system, sys.argv[1])
    again = tn.load(sys.argv[1])
    same = np.array_equal(again.predict(x[400:])[0], system.predict(x[400:])[0])
    print(f"loss {before:.4g} -> {after:.4g}, held-out accuracy {accuracy:.3f}, reloaded identical: {same}")
"""


@pytest.mark.slow
def test_third_party_plugin_installs_tests_and_trains(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"], DISTS["tn_layers_dense"], EXAMPLE)
    plugins = run(bin_dir / "tn", "plugins").stdout
    assert "highway 0.1.0\n  activations: Mish\n  structures: Highway" in plugins, plugins

    shutil.copytree(EXAMPLE / "tests", tmp_path / "tests")  # run them against the installed package only
    result = run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", tmp_path / "tests", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout

    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    trained = run(bin_dir / "python", tmp_path / "train.py", tmp_path / "highway.tn").stdout.splitlines()[-1]
    numbers = trained.split()
    before, after, accuracy = float(numbers[1]), float(numbers[3].rstrip(",")), float(numbers[6].rstrip(","))
    assert after < before / 4 and accuracy >= 0.95, trained
    assert trained.endswith("reloaded identical: True"), trained
