"""benchmarks.outer prints a ratio for every row count and row length it is given."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

from tn_core.plugins import get_plugins

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_prints_one_ratio_per_shape() -> None:
    """A table for BLAS's product, and one for the plugin's kernel where tn-accel is installed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.outer", "--rows", "3", "70", "--lengths", "64", "5"],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    titles = ["BLAS's product"] + (["the plugin's kernel"] if get_plugins().array_kernels().get("outer") else [])
    assert len(lines) == 4 * len(titles), out
    for k, title in enumerate(titles):
        table = lines[4 * k: 4 * k + 4]
        assert table[0].startswith(f"{title} / np.multiply.outer") and table[1].split() == ["rows", "64", "5"]
        for line, rows in zip(table[2:], ("3", "70")):
            cells = line.split()
            assert cells[0] == rows and len(cells) == 3 and all(re.fullmatch(r"\d+\.\d\d", c) and float(c) > 0
                                                                 for c in cells[1:]), out
