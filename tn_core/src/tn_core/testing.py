"""Numerical gradient checks (float64 central differences) for Structures and Systems.

``check_gradients(structure, input_shapes)`` compares a Structure's backward
with finite differences of L = sum_k <R_k, y_k> for random R_k, w.r.t. every
input and parameter; ``check_system_gradients`` does the same for a whole
System and a loss. Both raise AssertionError with a readable report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tn_core.structure import Structure, using_forward_rng

EPS = 1e-6


def _coordinates(array: np.ndarray, limit: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """All indices of a small array, or ``limit`` random ones of a large one."""
    if array.size <= limit:
        return list(np.ndindex(array.shape))
    flat = rng.choice(array.size, size=limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, array.shape)) for k in flat]


def _numeric(loss: Callable[[], float], array: np.ndarray, index: tuple[int, ...], eps: float) -> float:
    old = array[index]
    array[index] = old + eps
    up = loss()
    array[index] = old - eps
    down = loss()
    array[index] = old
    return (up - down) / (2 * eps)


def _compare(
    label: str, array: np.ndarray, analytic: np.ndarray | None, loss: Callable[[], float],
    rng: np.random.Generator, rtol: float, atol: float, max_coords: int,
) -> list[str]:
    failures = []
    grad = np.zeros_like(array) if analytic is None else np.asarray(analytic, dtype=np.float64)
    if grad.shape != array.shape:
        return [f"{label}: gradient has shape {grad.shape}, expected {array.shape}"]
    for index in _coordinates(array, max_coords, rng):
        numeric = _numeric(loss, array, index, EPS)
        got = float(grad[index])
        if abs(got - numeric) > atol + rtol * max(abs(got), abs(numeric)):
            failures.append(f"{label}{list(index)}: backward {got:.8g}, finite difference {numeric:.8g}")
    return failures


def _report(what: str, failures: list[str]) -> None:
    if failures:
        shown = "\n  ".join(failures[:12])
        more = f"\n  ... and {len(failures) - 12} more" if len(failures) > 12 else ""
        raise AssertionError(f"gradient check failed for {what}:\n  {shown}{more}")


def check_gradients(
    structure: Structure,
    input_shapes: Sequence[tuple[int, ...]],
    batch_size: int = 3,
    seed: int = 0,
    inputs: Sequence[np.ndarray] | None = None,
    training: bool = False,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    max_coords: int = 40,
) -> None:
    """Check ``structure.backward`` against finite differences, in float64.

    Stochastic layers see the same random numbers in every evaluation.
    """
    rng = np.random.default_rng(seed)
    output_shapes, params = structure.build_checked([tuple(s) for s in input_shapes], rng)
    xs = [np.array(x, dtype=np.float64) for x in inputs] if inputs is not None else [
        rng.normal(size=(batch_size, *shape)) for shape in input_shapes
    ]
    n = xs[0].shape[0] if xs else batch_size
    weights = [rng.normal(size=(n, *shape)) for shape in output_shapes]

    def run() -> tuple[list[np.ndarray], Any]:
        with using_forward_rng(np.random.default_rng(seed)):
            return structure.forward(params, xs, training)

    def loss() -> float:
        outs, _ = run()
        return float(sum(np.sum(w * o) for w, o in zip(weights, outs)))

    outs, cache = run()
    shapes = [o.shape for o in outs]
    if shapes != [(n, *s) for s in output_shapes]:
        raise AssertionError(f"{structure!r}: outputs have shapes {shapes}, build promised {output_shapes}")
    in_grads, p_grads = structure.backward(params, cache, [w.copy() for w in weights])
    failures: list[str] = []
    for k, x in enumerate(xs):
        failures += _compare(f"input {k}", x, in_grads[k], loss, rng, rtol, atol, max_coords)
    for key, p in params.items():
        failures += _compare(f"param {key!r}", p, p_grads.get(key), loss, rng, rtol, atol, max_coords)
    _report(f"{structure!r} on inputs {list(input_shapes)}", failures)


def check_system_gradients(
    system: Any, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], loss: Any = "quad",
    seed: int = 0, rtol: float = 1e-4, atol: float = 1e-6, max_coords: int = 40,
) -> None:
    """Check ``system.gradients`` (parameters and inputs) against finite differences.

    The System must use float64.
    """
    if system.dtype != np.float64:
        raise ValueError("check_system_gradients needs a float64 System")
    rng = np.random.default_rng(seed)
    xs = [np.array(x, dtype=np.float64) for x in inputs]
    pgrads, xgrads = system.gradients(xs, targets, loss=loss, training=False)

    def value() -> float:
        state = system.forward(xs)
        return system.loss_gradients(state, targets, loss)[0]

    failures: list[str] = []
    for k, x in enumerate(xs):
        failures += _compare(f"input {k}", x, xgrads[k], value, rng, rtol, atol, max_coords)
    for owner, params in system.groups:
        for key, p in params.items():
            label = f"{system.names[owner]}.{key}"
            failures += _compare(label, p, pgrads.get(owner, {}).get(key), value, rng, rtol, atol, max_coords)
    _report("the System", failures)
