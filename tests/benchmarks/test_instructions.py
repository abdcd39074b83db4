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


def test_per_call_is_the_difference_of_two_counts_over_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {100: 50_000_000 + 100 * 829_000, 400: 50_000_000 + 400 * 829_000}  # start-up + calls
    monkeypatch.setattr(instructions, "count", lambda what, calls: counts[calls])
    assert instructions.per_call("phase:step", 100, 400) == 829_000


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_callgrind_counts_a_child_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """One real count (about 40 s: Python's start-up under valgrind), read back from callgrind's summary."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    assert instructions.count("phase:forward", 1) > 10_000_000  # start-up and imports included
