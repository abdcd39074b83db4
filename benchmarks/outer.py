"""Which outer product is faster: a plugin's kernel, ``tn_core.neuron.outer``'s BLAS product, or NumPy's loop.

    python -m benchmarks.outer        # one thread, float32

A Dense layer's weight gradient at batch 1 is the outer product g x^T (rows: the layer's outputs, row
length: its inputs). Prints, for rows and row lengths, the time of BLAS's product of a column and a row
(sgemm, k = 1, beta = 0) over the time of ``np.multiply.outer(a, b, out=out)``, best of five:
``tn_core.neuron.outer`` takes the product for rows of up to 2048 numbers, where this ratio is at most
about 1. Where a plugin gives the primitive "outer" a kernel (hook ``tn_array_kernels``: tn-accel's numba
loop), a second table gives its time over NumPy's; ``outer`` takes it before the other two.
"""

from __future__ import annotations

import argparse
import timeit
from functools import partial

from benchmarks.run import limit_threads

ROWS = (8, 26, 64, 128, 225, 512, 1024, 5120)
ROW_LENGTHS = (26, 64, 225, 512, 1024, 2048, 5120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=ROWS)
    parser.add_argument("--lengths", type=int, nargs="+", default=ROW_LENGTHS, help="row lengths")
    args = parser.parse_args(argv)
    limit_threads(1)
    import numpy as np
    from scipy.linalg.blas import sgemm

    from tn_core.neuron import blas_outer
    from tn_core.plugins import get_plugins

    kernel = get_plugins().array_kernels().get("outer")
    paths = {"BLAS's product": partial(blas_outer, sgemm)}
    if kernel is not None:
        paths["the plugin's kernel"] = kernel
    rng = np.random.default_rng(0)
    ratios: dict[str, list[list[float]]] = {name: [] for name in paths}
    for rows in args.rows:
        for row in ratios.values():
            row.append([])
        for length in args.lengths:
            a, b = rng.random(rows, dtype=np.float32), rng.random(length, dtype=np.float32)
            out = np.empty((rows, length), np.float32)
            calls = min(2000, max(20, int(2e7 / (rows * length + 1000))))
            numpy_time = min(timeit.repeat(partial(np.multiply.outer, a, b, out=out), number=calls, repeat=5))
            for name, path in paths.items():
                path(a, b, out)  # compiled on first use
                ratios[name][-1].append(min(timeit.repeat(partial(path, a, b, out), number=calls, repeat=5))
                                        / numpy_time)
    for name, table in ratios.items():
        print(f"{name} / np.multiply.outer, time; rows down, row lengths across")
        print("rows " + "".join(f"{length:>7d}" for length in args.lengths))
        for rows, row in zip(args.rows, table):
            print(f"{rows:4d} " + "".join(f"{ratio:7.2f}" for ratio in row))


if __name__ == "__main__":
    main()
