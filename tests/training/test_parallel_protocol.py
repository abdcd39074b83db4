"""The data-parallel protocol (tn_core.parallel), emulated with threads instead of MPI.

Each thread is one process of the run: its own System (same architecture and
seed), and a ThreadParallel that shares batches by rank and sums with a
barrier over shared slots (in rank order, so every process gets the same
bits). Training under 2 or 3 such ranks must equal one-process training.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import tn_core as tn
from tn_core.errors import PluginError
from tn_core.kit import Parallel, parallel_of
from tn_core.parallel import SINGLE
from tn_core.plugins import get_plugins

from .helpers import blobs, classifier, params


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


@pytest.fixture
def attached() -> Any:
    """{system: its Parallel}, answered by a registered tn_parallel hook."""
    table: dict[int, Parallel] = {}
    plugin = SimpleNamespace(tn_parallel=tn.hookimpl(lambda system: table.get(id(system))))
    get_plugins().register(plugin, "thread-parallel-test")
    yield table
    get_plugins().unregister("thread-parallel-test")


def run_ranks(size: int, attached: dict[int, Parallel], work: Callable[[tn.System, int], Any]) -> list[Any]:
    """``work(system, rank)`` on ``size`` threads, each with its own System attached to its ThreadParallel."""
    board = Board(size)

    def rank_main(rank: int) -> Any:
        system = classifier(seed=0)
        attached[id(system)] = ThreadParallel(rank, board)
        try:
            return work(system, rank)
        except BaseException:
            board.barrier.abort()
            raise

    with ThreadPoolExecutor(size) as pool:
        return [f.result() for f in [pool.submit(rank_main, rank) for rank in range(size)]]


FIT = {"epochs": 3, "batch_size": 16, "lr": 0.02, "loss": "ce", "seed": 4, "verbose": 0}


@pytest.mark.parametrize("size", [2, 3])
def test_ranks_train_like_one_process(size: int, attached: dict[int, Parallel]) -> None:
    # 49 samples in batches of 16: shares of 8/8 or 6/5/5, and a last batch of 1 (empty shares)
    x, y = blobs(49)
    validation = blobs(20, seed=1)
    clip = 0.3  # small enough to clip: clipping must see the global gradient, not a rank's

    single = classifier(seed=0)
    expected = single.fit(x, y, validation=validation, callbacks=[tn.GradientClip(clip)], **FIT)
    expected_eval = single.evaluate(x, y)

    def work(system: tn.System, rank: int) -> Any:
        hist = system.fit(x, y, validation=validation, callbacks=[tn.GradientClip(clip)], **FIT)
        return hist, params(system), system.evaluate(x, y), system.step

    results = run_ranks(size, attached, work)
    for hist, final, scores, step in results:
        assert step == single.step == 3 * 4
        assert hist.keys() == expected.keys()
        for key in expected:
            np.testing.assert_allclose(hist[key], expected[key], rtol=1e-9, atol=1e-12, err_msg=key)
        for a, b in zip(final, params(single)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        assert scores == pytest.approx(expected_eval, rel=1e-9, abs=1e-12)
        # every rank logs the same numbers and holds the same parameters, bit for bit
        assert hist == results[0][0] and scores == results[0][2]
        for a, b in zip(final, results[0][1]):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(params(single)[0], params(classifier(seed=0))[0])  # it trained


def test_only_the_writing_rank_prints_and_saves(attached: dict[int, Parallel], tmp_path: Path) -> None:
    x, y = blobs(30)

    def work(system: tn.System, rank: int) -> tuple[str, list[str]]:
        folder = tmp_path / f"rank{rank}"
        folder.mkdir()
        bar = tn.ProgressBar(stream=io.StringIO(), live=True)
        checkpoints = [tn.ModelCheckpoint(str(folder / "model-{epoch}.tn"), monitor="loss", save_best_only=False),
                       tn.ModelCheckpoint(str(folder / "w.npz"), monitor="loss", weights_only=True)]
        system.fit(x, y, epochs=2, batch_size=8, callbacks=[bar, *checkpoints], verbose=0)
        tn.save(system, folder / "final.tn")
        system.save_weights(folder / "final.npz")
        return bar.stream.getvalue(), sorted(p.name for p in folder.iterdir())

    (out0, files0), (out1, files1) = run_ranks(2, attached, work)
    assert "epoch 2/2" in out0 and files0 == ["final.npz", "final.tn", "model-1.tn", "model-2.tn", "w.npz"]
    assert out1 == "" and files1 == []
    loaded = tn.load(tmp_path / "rank0" / "final.tn")
    assert [a.shape for _, _, a in loaded.parameters()] == [a.shape for _, _, a in classifier().parameters()]


def test_a_bad_checkpoint_name_fails_on_every_rank(attached: dict[int, Parallel], tmp_path: Path) -> None:
    def work(system: tn.System, rank: int) -> str:
        with pytest.raises(tn.ConfigError, match="checkpoint"):
            system.save_weights(tmp_path / f"w{rank}.npz", checkpoint="bad/name")
        return "raised"

    assert run_ranks(2, attached, work) == ["raised", "raised"]


def test_the_single_process_is_the_identity() -> None:
    s = classifier()
    par = parallel_of(s)
    assert par is SINGLE and (par.rank, par.size, par.writes_output) == (0, 1, True)
    batch = np.array([4, 1, 3])
    assert par.share(batch) is batch
    values = np.array([1.5, -2.0])
    assert par.reduce_sums(values) is values
    grads = [np.ones((2, 3)), None]
    assert par.reduce_gradients(s, grads, 0.25) == 0.25
    np.testing.assert_array_equal(grads[0], np.ones((2, 3)))


def test_a_hook_returning_something_else_is_named(attached: dict[int, Parallel]) -> None:
    s = classifier()
    attached[id(s)] = "rank 0"  # type: ignore[assignment]
    with pytest.raises(PluginError, match=r"tn_parallel returned 'rank 0'; expected a tn_core.kit.Parallel"):
        s.fit(*blobs(8), verbose=0)
