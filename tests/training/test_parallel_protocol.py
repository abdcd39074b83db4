"""The data-parallel protocol (tn_core.parallel), emulated with threads instead of MPI (parallel_emulation.py).

Training under 2 or 3 emulated ranks must equal one-process training.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import tn_core as tn
from tn_core.errors import PluginError
from tn_core.kit import parallel_of
from tn_core.packed import span
from tn_core.parallel import SINGLE
from tn_core.plugins import get_plugins

from .helpers import blobs, classifier, params
from .parallel_emulation import attached_parallels, run_ranks

FIT = {"epochs": 3, "batch_size": 16, "lr": 0.02, "loss": "ce", "seed": 4, "verbose": 0}


@pytest.mark.parametrize("size", [2, 3])
def test_ranks_train_like_one_process(size: int) -> None:
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

    results = run_ranks(size, work)
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


def test_every_rank_hands_the_hooks_its_gradients_in_one_buffer_layout() -> None:
    """Also a rank whose share of the last batch is empty: its zeros fill the same packed layout, not arrays of
    their own. (A BLAS reduction's bits may depend on where an array starts: with OpenBLAS's SSE2 kernels,
    GradientClip's norm then differed by an ulp on such a rank, and the ranks' parameters drifted apart.)"""
    x, y = blobs(9)  # batches of 4: the last one's sample goes to rank 0, and ranks 1 and 2 get none

    def work(system: tn.System, rank: int) -> list[bool]:
        packed = []

        class Layout(tn.Callback):
            def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
                arrays = [grads[system[name]][key] for name, key, _ in system.parameters()]
                packed.append(span(arrays) is not None)

        system.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Layout()])
        return packed

    assert run_ranks(3, work) == [[True] * 3] * 3


def test_only_the_writing_rank_prints_and_saves(tmp_path: Path) -> None:
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

    (out0, files0), (out1, files1) = run_ranks(2, work)
    assert "epoch 2/2" in out0 and files0 == ["final.npz", "final.tn", "model-1.tn", "model-2.tn", "w.npz"]
    assert out1 == "" and files1 == []
    loaded = tn.load(tmp_path / "rank0" / "final.tn")
    assert [a.shape for _, _, a in loaded.parameters()] == [a.shape for _, _, a in classifier().parameters()]


def test_a_bad_checkpoint_name_fails_on_every_rank(tmp_path: Path) -> None:
    def work(system: tn.System, rank: int) -> str:
        with pytest.raises(tn.ConfigError, match="checkpoint"):
            system.save_weights(tmp_path / f"w{rank}.npz", checkpoint="bad/name")
        return "raised"

    assert run_ranks(2, work) == ["raised", "raised"]


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


def test_a_hook_returning_something_else_is_named() -> None:
    s = classifier()
    with attached_parallels() as table:
        table[id(s)] = "rank 0"
        with pytest.raises(PluginError, match=r"tn_parallel returned 'rank 0'; expected a tn_core.kit.Parallel"):
            s.fit(*blobs(8), verbose=0)


class Broken(tn.kit.Parallel):
    """A data-parallel plugin's Parallel with one method answering what ``mistake`` says."""

    def __init__(self, mistake: str) -> None:
        self.mistake = mistake

    def share(self, batch: np.ndarray) -> Any:
        return {"none": None, "outside": batch + 1000, "floats": batch.astype(float)}.get(self.mistake, batch)

    def reduce_gradients(self, system: Any, grads: list, loss: float) -> Any:
        return None if self.mistake == "no loss" else loss


@pytest.mark.parametrize(("mistake", "message"), [
    ("none", r"Broken.share returned NoneType; expected a 1-d integer array of indices from the batch \[\d+, "),
    ("outside", r"Broken.share returned array \(8,\) of int64; expected a 1-d integer array of indices"),
    ("floats", r"Broken.share returned array \(8,\) of float64"),
    ("no loss", r"Broken.reduce_gradients returned None; expected the global batch's loss, a float"),
])
def test_a_parallel_answering_nonsense_is_a_plugin_error_and_changes_nothing(mistake: str, message: str) -> None:
    s = classifier()
    before = params(s)
    with attached_parallels() as table:
        table[id(s)] = Broken(mistake)
        with pytest.raises(PluginError, match=message):
            s.fit(*blobs(8), batch_size=8, verbose=0)
    assert s.step == 0 and s.optimizer is None
    for a, b in zip(before, params(s)):
        np.testing.assert_array_equal(a, b)


def test_a_tn_parallel_hook_that_raises_is_named() -> None:
    def boom(system: Any) -> None:
        raise ZeroDivisionError("division by zero")

    s = classifier()
    get_plugins().register(SimpleNamespace(tn_parallel=tn.hookimpl(boom)), "boom")
    try:
        with pytest.raises(PluginError, match="tn_parallel of plugin 'boom' raised ZeroDivisionError: division by"):
            s.fit(*blobs(8), verbose=0)
    finally:
        get_plugins().unregister("boom")
    assert s.step == 0
