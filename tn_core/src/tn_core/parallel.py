"""Data parallelism as the core sees it: how the processes of one training run share the work.

The core knows no message passing. A data-parallel plugin (tn-distributed)
implements the ``tn_parallel`` hook and returns, for a System it runs, a
:class:`Parallel` whose methods exchange numbers between the processes. Every
process walks the same global batches; each computes forward and backward on
its :meth:`~Parallel.share` of a batch, and :meth:`~Parallel.reduce_gradients`
turns the local gradients into the global batch's before every update, so N
processes train as one would. Without such a plugin a System runs as the
single process: the base class, whose methods change nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tn_core.errors import PluginError
from tn_core.plugins import get_plugins


class Parallel:
    """How the processes of a data-parallel run share work; this base class is the single process."""

    rank: int = 0
    size: int = 1
    #: False on the processes that must not print progress or write files (all but one)
    writes_output: bool = True

    def share(self, batch: np.ndarray) -> np.ndarray:
        """The sample indices of the global ``batch`` that this process computes (single process: all).

        May be empty (a batch smaller than the number of processes). An
        implementation remembers its share's weight len(share) / len(batch)
        for the next :meth:`reduce_gradients`.
        """
        return batch

    def reduce_gradients(self, system: Any, grads: list[np.ndarray | None], loss: float) -> float:
        """Make ``grads`` the global batch's gradient in place; return the global batch's loss.

        ``grads`` are the local gradients of the trainable parameters in
        ``system.parameters()`` order (zeros where this process has none), and
        ``loss`` the local mean loss (0 for an empty share). The global
        gradient is sum over processes p of w_p g_p, w_p = len(share_p) / len(batch),
        and so is the global loss. Single process: both unchanged.
        """
        return loss

    def reduce_sums(self, values: np.ndarray) -> np.ndarray:
        """The float64 vector ``values`` summed over the processes (single process: unchanged)."""
        return values


#: the Parallel of every System no data-parallel plugin claims
SINGLE = Parallel()


def share_of(par: Parallel, batch: np.ndarray) -> np.ndarray:
    """``par.share(batch)``, checked: PluginError unless a plugin's answer is a 1-d integer array of indices
    from ``batch`` (each process takes its rows, so anything else fails deep inside the data's indexing)."""
    if par is SINGLE:
        return batch
    mine = par.share(batch)
    if not (isinstance(mine, np.ndarray) and mine.ndim == 1 and mine.dtype.kind in "iu"
            and np.isin(mine, batch).all()):
        shown = f"array {mine.shape} of {mine.dtype}" if isinstance(mine, np.ndarray) else type(mine).__name__
        raise PluginError(f"{type(par).__name__}.share returned {shown}; expected a 1-d integer array of indices "
                          f"from the batch {batch[:4].tolist()}{'...' if len(batch) > 4 else ''}")
    return mine


def parallel_of(system: Any) -> Parallel:
    """The Parallel a plugin's ``tn_parallel(system)`` hook returns for ``system``, else :data:`SINGLE`."""
    found = get_plugins().first("tn_parallel", system=system)
    if found is None:
        return SINGLE
    if not isinstance(found, Parallel):
        raise PluginError(f"tn_parallel returned {found!r}; expected a tn_core.kit.Parallel or None")
    return found


def writes_output(system: Any) -> bool:
    """Whether this process prints progress and writes files for ``system`` (all but one of a parallel run don't)."""
    return parallel_of(system).writes_output
