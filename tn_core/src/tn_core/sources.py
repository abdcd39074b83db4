"""Where fit, evaluate and predict take their batches from: arrays, array-likes larger than memory, streams.

- :class:`Arrays`: one array per System input (and per output for the
  targets). NumPy arrays, or any array-like with ``.shape`` and row reads,
  as large as the disk: ``np.memmap``, ``np.load(path, mmap_mode="r")``,
  h5py and zarr datasets. Nothing copies the data set: an in-memory ndarray
  at least as wide as its System dtype is cast and checked once (that costs
  no more memory than it holds); anything else (uint8 pixels, a memmap) is
  read and cast one batch at a time, its values checked as they are taken.
  A batch of shuffled samples reads just those rows (array-likes other than
  ndarrays in sorted order, as h5py needs, put back in order in memory).
- :class:`Stream`: an iterable of ``(x, y)`` batches (a generator, a list,
  a loader object); for predict, of ``x`` alone or ``(x, y)`` tuples. A
  re-iterable (``iter()`` gives a fresh iterator: a list, a loader) starts
  over at every pass; a one-shot iterator (a generator) is read on across
  passes, so fit's epochs take its batches in turn.

Both give their batches as ``(source, sample indices)``: the caller takes
the rows it computes (a data-parallel process its share) with ``take``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tn_core.errors import ConfigError, ShapeError
from tn_core.structure import as_typed

if TYPE_CHECKING:
    from tn_core.losses import Loss
    from tn_core.system import System


def _as_list(data: Any) -> list[Any]:
    return list(data) if isinstance(data, (list, tuple)) else [data]


def _cast_now(a: Any, dtype: np.dtype) -> bool:
    """Whether ``a`` is cast and checked whole, up front: anything not array-like, and in-memory ndarrays
    at least as wide as ``dtype`` (or not numeric: the cast then says why it fails)."""
    if not hasattr(a, "shape"):
        return True
    return (isinstance(a, np.ndarray) and not isinstance(a, np.memmap)
            and (a.dtype.kind not in "biuf" or a.dtype.itemsize >= dtype.itemsize))


def _consecutive(idx: np.ndarray) -> bool:
    return len(idx) > 0 and idx[-1] - idx[0] == len(idx) - 1 and bool(np.all(np.diff(idx) == 1))


def _rows(a: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of an array or array-like: a slice when they are consecutive, else a fancy read
    (sorted and unique for array-likes other than ndarrays, as h5py needs, reordered in memory)."""
    if _consecutive(idx):
        return a[int(idx[0]):int(idx[-1]) + 1]
    if isinstance(a, np.ndarray):
        return a[idx]
    unique, inverse = np.unique(idx, return_inverse=True)
    return np.asarray(a[unique])[inverse]


def _samples(idx: np.ndarray) -> str:
    return "samples [" + ", ".join(map(str, idx[:4])) + (", ...]" if len(idx) > 4 else "]")


class Arrays:
    """``n`` samples: one array or array-like per System input, and per output for the targets (or none).

    Shapes are checked up front (targets against the shapes their ``losses``
    take: needed with targets); values as each batch is taken, and in-memory
    targets against their losses up front too.
    """

    def __init__(self, system: System, x: Any, y: Any | None, what: str, losses: list[Loss] | None = None) -> None:
        self.what = what
        xs, ys = _as_list(x), [] if y is None else _as_list(y)
        if len(xs) != len(system.inputs):
            raise ShapeError(f"{what}: {len(xs)} inputs arrays for a System with {len(system.inputs)}")
        if y is not None and len(ys) != len(system.outputs):
            raise ShapeError(f"{what}: {len(ys)} targets arrays for a System with {len(system.outputs)}")
        self.names = [f"inputs[{k}]" for k in range(len(xs))] + [f"targets[{k}]" for k in range(len(ys))]
        self.dtypes = [*system.input_dtypes, *[system.dtype] * len(ys)]
        self.lazy = [not _cast_now(a, dtype) for a, dtype in zip(xs + ys, self.dtypes)]
        self.arrays = [a if lazy else as_typed(a, dtype, f"{what}: {name}")
                       for a, dtype, name, lazy in zip(xs + ys, self.dtypes, self.names, self.lazy)]
        self.inputs = len(xs)
        shapes = [[i.shape] for i in system.inputs]
        if ys:  # each output's targets: the per-sample shapes its loss takes
            shapes += [fn.target_shapes(ref.shape) for ref, fn in zip(system.outputs, losses or [])]
        first = tuple(self.arrays[0].shape)
        self.n = first[0] if first else 0
        for a, name, lazy, dtype, allowed in zip(self.arrays, self.names, self.lazy, self.dtypes, shapes):
            if lazy and hasattr(a, "dtype") and np.dtype(a.dtype).kind not in "biuf":
                raise ShapeError(f"{what}: {name}: cannot be read as a {dtype} array: its values are {a.dtype}")
            if tuple(a.shape) not in [(self.n, *shape) for shape in allowed]:
                expected = " or ".join(f"(N, {', '.join(map(str, shape))})" for shape in allowed)
                raise ShapeError(f"{what}: {name} has shape {tuple(a.shape)}, expected {expected} with N = {self.n} "
                                 "samples (the batch axis comes first)")
        if self.n == 0:
            raise ShapeError(f"{what}: no samples")
        if losses and ys and not any(self.lazy[self.inputs:]):
            system.check_targets(self.arrays[self.inputs:], losses)  # in memory: all of them now, before any update

    def steps(self, batch_size: int) -> int:
        return -(-self.n // batch_size)

    def batches(self, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[tuple[Arrays, np.ndarray]]:
        """(self, indices) for each batch of ``batch_size``: in order, or in the order of ``rng.permutation(n)``."""
        index = np.arange(self.n) if rng is None else rng.permutation(self.n)
        for start in range(0, self.n, batch_size):
            yield self, index[start:start + batch_size]

    def take(self, idx: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(inputs, targets) of the samples ``idx``, in the System's dtypes."""
        out = [as_typed(_rows(a, idx), dtype, f"{self.what}: {name} ({_samples(idx)})") if lazy else _rows(a, idx)
               for a, dtype, name, lazy in zip(self.arrays, self.dtypes, self.names, self.lazy)]
        return out[:self.inputs], out[self.inputs:]


_END = object()


class Stream:
    """Batches from an iterable: ``(x, y)`` pairs, or for predict (``targets=False``) ``x`` or ``(x, y)`` tuples.

    ``steps`` batches make a pass (default: ``len(data)``, else until the
    iterable ends); a pass that ends sooner is a ConfigError. ``unit`` names
    a pass in errors (fit's are epochs).
    """

    def __init__(self, system: System, data: Any, what: str, losses: list[Loss] | None, steps: int | None,
                 targets: bool = True, unit: str = "pass") -> None:
        if not isinstance(data, Iterable):
            raise ConfigError(f"{what}: expected arrays or an iterable of (x, y) batches, got {type(data).__name__}")
        self.system, self.data, self.what, self.losses, self.targets = system, data, what, losses, targets
        self.unit = unit
        self.one_shot = isinstance(data, Iterator)
        self.iterator = data if self.one_shot else None
        self.passes = 0
        self.count = steps
        if steps is None and not self.one_shot and hasattr(type(data), "__len__"):
            self.count = _length(data, what)

    def steps(self, batch_size: int) -> int | None:
        return self.count

    def batches(self, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[tuple[Arrays, np.ndarray]]:
        """(Arrays of the batch, all its positions) for each batch of the next pass, sized and ordered as the
        iterable gives them (``batch_size`` and ``rng`` are for arrays)."""
        iterator = self.iterator if self.one_shot else iter(self.data)
        self.passes += 1
        for k in itertools.count() if self.count is None else range(self.count):
            item = next(iterator, _END)
            if item is _END:
                if self.count is None and k:
                    return
                raise ConfigError(self._ran_out(k))
            batch = self._batch(item, k + 1)
            yield batch, np.arange(batch.n)

    def _ran_out(self, k: int) -> str:
        where = f"{self.what} ({self.unit} {self.passes})" if self.passes > 1 else self.what
        if self.count is None:
            used_up = " (a one-shot iterator, used up)" if self.one_shot else ""
            return f"{where}: the iterable gave no batches{used_up}"
        why = (f"a one-shot iterator (a generator) feeds every {self.unit} from one stream: give it enough batches "
               "for all of them, or pass a re-iterable (a list, a loader object)" if self.one_shot
               else "steps must not exceed what one pass over the iterable gives")
        return f"{where}: the batches ran out after {k} of {self.count} steps; {why}"

    def _batch(self, item: Any, k: int) -> Arrays:
        where = f"{self.what}: batch {k}"
        if not self.targets:
            x = item[0] if isinstance(item, tuple) and len(item) in (1, 2) else item
            return Arrays(self.system, x, None, where)
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ShapeError(f"{where}: expected a pair (x, y), got {type(item).__name__}"
                             + (f" of {len(item)}" if isinstance(item, (tuple, list)) else ""))
        return Arrays(self.system, item[0], item[1], where, self.losses)


def source(system: System, x: Any, y: Any | None, what: str, losses: list[Loss] | None, steps: int | None = None,
           targets: bool = True, unit: str = "pass") -> Arrays | Stream:
    """Arrays for ``x`` and ``y`` (arrays, array-likes, or lists of them), else a Stream of ``x``'s batches.

    With ``targets`` (fit, evaluate), ``y`` None means ``x`` is a stream of (x, y) batches; for predict,
    any iterable other than a list, a tuple or an array-like is one.
    """
    if targets:
        streamed = y is None
        if streamed and (hasattr(x, "shape") or (isinstance(x, (list, tuple)) and all(hasattr(a, "shape")
                                                                                      for a in x))):
            raise ConfigError(f"{what}: y (the targets) is missing: pass (x, y) arrays, or x alone as an iterable "
                              "of (x, y) batches")
    else:
        streamed = isinstance(x, Iterable) and not isinstance(x, (list, tuple, str, bytes)) and not hasattr(x, "shape")
    if not streamed:
        if steps is not None:
            raise ConfigError(f"{what}: steps are for a stream of batches; arrays make ceil(N / batch_size) of them")
        return Arrays(system, x, y, what, losses)
    return Stream(system, x, what, losses, steps, targets, unit)


def _length(data: Any, what: str) -> int:
    """``len(data)``, the batches a pass over a loader gives: ConfigError unless it is at least 1."""
    try:
        count = len(data)
    except Exception as exc:
        raise ConfigError(f"{what}: len() of the {type(data).__name__} raised {type(exc).__name__}: {exc}") from None
    if count < 1:
        raise ConfigError(f"{what}: the {type(data).__name__} has len() {count}: no batches to take")
    return count
