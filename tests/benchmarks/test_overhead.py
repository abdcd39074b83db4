"""benchmarks.overhead runs end to end and prints each figure it says it measures."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_prints_the_fixed_cost_and_the_products() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.overhead", "--rounds", "1", "--seconds", "0.05"],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    fixed = re.search(r"fixed cost of a step \(4-4-4-2 network, batch 1\): (\d+) us", out)
    assert fixed is not None and int(fixed.group(1)) > 0, out
    for batch in (32, 256):
        product = re.search(rf"x \({batch}, 1024\) W\^T \(1024, 225\): numpy (\d+) us", out)
        assert product is not None and int(product.group(1)) > 0, out
