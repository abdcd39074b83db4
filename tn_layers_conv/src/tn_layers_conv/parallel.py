"""Run work over slices of the batch on a few threads.

NumPy's copies, ufuncs and BLAS calls release the GIL, and a conv layer's
matmuls are many small per-sample products that BLAS runs on one thread
each, so splitting the batch is how Conv uses more than one core. Working
slice by slice also keeps the work arrays in cache (each thread reuses its
own through ``kit.scratch``).

A batch runs on the threads only when each thread gets a full slice.
``TN_NUM_THREADS`` sets the number of threads, else ``OMP_NUM_THREADS``
(which also caps PyTorch and BLAS), else the CPUs this process may run on,
at most 8; 1 runs everything inline. ``python -m benchmarks.conv_paths``
times the slice size and the threads.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: work-array bytes per batch slice, so that they stay in cache (benchmarks.conv_paths --slices measures it)
SLICE_BYTES = 4 << 20


@functools.cache
def threads() -> int:
    for variable in ("TN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.strip().isdigit():
            return max(1, int(value))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 8))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="tn-conv")


def slice_count(n: int, sample_bytes: int) -> int:
    """How many slices ``over_batch`` cuts a batch of n samples into."""
    return max(1, -(-n * sample_bytes // SLICE_BYTES))


def over_batch(work: Callable[[slice], T], n: int, sample_bytes: int) -> list[T]:
    """[work(s) for s in slices of range(n)], each slice's work arrays (``sample_bytes`` per
    sample) at most SLICE_BYTES; on the threads when there are at least as many slices as threads."""
    size = -(-n // slice_count(n, sample_bytes))
    parts = [slice(a, min(a + size, n)) for a in range(0, n, size)]
    if threads() == 1 or len(parts) < threads():
        return [work(part) for part in parts]
    return list(_pool().map(work, parts))

