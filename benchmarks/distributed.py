"""Data-parallel throughput: the seed MLP trained by fit with tn.DataParallel on 1 and 2 MPI ranks.

    python -m benchmarks.distributed                       # 1 and 2 ranks, batch 256, 5 rounds
    python -m benchmarks.distributed --ranks 1 2 4 --batch 256 1024 --rounds 7
    python -m benchmarks.distributed --phases              # where an update's time goes

Each rank uses one BLAS thread. A round runs ``mpiexec -n N`` once for each
rank count in turn (so all see the same machine load); every run trains the
seed's MLP (1024-225-225-26, Adam, ce, float32) by fit on a global batch of
``--batch``: 4 warm-up updates, then ``--segments`` fits of ``--steps``
updates each, timed between barriers. Rank 0 reports:

- samples/s of the whole job (global samples per second of wall time), of
  the median segment and of the fastest one (on a machine shared with other
  work the fastest segment is the one least disturbed by it);
- the Allreduce time per update inside training (the one call of
  DataParallel.reduce_gradients; it includes waiting for the slower rank);
- the same Allreduce timed alone, after a barrier (the transfer itself).

Figures are medians over rounds; speed-ups are N ranks' samples/s over 1 rank's.
``--phases`` times instead, per update of a loop of ``learn`` steps on each
rank's shard, the forward pass, the loss, the backward pass, the update
(without the Allreduce: the optimizer step, and with N > 1 the copying into
and out of the Allreduce buffer) and the Allreduce.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.run import THREAD_VARIABLES

ROOT = Path(__file__).resolve().parents[1]


class TimedComm:
    """An mpi4py communicator whose Allreduce calls are timed (everything else passes through)."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.seconds: list[float] = []

    def Allreduce(self, *args: Any) -> None:
        start = time.perf_counter()
        self.comm.Allreduce(*args)
        self.seconds.append(time.perf_counter() - start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.comm, name)


def worker(batch: int, steps: int, segments: int) -> None:
    """One rank: train, then print rank 0's figures as JSON."""
    import numpy as np
    from mpi4py import MPI

    import tn_core as tn
    from benchmarks.models_dense import mlp_tn

    system, loss, optimizer = mlp_tn()
    comm = TimedComm(MPI.COMM_WORLD)
    rng = np.random.default_rng(0)  # every rank the same data, as if read from one file
    x = rng.random((batch * steps, 32, 32), dtype=np.float32)
    y = np.eye(26, dtype=np.float32)[rng.integers(0, 26, batch * steps)]
    fit = {"batch_size": batch, "optimizer": optimizer, "loss": loss, "lr": 1e-3, "verbose": 0}
    system.use_optimizer(optimizer, 1e-3)
    tn.DataParallel(comm).attach(system)  # attached: every fit below runs data-parallel
    system.fit(x[:batch * 4], y[:batch * 4], **fit)  # warm-up
    comm.seconds.clear()
    seconds = []
    for _ in range(segments):
        comm.Barrier()
        start = time.perf_counter()
        system.fit(x, y, **fit)
        comm.Barrier()
        seconds.append(time.perf_counter() - start)
    buffer = np.zeros(sum(a.size for _, _, a in system.parameters()) + 1, np.float32)
    alone = []
    for _ in range(50):
        comm.Barrier()
        start = time.perf_counter()
        comm.comm.Allreduce(MPI.IN_PLACE, buffer)
        alone.append(time.perf_counter() - start)
    if comm.Get_rank() == 0:
        samples = batch * steps
        print(json.dumps({"median": samples / statistics.median(seconds), "best": samples / min(seconds),
                          "allreduce_in_training_s": statistics.median(comm.seconds) if comm.seconds else 0.0,
                          "allreduce_alone_s": statistics.median(alone), "buffer_bytes": buffer.nbytes}))


def phases(batch: int, steps: int) -> None:
    """One rank: milliseconds per update of each phase of ``learn`` steps on this rank's shard, as JSON."""
    import numpy as np
    from mpi4py import MPI

    import tn_core as tn
    from benchmarks.models_dense import mlp_tn

    system, loss, optimizer = mlp_tn()
    comm = TimedComm(MPI.COMM_WORLD)
    dp = tn.DataParallel(comm)
    optimizer = system.use_optimizer(optimizer, 1e-3)
    dp.attach(system)
    rng = np.random.default_rng(0)
    x = dp.shard(rng.random((batch, 32, 32), dtype=np.float32))
    y = dp.shard(np.eye(26, dtype=np.float32)[rng.integers(0, 26, batch)])
    times: dict[str, list[float]] = {name: [] for name in ("forward", "loss", "backward", "update", "allreduce")}
    for step in range(steps + 10):
        dp.shard(np.arange(batch))  # this rank's weight for the reduction
        comm.seconds.clear()
        t0 = time.perf_counter()
        state = system.forward([x], training=True)
        t1 = time.perf_counter()
        value, seeds, fused = system.loss_gradients(state, [y], loss)
        t2 = time.perf_counter()
        grads, _ = system.backward(state, seeds, fused, input_grads=False)
        t3 = time.perf_counter()
        system.apply_gradients(grads, optimizer, value)
        t4 = time.perf_counter()
        reduced = sum(comm.seconds)
        if step >= 10:  # warm-up
            for name, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3 - reduced, reduced)):
                times[name].append(seconds)
    print(json.dumps({"rank": comm.Get_rank(), **{name: 1e3 * statistics.median(v) for name, v in times.items()}}))


def run(mode: str, ranks: int, batch: int, steps: int, segments: int) -> dict[str, float]:
    """Rank 0's figures from ``mpiexec -n ranks`` of this module's worker ``mode`` (train or phases)."""
    mpiexec = Path(sys.executable).with_name("mpiexec")
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
    command = [str(mpiexec), "-launcher", "fork", "-n", str(ranks), sys.executable, "-m", "benchmarks.distributed",
               "--worker", mode, "--batch", str(batch), "--steps", str(steps), "--segments", str(segments)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return next(line for line in lines if line.get("rank", 0) == 0)


def print_phases(args: argparse.Namespace) -> None:
    for batch in args.batch:
        results = {n: [run("phases", n, batch, args.steps, 0) for _ in range(args.rounds)] for n in args.ranks}
        medians = {n: {key: statistics.median(r[key] for r in runs) for key in runs[0] if key != "rank"}
                   for n, runs in results.items()}
        print(f"batch {batch}, ms per update on rank 0 (medians of {args.rounds} runs)")
        print(f"{'phase':>10}" + "".join(f"{f'{n} ranks':>10}" for n in args.ranks))
        for phase in medians[args.ranks[0]]:
            print(f"{phase:>10}" + "".join(f"{medians[n][phase]:>10.2f}" for n in args.ranks))
        print(f"{'total':>10}" + "".join(f"{sum(medians[n].values()):>10.2f}" for n in args.ranks), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=[256], help="global batch sizes")
    parser.add_argument("--steps", type=int, default=20, help="updates per timed segment")
    parser.add_argument("--segments", type=int, default=8, help="timed segments per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--phases", action="store_true", help="time the phases of learn steps instead")
    parser.add_argument("--worker", choices=["train", "phases"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "train":
        worker(args.batch[0], args.steps, args.segments)
        return
    if args.worker == "phases":
        phases(args.batch[0], args.steps)
        return
    if args.phases:
        print_phases(args)
        return
    print(f"seed MLP, one BLAS thread per rank, medians of {args.rounds} rounds")
    print(f"{'batch':>5}{'ranks':>6}{'samples/s':>11}{'speed-up':>10}{'best seg.':>11}{'speed-up':>10}"
          f"{'allreduce ms (in training)':>28}{'(alone)':>9}")
    for batch in args.batch:
        results: dict[int, list[dict[str, float]]] = {n: [] for n in args.ranks}
        for _ in range(args.rounds):
            for n in args.ranks:
                results[n].append(run("train", n, batch, args.steps, args.segments))
        medians = {n: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for n, runs in results.items()}
        base = medians[args.ranks[0]]
        for n, m in medians.items():
            print(f"{batch:>5}{n:>6}{m['median']:>11.0f}{m['median'] / base['median']:>9.2f}x"
                  f"{m['best']:>11.0f}{m['best'] / base['best']:>9.2f}x"
                  f"{1e3 * m['allreduce_in_training_s']:>28.3f}{1e3 * m['allreduce_alone_s']:>9.3f}", flush=True)
    print(f"Allreduce buffer: {results[args.ranks[0]][0]['buffer_bytes'] / 1e6:.2f} MB per update")


if __name__ == "__main__":
    main()
