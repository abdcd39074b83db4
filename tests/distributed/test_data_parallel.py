"""tn-distributed: DataParallel under ``mpiexec -n 2`` on this machine, compared with one process.

Each test starts the processes of tests/distributed/mpi_worker.py (the venv's
MPICH mpiexec, fork launcher: loopback only) and reads what every rank wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="tn-distributed needs mpi4py: pip install ./tn_distributed")
pytest.importorskip("tn_distributed", reason="tn-distributed is not installed: pip install ./tn_distributed")

import tn_core as tn
from tests.distributed import mpi_worker as worker
from tests.training.helpers import params

ROOT = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).with_name("mpiexec")
#: one BLAS thread per process: the ranks share the machine's cores
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_worker(mode: str, out: Path, ranks: int | None) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the worker in ``mode`` as ``ranks`` MPI processes (None: one process, no mpiexec); (result, seconds)."""
    if ranks is not None and not MPIEXEC.exists():
        pytest.skip(f"no mpiexec beside {sys.executable}: the mpich wheel (a dependency of tn-distributed) is missing")
    launch = [] if ranks is None else [str(MPIEXEC), "-launcher", "fork", "-n", str(ranks)]
    start = time.perf_counter()
    result = subprocess.run([*launch, sys.executable, "-m", "tests.distributed.mpi_worker", mode, str(out)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    return result, time.perf_counter() - start


#: what the module's one two-rank training run left: the finished mpiexec and the folder its ranks wrote
Run = tuple[subprocess.CompletedProcess[str], Path]


def reports(out: Path, ranks: int) -> list[tuple[dict, dict[str, np.ndarray]]]:
    return [(json.loads((out / f"rank{r}.json").read_text()), dict(np.load(out / f"rank{r}.npz")))
            for r in range(ranks)]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("train")
    result, _ = run_worker("train", out, ranks=2)
    assert result.returncode == 0, result.stderr
    return result, out


def test_two_ranks_train_as_one_process_with_the_same_seed_and_batches(two_ranks: Run) -> None:
    _, out = two_ranks
    x, y, validation = worker.data()
    alone = worker.seeded_classifier(0)  # rank 0's network and generator; rank 1 started from others
    history = alone.fit(x, y, validation=validation, verbose=0, **worker.FIT)
    for report, arrays in reports(out, 2):
        assert report["size"] == 2
        for k, expected in enumerate(params(alone)):
            np.testing.assert_allclose(arrays[f"fit/{k}"], expected, rtol=0, atol=1e-9)
        assert set(report["history"]) == set(history)
        for key, values in history.items():
            np.testing.assert_allclose(report["history"][key], values, rtol=1e-12, err_msg=key)
        assert report["detached_after_fit"]


def test_a_custom_loop_with_attach_and_shard_learns_as_one_process(two_ranks: Run) -> None:
    _, out = two_ranks
    x, y, _ = worker.data()
    alone = worker.seeded_classifier(0)
    worker.custom_loop(alone, x, y)
    for _, arrays in reports(out, 2):
        for k, expected in enumerate(params(alone)):
            np.testing.assert_allclose(arrays[f"loop/{k}"], expected, rtol=0, atol=1e-9)


def test_parameters_buffers_and_generators_are_bitwise_equal_across_ranks(two_ranks: Run) -> None:
    _, out = two_ranks
    (report, first), (other, second) = reports(out, 2)
    assert report["noisy_generator"] == other["noisy_generator"]  # so the next shuffle is the same on both
    assert sorted(first) == sorted(second)
    assert any(key.endswith("running_mean") for key in first)  # BatchNorm's buffers came from each rank's share
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key


def test_only_rank_0_prints_progress_and_writes_files(two_ranks: Run) -> None:
    result, out = two_ranks
    epochs = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/4", "2/4", "3/4", "4/4"], result.stdout
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("rank"))
    assert written == ["callback-rank0.tn", *(f"checkpoint-rank0-{e}.tn" for e in range(1, 5)), "end-rank0.tn",
                       "weights-rank0.npz"]
    assert [report["checkpoints_listed"] for report, _ in reports(out, 2)] == [4, 0]  # what each rank wrote
    saved = tn.load(out / "checkpoint-rank0-4.tn")
    _, arrays = reports(out, 1)[0]
    for k, (_, _, array) in enumerate(saved.parameters()):
        np.testing.assert_array_equal(array, arrays[f"fit/{k}"])


def test_different_networks_on_the_ranks_fail_at_the_broadcast_on_every_rank(two_ranks: Run) -> None:
    _, out = two_ranks
    for report, _ in reports(out, 2):
        assert report["mismatch"] == (
            "DataParallel: the 2 processes built different networks: rank 0 has layer input_1 Input(shape=(6,), "
            "dtype=None) where rank 1 has layer input_1 Input(shape=(5,), dtype=None); every process must build the "
            "same System"
        )
        assert report["attached_twice"] == (
            "DataParallel.attach: the System is already attached to DataParallel(rank={}, size=2)".format(
                report["rank"]))


def test_ranks_that_disagree_fail_alike_on_every_rank_and_a_failed_fit_detaches(two_ranks: Run) -> None:
    """An activation or a learning rate that differs makes the ranks' parameters or outputs differ; fit's epochs
    that differ leave one rank waiting in a reduction: each is a ConfigError on every rank, before any update.
    Then the fit's System runs alone on each rank again: rank 0 evaluates it alone."""
    _, out = two_ranks
    for report, _ in reports(out, 2):
        network, optimizer, fit = report["disagreements"]
        assert network.startswith("DataParallel: the 2 processes built different networks: rank 0 has layer dense_1 "
                                  "Dense(") and "activation=Tanh()" in network and "activation=ReLU(" in network
        assert optimizer.startswith("DataParallel: the 2 processes built different networks: rank 0 has optimizer "
                                    "Adam({'lr': 0.01, ")
        assert "where rank 1 has optimizer Adam({'lr': 0.02, " in optimizer
        assert fit == ("DataParallel: the 2 processes called fit differently: rank 0 has fit epochs= 2 where rank 1 "
                       "has fit epochs= 3; every process must walk the same batches")
        assert report["detached_after_failed_fit"]
    assert reports(out, 2)[0][0]["evaluated_alone"]


def test_an_exception_on_one_rank_ends_every_rank_within_seconds(tmp_path: Path) -> None:
    result, seconds = run_worker("fault", tmp_path, ranks=2)
    assert result.returncode != 0
    assert seconds < 15, f"the job took {seconds:.1f} s to end"
    assert ("tensornet rank 1 of 2: PluginError: tn_epoch_end of callback RaiseOnRank1 raised RuntimeError: boom on "
            "rank 1") in result.stderr, result.stderr
    assert "Traceback" in result.stderr and "in on_epoch_end" in result.stderr


def test_a_single_process_runs_it_as_a_no_op(tmp_path: Path) -> None:
    result, _ = run_worker("single", tmp_path, ranks=None)
    assert result.returncode == 0, result.stderr
    [(report, arrays)] = reports(tmp_path, 1)
    assert (report["rank"], report["size"], report["shard"]) == (0, 1, [0, 1, 2, 3, 4])
    assert report["same_history"] and not report["dp_was_asked"]
    assert report["errors"] == [
        "DataParallel.shard needs an array with a first (batch) axis, got float64 of shape ()",
        "DataParallel.attach: this DataParallel already runs another System; detach() it first",
    ]
    for key in (k for k in arrays if k.startswith("alone/")):
        assert arrays[key].tobytes() == arrays[key.replace("alone/", "dp/")].tobytes()


def test_data_parallel_is_a_registered_callback() -> None:
    from tn_distributed import DataParallel

    assert tn.DataParallel is DataParallel and issubclass(DataParallel, tn.Callback)
