"""Conv's correlation paths side by side per shape, what ``paths.choose`` picks, and the fit of its cost model.

    python -m benchmarks.conv_paths                  # the conv layers of the benchmark models, batch 32 and 256
    python -m benchmarks.conv_paths --grid           # 150 random 2-d shapes: sizes, channels, kernels, strides, batch
    python -m benchmarks.conv_paths --fit            # the grid and the models' layers, then paths.COST fitted
    python -m benchmarks.conv_paths --slices         # the conv model's step with several parallel.SLICE_BYTES

Each path (tn_layers_conv.paths) is timed on float32 batches, one thread,
for each of z, dW and dx (``correlate``, ``weight_gradient``,
``input_gradient``), in milliseconds of the calling thread's CPU time
(steadier than wall time on a shared machine), the least of ``--repeats``
runs. Each row then names the path ``choose`` picks (``*`` where it is not
the fastest measured) and what the pick costs over the fastest; the summary
gives the same over all rows, beside always taking one path.

``--fit`` measures the grid once and the models' layers three times (each
of those weighing three times: they are the shapes the benchmarks run),
then finds the seconds per unit of work (``paths.COST``, to paste in) that
best predict the measured times: least squares on the relative error with
non-negative constants (scipy.optimize.nnls).

What it measured on a shared 2-core x86 machine (2026-12, NumPy 2 with
OpenBLAS, one thread; the load of other jobs moves single timings by 30%
and more): on the 150 shapes of ``--grid``, timed again after the fit, the
path ``choose`` picks took 5% longer on average than the faster path of
each shape and step (6% at the 90th percentile), always ``rows`` (Conv
before the choice) 54% (115%), always ``plain`` 23% (61%). ``plain`` wins on small
images and many output channels, ``rows`` on large images with few output
channels and on strides, and for dx. In training steps (old and new layers
in one process, steps interleaved, CPU time): small_conv's step took 0.77x
the time of the ``rows``-only layer at batch 32 and 256 and 0.91x at batch
1; the conv and conv_bn models run ``rows`` as before.

Two more paths were measured and left out. Direct (a matmul per kernel
offset, no im2col; ``rows`` with every axis looped) was 1.3-11x slower than
``rows`` on 32x32 images at batch 32, except at 64 channels (1.2x faster);
``rows`` was also 1.4-2.6x faster than unrolling every axis there. FFT
(stride 1: real FFTs over the sliding axes, a matmul per frequency over
channels; commit 79e6492) matched the plain definitions to 1e-14 in float64
and, timed alone, beat ``rows`` by 1.2-2.5x for dx on few channels with 5x5
kernels; but inside training steps its spectra, about 4 MB of fresh memory
per call on the conv model's 32x32x5 layers (600-800 page faults), made
its forward 1.7x slower than timed alone and the conv and conv_bn steps 8-10%
slower at batch 32 (no faster at 256) than ``rows``.

Slices of 4 MB made batch-256 steps of the conv model 7% faster than the
whole batch at once and 13% faster than 0.5 MB slices; two threads made
them 1.4x faster (one BLAS thread each) and batch-32 steps no faster.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks.run import all_specs, limit_threads

#: (batch, per-sample input shape, kernel, stride, output channels) of the benchmark models' conv layers
MODEL_LAYERS = [(batch, shape, kernel, 1, out) for batch in (32, 256)
                for shape, kernel, out in [((8, 8, 1), (3, 3), 16),  # small_conv
                                           ((32, 32, 1), (5, 5), 5), ((32, 32, 5), (5, 5), 5)]]  # conv


def grid(count: int = 150, seed: int = 0) -> list[tuple]:
    """``count`` shapes drawn from sizes 8-32, 1-64 channels, 3x3 and 5x5 kernels, stride 1 or 2, 4-64 outputs."""
    import numpy as np

    cases = list(itertools.product((8, 32, 128), (8, 16, 32), (1, 4, 16, 64), (3, 5), (1, 2), (4, 16, 64)))
    picked = np.random.default_rng(seed).permutation(len(cases))[:count]
    return [(b, (s, s, c), (k, k), stride, o) for b, s, c, k, stride, o in (cases[i] for i in picked)]


def cpu_ms(run: Callable[[], Any], repeats: int) -> float:
    """The least CPU time of this thread over ``repeats`` runs (after one to warm up), in milliseconds."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        run()
        best = min(best, time.thread_time() - start)
    return best * 1e3


def measure(case: tuple, repeats: int) -> dict[str, dict[str, float]]:
    """{path name: {step: ms}} for one shape, for the paths that apply."""
    import numpy as np

    from tn_layers_conv import paths
    from tn_layers_conv.window import window

    batch, shape, kernel, stride, out = case
    geo = window(shape, kernel, (stride,) * len(kernel), (1,) * len(kernel), True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *geo.spatial, geo.channels)).astype(np.float32)
    w = rng.normal(size=(out, *kernel, geo.channels)).astype(np.float32)
    g = rng.normal(size=(batch, *geo.out, out)).astype(np.float32)

    def runs(path: type) -> dict[str, Callable[[], Any]]:
        return {step: functools.partial(getattr(paths, step), geo, *arrays, path=path)
                for step, arrays in (("correlate", (x, w)), ("weight_gradient", (x, g)), ("input_gradient", (g, w)))}

    return {name: {step: cpu_ms(run, repeats) for step, run in runs(path).items()}
            for name, path in paths.PATHS.items() if path.applies(geo)}


def compare(cases: list[tuple], repeats: int) -> list[tuple[tuple, dict]]:
    """Print each case's times and picks; return the measurements."""
    from tn_layers_conv import paths
    from tn_layers_conv.window import window

    names = list(paths.PATHS)
    print(f"{'batch':>5} {'input':>12} {'kernel':>6} {'stride':>6} {'out':>4} {'step':>16}"
          + "".join(f"{name + ' ms':>10}" for name in names) + f"{'picked':>9}{'over':>6}")
    measured, regrets = [], {"choose": [], **{name: [] for name in names}}
    for case in cases:
        batch, shape, kernel, stride, out = case
        times = measure(case, repeats)
        measured.append((case, times))
        geo = window(shape, kernel, (stride,) * len(kernel), (1,) * len(kernel), True)
        for step in paths.STEPS:
            ms = {name: times[name][step] for name in times}
            fastest = min(ms.values())
            picked = paths.choose(geo, out, batch, step).name
            regrets["choose"].append(ms[picked] / fastest)
            for name in names:
                regrets[name].append(ms.get(name, float("nan")) / fastest)
            print(f"{batch:>5} {shape!s:>12} {kernel[0]}x{kernel[1]:<4} {stride:>6} {out:>4} {step:>16}"
                  + "".join(f"{ms[n]:>10.2f}" if n in ms else f"{'-':>10}" for n in names)
                  + f"{picked + ('' if ms[picked] == fastest else '*'):>9}{ms[picked] / fastest - 1:>6.0%}", flush=True)
    for name, values in regrets.items():
        known = sorted(v for v in values if v == v)
        print(f"# {name:>7}: {sum(known) / len(known) - 1:.0%} over the fastest on average, "
              f"{known[int(0.9 * (len(known) - 1))] - 1:.0%} at the 90th percentile ({len(known)} measurements)")
    return measured


def fit(measured: list[tuple[tuple, dict]]) -> dict[str, float]:
    """paths.COST fitted to the measurements: non-negative, least squares on the relative error."""
    import numpy as np
    from scipy.optimize import nnls

    from tn_layers_conv import paths
    from tn_layers_conv.window import window

    kinds = list(paths.COST)
    rows, targets = [], []
    for (batch, shape, kernel, stride, out), times in measured:
        geo = window(shape, kernel, (stride,) * len(kernel), (1,) * len(kernel), True)
        for name, by_step in times.items():
            for step, ms in by_step.items():
                rows.append([paths.cost(paths.PATHS[name], geo, out, batch, step, {kind: 1.0})
                             for kind in kinds])
                targets.append(ms / 1e3)
    units, seconds = np.array(rows), np.array(targets)
    scale = np.where(units.max(axis=0) > 0, units.max(axis=0), 1.0)
    solution, _ = nnls(units / scale / seconds[:, None], np.ones(len(seconds)))
    return {kind: float(f"{value:.3g}") for kind, value in zip(kinds, solution / scale)}


def slices(seconds: float, rounds: int) -> None:
    """The conv model's training step with several slice sizes (alternated, wall time)."""
    import numpy as np

    from benchmarks.harness import alternate, random_batch, tn_stepper
    from tn_layers_conv import parallel

    spec = all_specs()["conv"]
    sizes = {"0.5 MB": 1 << 19, "4 MB": 4 << 20, "whole batch": 1 << 40}
    for batch in (32, 256):
        x, y = random_batch(spec, batch, np.random.default_rng(0))
        step = tn_stepper(spec, x, y)

        def with_slices(size: int, step: Callable[[], None] = step) -> Callable[[], None]:
            def run() -> None:
                saved, parallel.SLICE_BYTES = parallel.SLICE_BYTES, size
                try:
                    step()
                finally:
                    parallel.SLICE_BYTES = saved

            return run

        rates = alternate({name: with_slices(size) for name, size in sizes.items()}, batch, seconds, rounds)
        print(f"batch {batch:>4}: " + ", ".join(f"{name} {1e3 * batch / rate:.1f} ms" for name, rate in rates.items()),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--grid", action="store_true", help="random 2-d shapes instead of the models' layers")
    mode.add_argument("--fit", action="store_true", help="measure the grid, then fit paths.COST to it")
    mode.add_argument("--slices", action="store_true", help="the conv model's step for several slice sizes")
    parser.add_argument("--threads", type=int, default=1, help="threads for Conv and NumPy's BLAS (slices only)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per path and step; the least counts")
    parser.add_argument("--save", help="also write the measurements to this JSON file")
    args = parser.parse_args()
    limit_threads(args.threads)
    if args.slices:
        slices(seconds=6.0, rounds=5)
        return
    measured = compare(grid() if args.grid or args.fit else MODEL_LAYERS, args.repeats)
    if args.fit:
        measured += 3 * [row for _ in range(3) for row in compare(MODEL_LAYERS, args.repeats)]
    if args.save:
        with open(args.save, "w", encoding="utf-8") as file:
            json.dump([[list(case), times] for case, times in measured], file)
    if args.fit:
        print("COST =", fit(measured))


if __name__ == "__main__":
    main()
