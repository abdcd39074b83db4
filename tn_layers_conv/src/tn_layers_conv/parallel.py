"""Run work over slices of the batch on a few threads, with per-thread work arrays.

NumPy's copies, ufuncs and BLAS calls release the GIL, and a conv layer's
matmuls are many small per-sample products that BLAS runs on one thread
each, so splitting the batch is how Conv uses more than one core. Working
slice by slice also keeps the im2col columns in cache, in a ``scratch``
array each thread reuses instead of fresh memory (which the kernel would
have to zero on first touch) at every call.

On the conv benchmark (2 cores), two threads made batch-256 steps 1.4x
faster with NumPy's BLAS on one thread, 1.05-1.2x with its default threads
(whose idle workers spin on the second core), and batch-32 steps no faster,
so a batch runs on the threads only when each thread gets a full slice.
``TN_NUM_THREADS`` sets the number of threads, else ``OMP_NUM_THREADS``
(which also caps PyTorch and BLAS), else the CPUs this process may run on,
at most 8; 1 runs everything inline.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: work-array bytes per batch slice, so that the columns stay in cache (one thread, conv benchmark
#: at batch 256, CPU ms per step: 0.5 MB slices 158, 4 MB 137-140, the whole batch at once 146-151)
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


def over_batch(work: Callable[[slice], T], n: int, sample_bytes: int) -> list[T]:
    """[work(s) for s in slices of range(n)], each slice's work arrays (``sample_bytes`` per
    sample) at most SLICE_BYTES; on the threads when there are at least as many slices as threads."""
    count = -(-n * sample_bytes // SLICE_BYTES)
    size = -(-n // count)
    parts = [slice(a, min(a + size, n)) for a in range(0, n, size)]
    if threads() == 1 or len(parts) < threads():
        return [work(part) for part in parts]
    return list(_pool().map(work, parts))


_local = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """This thread's work array ``name`` of ``shape`` (contents undefined), reused by its next call."""
    size = math.prod(shape) * np.dtype(dtype).itemsize
    buffers = _local.__dict__.setdefault("buffers", {})
    if name not in buffers or buffers[name].nbytes < size:
        buffers[name] = np.empty(size, dtype=np.uint8)
    return buffers[name][:size].view(dtype).reshape(shape)
