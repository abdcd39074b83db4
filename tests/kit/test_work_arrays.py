"""Work arrays reused across steps (tn_core.work_arrays, offered to plugins through kit)."""

from __future__ import annotations

import threading

import numpy as np

from tn_core.kit import reusable_empty, scratch
from tn_core.work_arrays import KEEP


def test_an_array_is_reused_only_once_nothing_refers_to_it() -> None:
    held = [reusable_empty((3, 5), np.float32) for _ in range(KEEP + 3)]
    assert len({id(a) for a in held}) == len(held)
    view = held[0][1:]
    first = id(held[0])  # the pool keeps it alive, so the id stays its own
    del held
    again = reusable_empty((3, 5), np.float32)
    assert id(again) != first  # the view still refers to it
    assert again.shape == (3, 5) and again.dtype == np.float32
    del view, again
    assert id(reusable_empty((3, 5), np.float32)) == first
    assert id(reusable_empty((3, 5), np.float64)) != first


def test_scratch_is_reused_per_thread() -> None:
    a = scratch("test", (4, 5), np.float32)
    b = scratch("test", (2, 3), np.float32)
    assert np.shares_memory(a, b)
    assert b.shape == (2, 3) and b.dtype == np.float32


def test_scratch_is_per_thread() -> None:
    mine = scratch("per-thread", (8,), np.float64)
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(scratch("per-thread", (8,), np.float64)))
    worker.start()
    worker.join()
    assert not np.shares_memory(mine, theirs[0])
