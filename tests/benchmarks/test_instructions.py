"""benchmarks.instructions: its child runs what it counts, and a count under callgrind is read back."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from benchmarks import instructions

ROOT = pathlib.Path(__file__).resolve().parents[2]


def child(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "benchmarks.instructions", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("what", [f"phase:{phase}" for phase in instructions.PHASES] + ["model:mlp:2"])
def test_the_child_runs_each_thing_it_counts(what: str) -> None:
    done = child("--run", what, "1")
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_a_count_under_callgrind_grows_with_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    one, three = instructions.count("phase:forward", 1), instructions.count("phase:forward", 3)
    assert 20_000 < (three - one) / 2 < 2_000_000  # a 4-4-4-2 forward pass: about 175k instructions
