"""DataParallel: one training run over the N processes of an MPI job.

``mpiexec -n N python train.py`` runs the script N times; with
``fit(..., callbacks=[tn.DataParallel()])`` (or ``dp.attach(system)``) every
process walks the same global batches and computes on its contiguous 1/N
share of each. The core asks the ``tn_parallel`` hook for this object
(:class:`tn_core.kit.Parallel`) and calls, per update, ``reduce_gradients``:
with w_p = len(share_p) / len(batch),

    g = sum_p w_p g_p,   loss = sum_p w_p loss_p,   buffer = sum_p w_p buffer_p

in ONE Allreduce over a preallocated contiguous buffer, so N processes take
the steps one process takes on the global batches (uneven last batches
included) and the buffers (BatchNorm's running statistics) stay equal.
Every process ends an update with bitwise-equal parameters, because every
process gets the same sums: exact with 2 processes (a + b == b + a in
IEEE arithmetic), and with more for MPI's usual algorithms, in which each
partial sum is formed once or by commuted pairs (checked for MPICH).

A single process (no mpiexec) is a no-op: nothing is attached, fit runs as
without it. With N > 1 an uncaught exception on any process ends the whole
job (``sys.excepthook`` prints the rank and the error, then calls
``MPI.COMM_WORLD.Abort(1)``) instead of leaving the others waiting forever.
"""

from __future__ import annotations

import sys
import traceback
import weakref
from typing import Any

import numpy as np

import tn_core as tn
from tn_core import Callback, ConfigError, ShapeError, kit

#: the DataParallel attached to each System (what the ``tn_parallel`` hook answers)
_ATTACHED: weakref.WeakKeyDictionary[Any, DataParallel] = weakref.WeakKeyDictionary()


def attached_to(system: Any) -> DataParallel | None:
    """The DataParallel running ``system`` across processes, or None."""
    return _ATTACHED.get(system)


def _abort_on_exception(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    """sys.excepthook under mpiexec: print ``tensornet rank R of N: <error>`` and the traceback, end every rank."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    sys.stderr.write(f"tensornet rank {world.Get_rank()} of {world.Get_size()}: {exc_type.__name__}: {exc}\n")
    traceback.print_exception(exc_type, exc, tb)
    sys.stderr.flush()
    world.Abort(1)


def _fingerprint(system: Any) -> list[tuple[str, str]]:
    """What every process must agree on: dtype, the optimizer and its settings, each layer and its settings, and
    each parameter's and buffer's name, shape and dtype."""
    arrays = [("parameter", *row) for row in system.parameters()] + [("buffer", *row) for row in system.buffers()]
    return [("System dtype", system.dtype.name), ("optimizer", _settings(system.optimizer))] + [
        (f"layer {name}", repr(inst.structure)) for inst, name in system.names.items()
    ] + [(f"{kind} {layer}.{name}", f"{array.shape} {array.dtype.name}") for kind, layer, name, array in arrays]


def _settings(optimizer: Any) -> str:
    """An optimizer's class and hyperparameters (its configuration, as model files store it), as text; the class
    alone for one no plugin registers."""
    if optimizer is None:
        return "none"
    try:
        return repr(tn.to_config(optimizer)["config"]).join((f"{type(optimizer).__name__}(", ")"))
    except ConfigError:
        return type(optimizer).__name__


def _fit_settings(config: dict) -> list[tuple[str, str]]:
    """What every process's fit must agree on, from its ``tn_train_begin`` config: how many steps it takes on
    which batches, and what it computes on them."""
    keys = ("epochs", "batch_size", "samples", "steps_per_epoch", "shuffle", "seed", "loss", "metrics", "validation")
    return [(f"fit {key}=", repr(config.get(key))) for key in keys]


def _mismatch(prints: list[list[tuple[str, str]]]) -> str | None:
    """How the first process whose list of (what, value) differs from rank 0's differs, or None."""
    for rank, theirs in enumerate(prints[1:], start=1):
        if theirs == prints[0]:
            continue
        for (what0, value0), (what, value) in zip(prints[0], theirs):
            if (what0, value0) != (what, value):
                return f"rank 0 has {what0} {value0} where rank {rank} has {what} {value}"
        return f"rank 0 has {len(prints[0])} entries, rank {rank} has {len(theirs)}"
    return None


def _pack(arrays: list[np.ndarray]) -> np.ndarray:
    """The bytes of ``arrays``, one after the other, in one contiguous uint8 array."""
    out = np.empty(sum(a.nbytes for a in arrays), np.uint8)
    offset = 0
    for a in arrays:
        out[offset:offset + a.nbytes] = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
        offset += a.nbytes
    return out


def _unpack(packed: np.ndarray, arrays: list[np.ndarray]) -> None:
    """Copy the bytes :func:`_pack` laid out back into ``arrays``, in place."""
    offset = 0
    for a in arrays:
        a[...] = packed[offset:offset + a.nbytes].view(a.dtype).reshape(a.shape)
        offset += a.nbytes


class DataParallel(Callback, kit.Parallel):
    """Data-parallel training over MPI: a fit callback, or ``attach(system)`` for custom loops.

    ``comm`` is the mpi4py communicator of the processes (default
    ``MPI.COMM_WORLD``); ``rank`` and ``size`` are this process's place in
    it. Only rank 0 prints progress and writes files (``writes_output``).
    """

    def __init__(self, comm: Any = None) -> None:
        try:
            from mpi4py import MPI
        except (ImportError, RuntimeError) as exc:  # RuntimeError: mpi4py finds no MPI library
            first = str(exc).splitlines()[0]
            raise ConfigError(f"DataParallel needs mpi4py and an MPI library ({type(exc).__name__}: {first}): "
                              "pip install mpi4py mpich (tn-distributed's dependencies)") from None
        self._mpi = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.writes_output = self.rank == 0
        self.attached: Any = None  # the System this runs, between attach and detach
        self._by_fit = False  # attached by fit's tn_train_begin, so detached at its end
        self._weight: float | None = None  # this process's share of the batch of the next reduce_gradients
        self._buffer: np.ndarray | None = None  # the Allreduce buffer, kept between updates
        if self.size > 1 and sys.excepthook is not _abort_on_exception:
            sys.excepthook = _abort_on_exception

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, size={self.size})"

    # -- attaching ------------------------------------------------------------------

    def attach(self, system: Any) -> None:
        """Run ``system`` data-parallel: give every process rank 0's state, then average its updates.

        Rank 0's parameters, buffers, optimizer state (slots, step counts),
        update count and random generator state are broadcast, after checking
        that every process built the same network (ConfigError on every
        process otherwise). From then on ``system.learn`` and ``fit`` reduce
        the gradients across the processes. A single process attaches nothing.
        """
        if self.attached is not None and self.attached is not system:
            raise ConfigError("DataParallel.attach: this DataParallel already runs another System; detach() it first")
        other = attached_to(system)
        if other is not None and other is not self:
            raise ConfigError(f"DataParallel.attach: the System is already attached to {other!r}")
        if self.size > 1:
            self._synchronize(system)
            _ATTACHED[system] = self
        self.attached = system

    def detach(self) -> None:
        """Stop running the attached System data-parallel (its updates are this process's own again)."""
        if self.attached is not None and _ATTACHED.get(self.attached) is self:
            del _ATTACHED[self.attached]
        self.attached, self._by_fit = None, False

    def _synchronize(self, system: Any) -> None:
        """Check that the processes built the same network, then broadcast rank 0's state to all."""
        problem = _mismatch(self.comm.allgather(_fingerprint(system)))
        if problem is not None:
            raise ConfigError(f"DataParallel: the {self.size} processes built different networks: {problem}; "
                              "every process must build the same System")
        optimizer = system.optimizer
        mine = optimizer.state() if optimizer is not None else {}
        layout = self.comm.bcast({"step": system.step, "rng": system.rng.bit_generator.state,
                                  "optimizer": [(key, a.shape, a.dtype.str) for key, a in mine.items()]})
        state = mine if self.rank == 0 else {key: np.empty(shape, dtype) for key, shape, dtype in layout["optimizer"]}
        arrays = [a for *_, a in system.parameters() + system.buffers()] + list(state.values())
        packed = _pack(arrays) if self.rank == 0 else np.empty(sum(a.nbytes for a in arrays), np.uint8)
        self.comm.Bcast(packed, root=0)
        if self.rank == 0:
            return
        _unpack(packed, arrays)
        if optimizer is not None:
            optimizer.load_state(state)
        system.step = layout["step"]
        system.rng.bit_generator.state = layout["rng"]  # in place: fit shuffles with this very generator

    # -- the fit callback ------------------------------------------------------------

    def on_train_begin(self, config: dict) -> None:
        """Attach to fit's System (or, attached already, synchronize again: fit may bring a new optimizer), after
        checking that every process's fit takes the same steps (ConfigError on every process otherwise)."""
        if self.attached is None:
            self.attach(self.system)
            self._by_fit = True
        elif self.attached is self.system:
            if self.size > 1:
                self._synchronize(self.system)
        else:
            raise ConfigError("DataParallel: fit's System is not the one this DataParallel was attached to")
        problem = _mismatch(self.comm.allgather(_fit_settings(config))) if self.size > 1 else None
        if problem is not None:
            raise ConfigError(f"DataParallel: the {self.size} processes called fit differently: {problem}; every "
                              "process must walk the same batches")

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        """Give every process rank 0's generator state again: stochastic layers may have drawn unequal
        amounts on unequal shares, and the next epoch's shuffle must be the same everywhere."""
        if self.size > 1:
            self.system.rng.bit_generator.state = self.comm.bcast(self.system.rng.bit_generator.state)

    def on_train_end(self, history: dict) -> None:
        if self._by_fit:
            self.detach()

    def on_train_failed(self, error: BaseException) -> None:
        """Detach what fit attached, as its end does: the System is this process's own again, so that what
        follows on one process (an evaluate on rank 0 after catching the error) waits for no other."""
        self.on_train_end({})

    # -- kit.Parallel -----------------------------------------------------------------

    def shard(self, array: Any) -> Any:
        """This process's contiguous share of ``array`` along its first axis (rank r of N takes part r of
        N near-equal parts); its weight len(share) / len(array) weighs the next gradient reduction."""
        n = len(array) if getattr(array, "ndim", 1) else None
        if n is None:
            raise ShapeError(f"DataParallel.shard needs an array with a first (batch) axis, got {type(array).__name__} "
                             "of shape ()")
        low, high = self.rank * n // self.size, (self.rank + 1) * n // self.size
        self._weight = (high - low) / n if n else 0.0
        return array[low:high]

    def share(self, batch: np.ndarray) -> np.ndarray:
        """The indices of the global ``batch`` this process computes: :meth:`shard` of them."""
        return self.shard(batch)

    def reduce_gradients(self, system: Any, grads: list[np.ndarray | None], loss: float) -> float:
        """grads <- sum_p w_p grads_p in place, buffers <- sum_p w_p buffers_p; returns sum_p w_p loss_p.

        w_p is the weight of the last :meth:`shard` (1/N when the loop did
        not shard). One Allreduce over one contiguous buffer of the System's dtype.
        """
        weight = self._weight if self._weight is not None else 1.0 / self.size
        self._weight = None
        arrays = [g for g in grads if g is not None] + [a for *_, a in system.buffers()]
        total = sum(a.size for a in arrays) + 1
        if self._buffer is None or self._buffer.size != total or self._buffer.dtype != system.dtype:
            self._buffer = np.empty(total, system.dtype)
        buffer, offset = self._buffer, 0
        for a in arrays:
            np.multiply(a, weight, out=buffer[offset:offset + a.size].reshape(a.shape))
            offset += a.size
        buffer[-1] = weight * loss
        self.comm.Allreduce(self._mpi.IN_PLACE, buffer)
        offset = 0
        for a in arrays:
            a[...] = buffer[offset:offset + a.size].reshape(a.shape)
            offset += a.size
        return float(buffer[-1])

    def reduce_sums(self, values: np.ndarray) -> np.ndarray:
        """``values`` (a float64 vector) summed over the processes, in one Allreduce.

        This ends a pass (an epoch's metrics, an evaluate), so the shares taken in it weigh no later gradient.
        """
        self._weight = None
        out = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self._mpi.IN_PLACE, out)
        return out
