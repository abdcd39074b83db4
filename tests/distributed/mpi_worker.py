"""The processes of tests/distributed/test_data_parallel.py: ``python -m tests.distributed.mpi_worker MODE OUT``.

Run under ``mpiexec -n 2`` (modes ``train`` and ``fault``) or alone (``single``);
each rank writes what it saw to OUT/rank<R>.npz and OUT/rank<R>.json for the
test to compare with one-process training.

- train: fit with DataParallel (uneven last batch, validation, checkpoints,
  progress), a BatchNorm + Dropout network, a custom loop with attach/shard/learn,
  and mismatched networks;
- fault: rank 1 raises in its second epoch;
- single: fit with and without DataParallel in one process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import tn_core as tn
from tests.training.helpers import blobs, classifier, params
from tn_core import kit

#: fit's arguments in every run and in the one-process reference: 71 samples in batches of 16 (last one 7)
FIT = {"epochs": 4, "batch_size": 16, "optimizer": "adam", "lr": 0.02, "loss": "ce"}
SAMPLES, VALIDATION = 71, 23
#: the custom loop: batches of 12 in a fixed order (the last one 11), one adam step each
LOOP_BATCH, LOOP_EPOCHS = 12, 3


def data() -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    x, y = blobs(SAMPLES, seed=1)
    return x, y, blobs(VALIDATION, seed=2)


def seeded_classifier(seed: int) -> tn.System:
    """The classifier with parameters and System generator (shuffling) both from ``seed``."""
    system = classifier(seed=seed)
    system.rng = np.random.default_rng(seed)
    return system


def custom_loop(system: tn.System, x: np.ndarray, y: np.ndarray, shard=lambda a: a, rank: int | None = None) -> None:
    """Adam steps on fixed batches, each process learning from ``shard`` of each. Then an evaluate (its batch
    of 23 splits 11 + 12, weights that must not weigh a later step) and one step of each process on its own 12
    samples, without shard, so weighed 1/2 each; one process (``rank`` None) takes it on the first 24."""
    for _ in range(LOOP_EPOCHS):
        for i in range(0, len(x), LOOP_BATCH):
            _, state = system.guess([shard(x[i:i + LOOP_BATCH])], return_state=True)
            system.learn(state, [shard(y[i:i + LOOP_BATCH])], method="adam", scale=0.02, loss="quad")
    system.evaluate(x[:23], y[:23], loss="quad")
    own = slice(0, 24) if rank is None else slice(12 * rank, 12 * rank + 12)
    _, state = system.guess([x[own]], return_state=True)
    system.learn(state, [y[own]], method="adam", scale=0.02, loss="quad")


class SaveEachEpoch(tn.Callback):
    """tn.save and save_weights from inside fit, to paths naming the rank (only rank 0's may appear)."""

    def __init__(self, out: Path, rank: int) -> None:
        self.out, self.rank = out, rank

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        tn.save(self.system, self.out / f"callback-rank{self.rank}.tn")
        self.system.save_weights(self.out / f"weights-rank{self.rank}.npz")

    def on_train_end(self, history: dict) -> None:  # listed after DataParallel: it detaches after this
        tn.save(self.system, self.out / f"end-rank{self.rank}.tn")


def train(out: Path) -> None:
    x, y, validation = data()
    dp = tn.DataParallel()
    rank = dp.rank
    report: dict = {"rank": rank, "size": dp.size}
    arrays: dict[str, np.ndarray] = {}

    # every rank starts from other parameters and another shuffling generator: rank 0's win
    system = seeded_classifier(0 if rank == 0 else 100 + rank)
    checkpoint = tn.ModelCheckpoint(str(out / f"checkpoint-rank{rank}-{{epoch}}.tn"), save_best_only=False)
    report["history"] = system.fit(x, y, validation=validation, callbacks=[dp, checkpoint, SaveEachEpoch(out, rank)],
                                   **FIT)
    report["detached_after_fit"] = kit.parallel_of(system) is not dp and dp.attached is None
    report["checkpoints_listed"] = len(checkpoint.saved)
    arrays.update({f"fit/{k}": a for k, a in enumerate(params(system))})

    # BatchNorm (buffers from each rank's share) and Dropout (masks from each rank's generator)
    tn.set_seed(rank)
    i = tn.Input((6,))()
    h = tn.Dropout(0.3)(tn.BatchNorm()(tn.Dense(8, activation="tanh")(i)))
    noisy = tn.System([i], [tn.Dense(3, activation="sigmoid")(h)], dtype=np.float64, seed=rank)
    noisy.fit(x, y, callbacks=[tn.DataParallel()], verbose=0, **FIT)
    arrays.update({f"noisy/{layer}.{name}": a for layer, name, a in noisy.parameters() + noisy.buffers()})
    report["noisy_generator"] = str(noisy.rng.bit_generator.state)  # Dropout drew 3 and 4 masks at each last batch

    # a custom loop: attach, then each rank learns from its shard of every batch
    looped = seeded_classifier(0 if rank == 0 else 200 + rank)
    loop_dp = tn.DataParallel()
    loop_dp.attach(looped)
    custom_loop(looped, x, y, loop_dp.shard, rank)
    try:
        tn.DataParallel().attach(looped)
    except tn.ConfigError as exc:
        report["attached_twice"] = str(exc)
    loop_dp.detach()
    arrays.update({f"loop/{k}": a for k, a in enumerate(params(looped))})

    # rank 1 builds its network for 5 inputs, not 6: every rank gets the error at the broadcast
    mismatched = classifier(seed=0, inputs=6) if rank == 0 else classifier(seed=0, inputs=5)
    try:
        tn.DataParallel().attach(mismatched)
        report["mismatch"] = None
    except tn.ConfigError as exc:
        report["mismatch"] = str(exc)

    # the ranks differ in an activation, in the optimizer's learning rate, in fit's epochs
    report["disagreements"] = []
    for disagree in (lambda s: s.layers["dense_1"].structure.__setattr__("activation", "relu" if rank else "tanh"),
                     lambda s: s.use_optimizer(tn.Adam(lr=0.01 * (rank + 1)))):
        different = classifier(seed=0)
        disagree(different)
        try:
            tn.DataParallel().attach(different)
        except tn.ConfigError as exc:
            report["disagreements"].append(str(exc))
    uneven = classifier(seed=0)
    try:
        uneven.fit(x, y, callbacks=[tn.DataParallel()], verbose=0, **{**FIT, "epochs": 2 + rank})
    except tn.ConfigError as exc:
        report["disagreements"].append(str(exc))
    # the failed fit detached: what one rank does now waits for no other
    report["detached_after_failed_fit"] = kit.parallel_of(uneven) is kit.parallel_of(classifier())
    if rank == 0:
        report["evaluated_alone"] = uneven.evaluate(x, y, loss="ce")["loss"] > 0

    np.savez(out / f"rank{rank}.npz", **arrays)
    (out / f"rank{rank}.json").write_text(json.dumps(report))


class RaiseOnRank1(tn.Callback):
    def __init__(self, rank: int) -> None:
        self.rank = rank

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if epoch == 1 and self.rank == 1:
            raise RuntimeError("boom on rank 1")


def fault(out: Path) -> None:
    x, y, _ = data()
    dp = tn.DataParallel()
    seeded_classifier(0).fit(x, y, callbacks=[dp, RaiseOnRank1(dp.rank)], verbose=0, **{**FIT, "epochs": 50})


def single(out: Path) -> None:
    x, y, validation = data()
    dp = tn.DataParallel()
    seen = []

    class Look(tn.Callback):
        def after_update(self, grads: dict, optimizer: object, step: int, loss: float) -> None:
            seen.append(kit.parallel_of(self.system) is dp)

    alone, with_dp = seeded_classifier(0), seeded_classifier(0)
    history = alone.fit(x, y, validation=validation, verbose=0, **FIT)
    history_dp = with_dp.fit(x, y, validation=validation, verbose=0, callbacks=[dp, Look()], **FIT)
    report = {"rank": dp.rank, "size": dp.size, "same_history": history == history_dp, "dp_was_asked": any(seen),
              "shard": dp.shard(np.arange(5)).tolist(), "errors": []}
    dp.attach(alone)
    for bad in (lambda: dp.shard(np.float64(3.0)), lambda: dp.attach(with_dp)):
        try:
            bad()
        except (tn.ShapeError, tn.ConfigError) as exc:
            report["errors"].append(str(exc))
    np.savez(out / "rank0.npz", **{f"alone/{k}": a for k, a in enumerate(params(alone))},
             **{f"dp/{k}": a for k, a in enumerate(params(with_dp))})
    (out / "rank0.json").write_text(json.dumps(report))


if __name__ == "__main__":
    {"train": train, "fault": fault, "single": single}[sys.argv[1]](Path(sys.argv[2]))
