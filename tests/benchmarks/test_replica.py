"""benchmarks.replica: the replica computes tensornet's MLP step, and the tool prints its comparison."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tn_accel.kernels")  # the replica runs tn-accel's Adam kernel, as tensornet does with it

from benchmarks import replica as replica_tool
from benchmarks.harness import random_batch
from benchmarks.replica import MLPReplica
from benchmarks.run import all_specs

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("batch", [1, 5])
def test_the_replica_computes_tensornets_losses_and_parameters(batch: int) -> None:
    """Bit for bit: the same NumPy calls on the same values, in the same order."""
    spec = all_specs()["mlp"]
    x, y = random_batch(spec, batch, np.random.default_rng(batch))
    system, loss, optimizer = spec.build_tn()
    replica = MLPReplica(system, x, y, spec.lr)
    for _ in range(3):
        _, state = system.guess([x], return_state=True)
        expected = system.learn(state, [y], method=optimizer, scale=spec.lr, loss=loss)
        assert replica() == expected
    for (layer, name, array), copy in zip(system.parameters(), replica.params):
        np.testing.assert_array_equal(copy, array, err_msg=f"{layer}.{name}")
    assert replica.optimizer.steps == system.optimizer.steps == 3


def test_the_replica_refuses_a_non_finite_batch() -> None:
    spec = all_specs()["mlp"]
    x, y = random_batch(spec, 2, np.random.default_rng(0))
    system, _, _ = spec.build_tn()
    x[1, 3, 4] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        MLPReplica(system, x, y)()


def test_prints_each_system_and_the_ratios() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.replica", "--batch", "2", "--seconds", "0.1",
                          "--rounds", "1"], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    row = re.search(r"^\s*2\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+|-)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+|-)"
                    r"\s+([\d.]+|-)$", out, re.MULTILINE)
    assert row is not None, out
    tn, replica, floor, overwriting, jax, tn_ratio, floor_ratio, jax_ratio, jax_bound = row.groups()
    assert min(float(tn), float(replica), float(floor), float(overwriting)) > 0
    # the ratios come from unrounded times, the us figures printed are rounded: 1% apart at ~100 us
    assert float(tn_ratio) == pytest.approx(float(tn) / float(replica), rel=0.01, abs=0.01)
    assert float(floor_ratio) == pytest.approx(float(replica) / float(floor), rel=0.01, abs=0.01)
    assert (jax == "-") == (jax_ratio == "-") == (jax_bound == "-")  # JAX is optional
    if jax != "-":
        assert float(jax_ratio) == pytest.approx(float(jax) / float(replica), rel=0.01, abs=0.01)
        assert float(jax_bound) == pytest.approx(float(jax) / float(overwriting), rel=0.01, abs=0.01)


def test_says_what_it_needs_where_tn_accel_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "tn_accel" else
                        find_spec(name, *args))
    with pytest.raises(SystemExit, match="install tn-accel"):
        replica_tool.main(["--batch", "1"])
