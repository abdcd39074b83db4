"""benchmarks.memory trains the MLP in fresh processes and prints their peak memory."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_prints_a_peak_per_batch_with_and_without_tn_accel() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--batch", "1", "4", "--steps", "2"],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    rows = re.findall(r"^\s+(\d+)\s+(yes|no)\s+(\d+)\s+([\d.]+)$", out, flags=re.MULTILINE)
    assert [(batch, accel) for batch, accel, _, _ in rows] == [("1", "yes"), ("1", "no"), ("4", "yes"), ("4", "no")]
    for _, _, resident, traced in rows:
        assert 0 < float(traced) < int(resident), out  # the process holds more than what training allocates
