"""The data-parallel protocol (tn_core.parallel) emulated with threads instead of MPI processes.

Each thread is one process of the run: its own System, and a ThreadParallel
that shares batches by rank and sums over a barrier and shared slots, in rank
order, so every rank gets the same bits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np

import tn_core as tn
from tn_core.kit import Parallel
from tn_core.plugins import get_plugins

from .helpers import classifier


class Board:
    """What the emulated processes share: a barrier and one slot per rank."""

    def __init__(self, size: int) -> None:
        self.barrier = threading.Barrier(size, timeout=60)  # a failing rank breaks it instead of hanging the rest
        self.slots: list[np.ndarray | None] = [None] * size


class ThreadParallel(Parallel):
    """Rank ``rank`` of ``size``: a contiguous 1/size of each batch, sums over the Board."""

    def __init__(self, rank: int, board: Board) -> None:
        self.rank, self.size, self.board = rank, len(board.slots), board
        self.writes_output = rank == 0
        self.weight = 1.0 / self.size

    def share(self, batch: np.ndarray) -> np.ndarray:
        mine = np.array_split(batch, self.size)[self.rank]
        self.weight = len(mine) / len(batch)
        return mine

    def reduce_sums(self, values: np.ndarray) -> np.ndarray:
        self.board.slots[self.rank] = np.array(values, dtype=np.float64)
        self.board.barrier.wait()
        total = np.sum(self.board.slots, axis=0)
        self.board.barrier.wait()  # everyone has read the slots before anyone writes them again
        return total

    def reduce_gradients(self, system: Any, grads: list[np.ndarray | None], loss: float) -> float:
        assert all(g is not None for g in grads)  # the System packs zeros for gradients this rank has not
        flat = self.reduce_sums(self.weight * np.concatenate([*(g.ravel() for g in grads), [loss]]))
        start = 0
        for g in grads:
            g[...] = flat[start:start + g.size].reshape(g.shape)
            start += g.size
        return float(flat[-1])


@contextlib.contextmanager
def attached_parallels() -> Iterator[dict[int, Any]]:
    """{id(system): its Parallel}, answered by a tn_parallel hook registered meanwhile."""
    table: dict[int, Any] = {}
    plugin = SimpleNamespace(tn_parallel=tn.hookimpl(lambda system: table.get(id(system))))
    get_plugins().register(plugin, "thread-parallel-test")
    try:
        yield table
    finally:
        get_plugins().unregister("thread-parallel-test")


def run_ranks(size: int, work: Callable[[tn.System, int], Any],
              build: Callable[[], tn.System] = classifier) -> list[Any]:
    """``work(system, rank)`` on ``size`` threads, each with its own ``build()`` System attached to its rank."""
    board = Board(size)
    with attached_parallels() as table:

        def rank_main(rank: int) -> Any:
            system = build()
            table[id(system)] = ThreadParallel(rank, board)
            try:
                return work(system, rank)
            except BaseException:
                board.barrier.abort()
                raise

        with ThreadPoolExecutor(size) as pool:
            return [f.result() for f in [pool.submit(rank_main, rank) for rank in range(size)]]
