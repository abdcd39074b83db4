"""Instructions per training step, counted by valgrind's callgrind: a figure a shared machine's noise cannot move.

    python -m benchmarks.instructions                        # the 4-4-4-2 step of benchmarks.overhead, by phase
    python -m benchmarks.instructions mlp conv --batch 1 32  # benchmark models' tensornet steps

Wall-clock times of changes worth a few percent drown in the noise of a machine shared with other jobs; the
number of instructions a step executes does not. Each figure runs a fresh process under callgrind twice,
with ``--steps`` A and B calls after the same warm-up, and reports (count_B - count_A) / (B - A), so the
imports, the build and the warm-up cancel out. tn-accel's kernels are left out (numba's machine code does
not run the same way twice under valgrind), so optimizers take their NumPy path; BLAS runs on one thread and
hash seeds are fixed. Repeated runs agree within 0.3%. Instructions are not time: cache misses and memory
traffic are not counted (callgrind ``--cache-sim=yes`` simulates them), so this measures the Python and
NumPy work of a step, and ``benchmarks.run`` its speed.

The phases of the 4-4-4-2 step: ``forward`` is guess(..., return_state=True); ``learn`` is learn on that
state (loss, backward into the update's gradient buffer, the optimizer step); ``step`` is both.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

PHASES = ("step", "forward", "learn")


def tiny_call(phase: str) -> Callable[[], None]:
    """One call of ``phase`` on the 4-4-4-2 network of ``benchmarks.overhead`` (its layers, loss, optimizer)."""
    from benchmarks.overhead import tiny_network

    system, x, y = tiny_network()

    def forward() -> None:
        system.guess([x], return_state=True)

    _, state = system.guess([x], return_state=True)

    def learn() -> None:
        system.learn(state, [y], method="adam", scale=1e-3, loss="ce")

    def step() -> None:
        _, fresh = system.guess([x], return_state=True)
        system.learn(fresh, [y], method="adam", scale=1e-3, loss="ce")

    return {"forward": forward, "learn": learn, "step": step}[phase]


def model_call(name: str, batch: int) -> Callable[[], None]:
    """One training step of benchmark model ``name`` in tensornet, on a random batch."""
    import numpy as np

    from benchmarks.harness import random_batch, tn_stepper
    from benchmarks.run import all_specs

    spec = all_specs()[name]
    x, y = random_batch(spec, batch, np.random.default_rng(0))
    step = tn_stepper(spec, x, y)
    assert step is not None
    return step


def run_calls(what: str, calls: int) -> None:
    """The child process: build ``what`` ("phase:<phase>" or "model:<name>:<batch>"), warm up, then call it."""
    kind, *args = what.split(":")
    call = tiny_call(args[0]) if kind == "phase" else model_call(args[0], int(args[1]))
    for _ in range(3 + calls):  # the warm-up: first calls build caches, buffers and optimizer state
        call()


def count(what: str, calls: int) -> int:
    """Instructions of a fresh process running ``calls`` calls of ``what`` under callgrind."""
    # OpenBLAS picks its kernels from the CPU valgrind emulates (no AVX-512), not from a forced core type
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
    env.update(TN_DISABLE_PLUGINS="accel", PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
         "benchmarks.instructions", "--run", what, str(calls)],
        env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count for {what}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_call(what: str, low: int, high: int) -> int:
    return round((count(what, high) - count(what, low)) / (high - low))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="benchmark models (default: the 4-4-4-2 step by phase)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--steps", type=int, nargs=2, default=None, metavar=("A", "B"),
                        help="calls in the two runs (default: 100 400 for phases, 2 6 for models)")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--run", nargs=2, metavar=("WHAT", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_calls(args.run[0], int(args.run[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("benchmarks.instructions needs valgrind (callgrind) on the PATH")
    if not args.models:
        low, high = args.steps or (100, 400)
        for phase in args.phases:
            print(f"{phase:>8}: {per_call(f'phase:{phase}', low, high):,} instructions per call", flush=True)
        return
    low, high = args.steps or (2, 6)
    for name in args.models:
        for batch in args.batch:
            print(f"{name:>12} batch {batch:>4}: {per_call(f'model:{name}:{batch}', low, high):,} instructions per "
                  "step", flush=True)


if __name__ == "__main__":
    main()
