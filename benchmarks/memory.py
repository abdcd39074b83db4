"""Peak memory of training the seed MLP, each figure from a fresh process.

    python -m benchmarks.memory                   # batch 1, 32 and 256, with and without tn-accel
    python -m benchmarks.memory --batch 256 --steps 50

Two figures per run: the peak of the process's resident memory (VmHWM: the interpreter, NumPy, SciPy,
numba where tn-accel is used, and the data), and the peak of what Python and NumPy allocate while
training (tracemalloc, from just before the network is built).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

TRAIN = textwrap.dedent("""
    import sys, tracemalloc
    import numpy as np
    from benchmarks.harness import random_batch
    from benchmarks.models_dense import SPECS
    batch, steps = int(sys.argv[1]), int(sys.argv[2])
    spec = next(s for s in SPECS if s.name == "mlp")
    x, y = random_batch(spec, batch, np.random.default_rng(0))
    tracemalloc.start()
    system, loss, optimizer = spec.build_tn()
    for _ in range(steps):
        _, state = system.guess([x], return_state=True)
        system.learn(state, [y], method=optimizer, scale=spec.lr, loss=loss)
    traced = tracemalloc.get_traced_memory()[1]
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
    print(int(peak) // 1024, traced / 2**20)
""")


def peak(batch: int, steps: int, accel: bool) -> tuple[int, float]:
    """(peak resident MiB, peak traced MiB) of a fresh process training the MLP for ``steps`` steps."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    if not accel:
        env["TN_DISABLE_PLUGINS"] = "accel"
    out = subprocess.run([sys.executable, "-c", TRAIN, str(batch), str(steps)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"{'batch':>6}{'tn-accel':>10}{'peak resident MiB':>20}{'peak traced MiB':>18}")
    for batch in args.batch:
        for accel in (True, False):
            resident, traced = peak(batch, args.steps, accel)
            print(f"{batch:>6}{'yes' if accel else 'no':>10}{resident:>20}{traced:>18.1f}", flush=True)


if __name__ == "__main__":
    main()
