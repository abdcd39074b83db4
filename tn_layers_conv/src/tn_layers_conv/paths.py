"""Fast ways to compute :mod:`tn_layers_conv.correlation`, which one each shape gets, and the batch on threads.

Each path has the three functions of the plain definitions with their
arguments (``correlate``: z; ``weight_gradient``: dW; ``input_gradient``:
dx; the first and last write into ``out``, a slice of the batch's result)
and computes the same numbers up to rounding:

- ``plain``: :mod:`tn_layers_conv.correlation` itself: z and dW one matmul
  on im2col columns each, dx one matmul per kernel offset.
- ``rows``: im2col over the sliding axes but the first, which keep all
  their padded rows: an offset i along the first kernel axis selects rows
  of the columns, z = sum_i cols[rows i] W[:, i]^T, copying kernel[0] times
  less than ``plain``; dx is the correlation of g, spread by the stride onto
  a zero grid (``Window.transposed``), with the flipped kernel. The columns
  live in reused per-thread buffers (``kit.scratch``).

A direct path (a matmul per kernel offset, no im2col) and an FFT path
(stride 1) were measured too and are not here: see benchmarks/conv_paths.py.

``choose`` picks, for each of the three, the path with the lowest estimated
time (``cost``), a function of the shape alone: a shape always runs the
same paths whatever the machine's load, and dW does not depend on whether dx
is wanted. ``python -m benchmarks.conv_paths`` times the paths beside what
``choose`` picks. The module-level ``correlate``, ``weight_gradient`` and
``input_gradient`` run the chosen path over slices of the batch
(``parallel.over_batch``, on threads when it pays).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tn_core import kit
from tn_layers_conv import correlation
from tn_layers_conv.parallel import over_batch, slice_count
from tn_layers_conv.window import Window

#: what a path computes: the names of its functions, and of the module's that run them over the batch
STEPS = ("correlate", "weight_gradient", "input_gradient")


def _runs(geo: Window, elements: int) -> float:
    """How many contiguous runs an im2col copy of ``elements`` reads: each window's last axis is one run
    of kernel[-1] * C elements (C where a dilation spreads it)."""
    return elements / (geo.channels * (geo.kernel[-1] if geo.dilation[-1] == 1 else 1))


def _placed(geo: Window, n: int) -> int:
    """Elements ``Window.place`` writes for n samples: none where x is its own grid."""
    moved = geo.spread is not None or any(b or a for b, a in geo.pads)
    return n * math.prod(geo.padded) * geo.channels if moved else 0


class Plain:
    """The definitions of :mod:`tn_layers_conv.correlation` as they are."""

    name = "plain"
    weight_gradient = staticmethod(correlation.weight_gradient)

    @staticmethod
    def correlate(geo: Window, x: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
        out[...] = correlation.correlate(geo, x, w)

    @staticmethod
    def input_gradient(geo: Window, g: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
        out[...] = correlation.input_gradient(geo, g, w)

    @staticmethod
    def applies(geo: Window) -> bool:
        return True

    @staticmethod
    def sample_bytes(geo: Window, out_size: int) -> int:
        """Work memory per sample, in elements: the im2col columns."""
        return math.prod(geo.out) * geo.size * geo.channels

    @staticmethod
    def work(geo: Window, out_size: int, n: int, step: str) -> dict[str, float]:
        """What ``step`` does for n samples, counted per kind of work (see ``COST``)."""
        positions, taps, c, o = n * math.prod(geo.out), geo.size, geo.channels, out_size
        if step == "input_gradient":  # per offset: one (n P, O) x (O, C) matmul added onto a strided view
            return {"op": 2 + 3 * taps, "copy": n * math.prod(geo.padded) * c + taps * positions * c,
                    "run": taps * positions, "mac": positions * taps * c * o,
                    "read": taps * (positions * (o + c) + o * c), "matrix": taps}
        columns = positions * taps * c
        return {"op": 10, "copy": _placed(geo, n) + columns, "run": _runs(geo, columns),
                "mac": positions * taps * c * o, "read": positions * (taps * c + o) + taps * c * o, "matrix": 1}


class Rows:
    """im2col over the sliding axes after the first (all of them in 1-d), one matmul per first-axis offset."""

    name = "rows"

    @staticmethod
    def applies(geo: Window) -> bool:
        return True

    @staticmethod
    def looped(geo: Window) -> int:
        """How many leading sliding axes keep their rows (1; 0 in 1-d, where everything is unrolled)."""
        return min(len(geo.kernel) - 1, 1)

    @classmethod
    def sample_bytes(cls, geo: Window, out_size: int) -> int:
        l = cls.looped(geo)
        return math.prod(geo.padded[:l]) * math.prod(geo.out[l:]) * math.prod(geo.kernel[l:]) * geo.channels

    @classmethod
    def columns(cls, geo: Window, x: np.ndarray) -> np.ndarray:
        """x (n, *spatial, C) on its grid, im2col after the looped axes: (n, *padded[:l], positions, taps * C)."""
        l = cls.looped(geo)
        xp = geo.place(x, out=kit.scratch("grid", (x.shape[0], *geo.padded, geo.channels), x.dtype))
        view = geo.windows(xp, first=l)  # (n, *padded[:l], *out[l:], *kernel[l:], C)
        cols = kit.scratch("columns", view.shape, x.dtype)
        np.copyto(cols, view)
        return cols.reshape(*view.shape[: 1 + l], math.prod(geo.out[l:]), -1)

    @classmethod
    def _rows(cls, geo: Window, cols: np.ndarray) -> list[np.ndarray]:
        """For each looped kernel offset, the columns it reads: (n, output positions, taps * C)."""
        return [cols[index].reshape(cols.shape[0], -1, cols.shape[-1]) for index in geo.offsets(cls.looped(geo))]

    @classmethod
    def correlate(cls, geo: Window, x: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
        rows = cls._rows(geo, cls.columns(geo, x))
        taps = np.ascontiguousarray(w.reshape(w.shape[0], len(rows), -1).transpose(1, 2, 0))  # (offsets, KC, O)
        z = out.reshape(x.shape[0], -1, w.shape[0])  # (n, positions, O): a view, out being a contiguous slice
        np.matmul(rows[0], taps[0], out=z)
        product = kit.scratch("product", z.shape, z.dtype)
        for part, tap in zip(rows[1:], taps[1:]):
            z += np.matmul(part, tap, out=product)

    @classmethod
    def weight_gradient(cls, geo: Window, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        n, out_size = x.shape[0], g.shape[-1]
        g_rows = g.reshape(n, -1, out_size).transpose(0, 2, 1)  # (n, O, positions)
        dw = np.stack([np.matmul(g_rows, part).sum(axis=0) for part in cls._rows(geo, cls.columns(geo, x))], axis=1)
        return dw.reshape(out_size, *geo.kernel, geo.channels)

    @classmethod
    def input_gradient(cls, geo: Window, g: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
        flipped = np.moveaxis(np.flip(w, axis=tuple(range(1, w.ndim - 1))), (0, -1), (-1, 0))  # (C, *kernel, O)
        cls.correlate(geo.transposed(w.shape[0]), g, flipped, out)

    @classmethod
    def work(cls, geo: Window, out_size: int, n: int, step: str) -> dict[str, float]:
        if step == "input_gradient":
            return cls.work(geo.transposed(out_size), geo.channels, n, "correlate")
        l, c, o = cls.looped(geo), geo.channels, out_size
        loops, positions = math.prod(geo.kernel[:l]), n * math.prod(geo.out)
        unrolled = math.prod(geo.kernel[l:]) * c  # columns per row
        products = positions * o if step == "correlate" else o * unrolled * n  # summed per offset
        columns = n * cls.sample_bytes(geo, o)
        strided = loops * positions * unrolled if any(s > 1 for s in geo.stride[:l]) else 0  # rows copied to matmul
        return {"op": 6 + 3 * loops, "copy": _placed(geo, n) + columns + strided + loops * products,
                "run": _runs(geo, columns), "mac": positions * geo.size * c * o, "matrix": n * loops,
                "read": loops * (positions * (unrolled + o) + products)}


PATHS = {path.name: path for path in (Plain, Rows)}

#: seconds per unit of each kind of work (``work``): a NumPy call from Python, an element copied, a contiguous run
#: an im2col copy reads, a multiply-add in a matmul, an element a matmul reads or writes, a matrix of a stacked
#: matmul. Fitted to CPU times of 150 shapes and the benchmark models' conv layers on a 2-core x86 machine (one
#: thread, float32) by ``python -m benchmarks.conv_paths --fit``.
COST = {"op": 1.06e-05, "copy": 3.13e-10, "run": 7.68e-09, "mac": 4e-11, "read": 3.22e-10, "matrix": 6.28e-09}


def cost(path: type, geo: Window, out_size: int, n: int, step: str, per_unit: dict[str, float] = COST) -> float:
    """Estimated seconds of ``step`` (one of STEPS) for n samples by ``path``, over the slices of
    ``over_batch``: the sum of each kind of ``work`` times its seconds ``per_unit``."""
    count = slice_count(n, path.sample_bytes(geo, out_size) * 4)  # float32
    work = path.work(geo, out_size, -(-n // count), step)
    return count * sum(per_unit.get(kind, 0.0) * amount for kind, amount in work.items())


@functools.lru_cache(maxsize=1024)
def choose(geo: Window, out_size: int, n: int, step: str) -> type:
    """The path with the lowest ``cost`` of ``step`` for this shape among those that apply."""
    return min((path for path in PATHS.values() if path.applies(geo)),
               key=lambda path: cost(path, geo, out_size, n, step))


def correlate(geo: Window, x: np.ndarray, w: np.ndarray, path: type | None = None) -> np.ndarray:
    """z (n, *out, O) of x (n, *spatial, C) and W (O, *kernel, C), by ``path`` (default: ``choose``'s)."""
    n, out_size = x.shape[0], w.shape[0]
    path = path or choose(geo, out_size, n, "correlate")
    z = np.empty((n, *geo.out, out_size), dtype=np.result_type(x, w))

    over_batch(lambda s: path.correlate(geo, x[s], w, z[s]), n, path.sample_bytes(geo, out_size) * x.itemsize)
    return z


def weight_gradient(geo: Window, x: np.ndarray, g: np.ndarray, path: type | None = None) -> np.ndarray:
    """dW (O, *kernel, C) from x (n, *spatial, C) and g (n, *out, O), by ``path`` (default: ``choose``'s)."""
    n, out_size = x.shape[0], g.shape[-1]
    path = path or choose(geo, out_size, n, "weight_gradient")
    parts = over_batch(lambda s: path.weight_gradient(geo, x[s], g[s]), n,
                       path.sample_bytes(geo, out_size) * x.itemsize)
    return functools.reduce(np.add, parts)


def input_gradient(geo: Window, g: np.ndarray, w: np.ndarray, path: type | None = None) -> np.ndarray:
    """dx (n, *spatial, C) from g (n, *out, O) and W (O, *kernel, C), by ``path`` (default: ``choose``'s)."""
    n, out_size = g.shape[0], w.shape[0]
    path = path or choose(geo, out_size, n, "input_gradient")
    dx = np.empty((n, *geo.spatial, geo.channels), dtype=np.result_type(g, w))

    over_batch(lambda s: path.input_gradient(geo, g[s], w, dx[s]), n, path.sample_bytes(geo, out_size) * g.itemsize)
    return dx
