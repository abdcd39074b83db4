"""Training loop: fit, evaluate and predict over arrays in mini-batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tn_core.system import System


def _as_list(data: Any) -> list[np.ndarray]:
    return [np.asarray(d) for d in data] if isinstance(data, (list, tuple)) else [np.asarray(data)]


def _batches(n: int, batch_size: int, order: np.ndarray | None = None) -> list[np.ndarray]:
    index = np.arange(n) if order is None else order
    return [index[i:i + batch_size] for i in range(0, n, batch_size)]


def predict(system: System, x: Any, batch_size: int = 256) -> list[np.ndarray]:
    """Outputs for every sample of ``x``, in batches of ``batch_size``."""
    xs = _as_list(x)
    parts = [system.forward([a[idx] for a in xs]).outputs for idx in _batches(len(xs[0]), batch_size)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(system.outputs))]


def evaluate(system: System, x: Any, y: Any, loss: Any = "quad", batch_size: int = 256) -> dict[str, float]:
    """Mean loss and the accuracy (argmax agreement) of output 0."""
    xs, ys = _as_list(x), _as_list(y)
    n = len(xs[0])
    total, correct = 0.0, 0
    for idx in _batches(n, batch_size):
        state = system.forward([a[idx] for a in xs])
        value, _, _ = system.loss_gradients(state, [a[idx] for a in ys], loss)
        total += value * len(idx)
        out, target = state.outputs[0], ys[0][idx]
        correct += int(np.sum(out.reshape(len(idx), -1).argmax(1) == target.reshape(len(idx), -1).argmax(1)))
    return {"loss": total / n, "accuracy": correct / n}


def fit(
    system: System,
    x: Any,
    y: Any,
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: Any = "adam",
    lr: float | None = None,
    loss: Any = "quad",
    validation: tuple[Any, Any] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
) -> dict[str, list[float]]:
    """Mini-batch training; returns the history of loss (and validation metrics) per epoch."""
    xs, ys = _as_list(x), _as_list(y)
    n = len(xs[0])
    rng = np.random.default_rng(seed)
    opt = system.use_optimizer(optimizer, lr)
    history: dict[str, list[float]] = {"loss": []}
    for _epoch in range(epochs):
        order = rng.permutation(n) if shuffle else None
        total = 0.0
        for idx in _batches(n, batch_size, order):
            state = system.forward([a[idx] for a in xs], training=True)
            value, seeds, fused_at = system.loss_gradients(state, [a[idx] for a in ys], loss)
            pgrads, _ = system.backward(state, seeds, fused_at)
            system.apply_gradients(pgrads, opt, value)
            total += value * len(idx)
        history["loss"].append(total / n)
        if validation is not None:
            for key, value in evaluate(system, *validation, loss=loss).items():
                history.setdefault(f"val_{key}", []).append(value)
    return history
