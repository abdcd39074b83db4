"""Training-throughput harness: tensornet and (optionally) PyTorch, JAX and a hand-written NumPy floor, same
model, same run.

A benchmark model is a ``Spec``: how to build it in tensornet, PyTorch and
JAX, its per-sample input shape and its number of classes. Models live
in ``benchmarks/models_*.py`` modules, each with a ``SPECS`` list. A spec may
also give the floor (``build_numpy``): the same training step written by hand
in plain NumPy, no framework (with tn-accel's fused Adam kernel where it is
importable), the best a NumPy program does on this machine; tensornet's time
minus the floor's is the framework's cost.

Timing: for each batch size the systems are run in alternating rounds
(so all see the same machine load); each round times ``steps`` training
steps; the figure quoted is the median over rounds, in samples per second.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np


@attrs.define
class Spec:
    """One benchmark model.

    ``build_tn()`` returns ``(system, loss name, optimizer name)``;
    ``build_torch()`` (optional) returns ``(module, loss_fn, optimizer)``
    where ``loss_fn(output, target)`` matches tensornet's loss (summed over a
    sample's elements, averaged over the batch). ``build_jax()`` (optional)
    returns ``(params, loss_fn)``: a pytree of arrays and a pure
    ``loss_fn(params, x, y)`` with the same loss; the harness trains it with
    one jit-compiled step that includes a hand-written Adam. ``build_numpy(x, y)``
    (optional) returns the floor's step on the batch ``x``, ``y``: a callable
    that runs one training step of the same model in plain NumPy.
    """

    name: str
    input_shape: tuple[int, ...]
    classes: int
    build_tn: Callable[[], tuple[Any, str, str]]
    build_torch: Callable[[], tuple[Any, Callable, Any]] | None = None
    build_jax: Callable[[], tuple[Any, Callable]] | None = None
    build_numpy: Callable[[np.ndarray, np.ndarray], Callable[[], Any]] | None = None
    lr: float = 1e-3


def random_batch(spec: Spec, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    y = np.eye(spec.classes, dtype=np.float32)[rng.integers(0, spec.classes, batch)]
    return x, y


def tn_stepper(spec: Spec, x: np.ndarray, y: np.ndarray, fused: bool = True) -> Callable[[], None] | None:
    """tensornet's step; ``fused=False``: with the NumPy optimizer path where a plugin (tn-accel) gives the
    optimizer a fused kernel (None where none does)."""
    system, loss, optimizer = spec.build_tn()
    if not fused:
        optimizer = numpy_path_optimizer(optimizer)
        if optimizer is None:
            return None

    def step() -> None:
        _, state = system.guess([x], return_state=True)
        system.learn(state, [y], method=optimizer, scale=spec.lr, loss=loss)

    return step


def numpy_path_optimizer(name: str) -> Any:
    """An instance of a subclass of optimizer ``name`` that changes nothing: kernels serve their exact class
    only, so it takes the NumPy path. None where no plugin gives ``name`` a kernel."""
    from tn_core.optimizers import resolve_optimizer
    from tn_core.plugins import get_plugins

    cls = type(resolve_optimizer(name))
    if cls not in get_plugins().optimizer_kernels():
        return None
    return type(f"NumPy{cls.__name__}", (cls,), {})()


def torch_stepper(spec: Spec, x: np.ndarray, y: np.ndarray) -> Callable[[], None] | None:
    if spec.build_torch is None:
        return None
    try:
        import torch
    except ImportError:
        return None
    module, loss_fn, optimizer = spec.build_torch()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(module(tx), ty).backward()
        optimizer.step()

    return step


def jax_stepper(spec: Spec, x: np.ndarray, y: np.ndarray) -> Callable[[], None] | None:
    """One jit-compiled training step: gradients and PyTorch's Adam (lr, betas 0.9/0.999, eps 1e-8) fused by XLA.

    The parameters and Adam's moments are donated to the step, so XLA updates them in place.
    """
    if spec.build_jax is None:
        return None
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    params, loss_fn = spec.build_jax()
    lr, b1, b2, eps = spec.lr, 0.9, 0.999, 1e-8

    def update(state: tuple, xb: Any, yb: Any) -> tuple:
        params, m, v, t = state
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        t = t + 1
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        m_scale, v_scale = 1 / (1 - b1**t), 1 / (1 - b2**t)
        params = jax.tree.map(lambda p, m, v: p - lr * (m * m_scale) / (jnp.sqrt(v * v_scale) + eps), params, m, v)
        return (params, m, v, t), loss

    compiled = jax.jit(update, donate_argnums=0)
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = [(params, zeros, jax.tree.map(jnp.zeros_like, params), jnp.float32(0))]
    xb, yb = jnp.asarray(x), jnp.asarray(y)

    def step() -> None:
        state[0], loss = compiled(state[0], xb, yb)
        loss.block_until_ready()

    return step


def _rate(step: Callable[[], None], steps: int, batch: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def throughput(spec: Spec, batch: int, seconds: float = 2.0, rounds: int = 5) -> dict[str, float]:
    """Median samples/s of tensornet, tensornet without fused optimizer kernels (where a plugin gives
    some), PyTorch and JAX (those installed) and the hand-written NumPy floor (where the spec has one)
    at ``batch``."""
    rng = np.random.default_rng(0)
    x, y = random_batch(spec, batch, rng)
    steppers = {"tn": tn_stepper(spec, x, y), "tn-numpy": tn_stepper(spec, x, y, fused=False),
                "torch": torch_stepper(spec, x, y), "jax": jax_stepper(spec, x, y),
                "numpy": None if spec.build_numpy is None else spec.build_numpy(x, y)}
    return alternate({k: v for k, v in steppers.items() if v is not None}, batch, seconds, rounds)


def alternate(steppers: dict[str, Callable[[], None]], batch: int, seconds: float, rounds: int) -> dict[str, float]:
    """Median samples/s of each stepper, timed in alternating rounds of about ``seconds / rounds`` each."""
    steps = {}
    for name, step in steppers.items():  # warm up, then size a round to ~seconds/rounds
        step()
        t0 = time.perf_counter()
        step()
        steps[name] = max(1, int(seconds / rounds / max(time.perf_counter() - t0, 1e-6)))
    rates: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, step in steppers.items():
            rates[name].append(_rate(step, steps[name], batch))
    return {name: statistics.median(r) for name, r in rates.items()}
