"""Training loop: fit, evaluate and predict over arrays in mini-batches.

``fit`` owns only the loop. Everything else that happens during training
(progress bar, early stopping, checkpoints, schedules, clipping) is a
callback: an object implementing training hooks (:mod:`tn_core.hookspecs`),
called by this fit alone, after the plugins registered for every System.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tn_core.errors import ConfigError, ShapeError
from tn_core.metrics import Metric, resolve_metrics
from tn_core.parallel import Parallel, parallel_of
from tn_core.plugins import get_plugins
from tn_core.structure import as_typed

if TYPE_CHECKING:
    from tn_core.system import System

def _as_list(data: Any) -> list[Any]:
    return list(data) if isinstance(data, (list, tuple)) else [data]


def _dataset(system: System, x: Any, y: Any | None, what: str) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """(inputs, targets, number of samples), cast to the System's dtypes and checked against its shapes."""
    typed = zip(_as_list(x), system.input_dtypes)
    xs = [as_typed(a, dtype, f"{what}: inputs[{k}]") for k, (a, dtype) in enumerate(typed)]
    ys = [] if y is None else [as_typed(a, system.dtype, f"{what}: targets[{k}]") for k, a in enumerate(_as_list(y))]
    n = len(xs[0]) if xs and xs[0].ndim else 0
    for arrays, shapes, kind in ((xs, [i.shape for i in system.inputs], "inputs"),
                                 (ys, [r.shape for r in system.outputs] if ys else [], "targets")):
        if len(arrays) != len(shapes):
            raise ShapeError(f"{what}: {len(arrays)} {kind} arrays for a System with {len(shapes)}")
        for k, (a, shape) in enumerate(zip(arrays, shapes)):
            if a.shape != (n, *shape):
                raise ShapeError(f"{what}: {kind}[{k}] has shape {a.shape}, expected (N, {', '.join(map(str, shape))})"
                                 f" with N = {n} samples (the batch axis comes first)")
    if n == 0:
        raise ShapeError(f"{what}: no samples")
    return xs, ys, n


def _batches(n: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[np.ndarray]:
    index = np.arange(n) if order is None else order
    return (index[i:i + batch_size] for i in range(0, n, batch_size))


def _positive_int(value: Any, name: str, low: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ConfigError(f"fit: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def predict(system: System, x: Any, batch_size: int = 256) -> list[np.ndarray]:
    """Outputs for every sample of ``x`` (one array per System output), in batches of ``batch_size``."""
    batch_size = _positive_int(batch_size, "batch_size")
    xs, _, n = _dataset(system, x, None, "predict")
    parts = [system.forward([a[idx] for a in xs]).outputs for idx in _batches(n, batch_size)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(system.outputs))]


class _Means:
    """Sample-weighted means of named values over batches (and over the processes of a parallel run)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.totals = np.zeros(1 + len(names))  # [samples, sum of n * value for each name]

    def add(self, values: list[float], n: int) -> None:
        self.totals[0] += n
        self.totals[1:] += np.asarray(values) * n

    def result(self, par: Parallel) -> dict[str, float]:
        """{name: sum of n * value / sum of n}, the sums taken over every process with one reduce."""
        totals = par.reduce_sums(self.totals)
        return {name: float(total / totals[0]) for name, total in zip(self.names, totals[1:])}


def _metric_names(system: System, metrics: dict[str, Metric]) -> list[str]:
    """The log name of each metric on each output: ``metric`` (one output) or ``<layer>_<metric>``."""
    prefixes = [""] if len(system.outputs) == 1 else [f"{system.names[ref.instance]}_" for ref in system.outputs]
    return [prefix + name for prefix in prefixes for name in metrics]


def _metric_values(outputs: list[np.ndarray], targets: list[np.ndarray], metrics: dict[str, Metric]) -> list[float]:
    """Each metric on each output, in the order of :func:`_metric_names`."""
    return [fn(out, t) for out, t in zip(outputs, targets) for fn in metrics.values()]


def evaluate(system: System, x: Any, y: Any, loss: Any = None, batch_size: int = 256,
             metrics: Sequence[str | Metric] | None = None) -> dict[str, float]:
    """Mean loss and metrics over a data set (``loss`` defaults to the one of the last fit, else quad;
    ``metrics``, names or functions of :mod:`tn_core.metrics`, to accuracy for a classification loss).

    In a data-parallel run each process computes its share of each batch and the means are over all.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    loss = system.loss if loss is None else loss
    fns = resolve_metrics(metrics, system._losses(loss))
    xs, ys, n = _dataset(system, x, y, "evaluate")
    par = parallel_of(system)
    means = _Means(["loss", *_metric_names(system, fns)])
    for idx in _batches(n, batch_size):
        mine = par.share(idx)
        if len(mine):
            state = system.forward([a[mine] for a in xs])
            targets = [a[mine] for a in ys]
            value, _, _ = system.loss_gradients(state, targets, loss)
            means.add([value, *_metric_values(state.outputs, targets, fns)], len(mine))
    return means.result(par)


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
    metrics: Sequence[str | Metric] | None = None,
    callbacks: Sequence[Any] = (),
    verbose: int = 1,
) -> dict[str, list[float]]:
    """Mini-batch training for ``epochs`` passes over (x, y); returns the history.

    The history maps ``loss``, each metric and, with ``validation=(xv, yv)``,
    ``val_loss`` and ``val_<metric>`` to one value per epoch (training values
    are sample-weighted means over the epoch's batches; ``metrics``, names or functions of
    :mod:`tn_core.metrics`, default to accuracy when a loss is a classification loss). ``seed`` makes the
    shuffling and stochastic layers reproducible (default: the System's
    generator). ``callbacks`` (and a ProgressBar unless ``verbose=0``) get
    the training hooks of this fit only, after the registered plugins; a
    callback ends training by setting ``system.stop_training``. A non-finite
    loss, gradient or update raises NonFiniteError naming the step, with the
    parameters and optimizer state of the step before.
    """
    from tn_core.callbacks import ProgressBar  # callbacks save models, which build Systems, which fit: a cycle

    epochs = _positive_int(epochs, "epochs", low=0)
    batch_size = _positive_int(batch_size, "batch_size")
    fns = resolve_metrics(metrics, system._losses(loss))
    xs, ys, n = _dataset(system, x, y, "fit")
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ConfigError("fit: validation must be a pair (x, y)")
        vx, vy, _ = _dataset(system, *validation, "fit validation")
    opt = system.use_optimizer(optimizer, lr)
    system.check_targets(ys, system._losses(loss))  # unknown losses and unsuitable targets fail now, before any update
    system.loss = loss
    shuffle_rng = None
    if seed is not None:
        shuffle_seed, layer_seed = np.random.SeedSequence(seed).spawn(2)
        shuffle_rng, system.rng = np.random.default_rng(shuffle_seed), np.random.default_rng(layer_seed)
    steps = -(-n // batch_size)
    trained = ["loss", *_metric_names(system, fns), "lr"]
    config = {"epochs": epochs, "batch_size": batch_size, "samples": n, "steps_per_epoch": steps, "optimizer": opt,
              "loss": loss, "validation": validation is not None, "metrics": list(fns),
              "logs": trained + [f"val_{key}" for key in trained[:-1] if validation is not None]}
    own = _checked_callbacks([*callbacks, *([ProgressBar()] if verbose else [])])
    plugins = get_plugins()
    history: dict[str, list[float]] = {}
    system.stop_training = False
    plugins.call("tn_train_begin", own, system=system, config=config)
    # a data-parallel callback attaches (and may set every process's system.rng alike) in tn_train_begin
    par = parallel_of(system)
    rng = system.rng if shuffle_rng is None else shuffle_rng
    for epoch in range(epochs):
        means = _Means(trained[:-1])
        for batch, idx in enumerate(_batches(n, batch_size, rng.permutation(n) if shuffle else None)):
            mine = par.share(idx)  # every process walks the same batches and computes its share of each
            value, pgrads = 0.0, {}
            if len(mine):
                state = system.forward([a[mine] for a in xs], training=True)
                targets = [a[mine] for a in ys]
                value, seeds, fused = system.loss_gradients(state, targets, loss)
                pgrads, _ = system.backward(state, seeds, fused, input_grads=False)
                means.add([value, *_metric_values(state.outputs, targets, fns)], len(mine))
            system.apply_gradients(pgrads, opt, value, own, where=f"fit (epoch {epoch + 1}, batch {batch + 1}): ")
        logs = means.result(par)
        if validation is not None:
            scores = evaluate(system, vx, vy, loss=loss, batch_size=max(batch_size, 256), metrics=metrics)
            logs.update({f"val_{key}": value for key, value in scores.items()})
        logs["lr"] = opt.lr
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        plugins.call("tn_epoch_end", own, system=system, epoch=epoch, logs=logs)
        if system.stop_training:
            break
    plugins.call("tn_train_end", own, system=system, history=history)
    return history


HOOKS = ("tn_train_begin", "tn_before_update", "tn_after_update", "tn_epoch_end", "tn_train_end")


def _checked_callbacks(callbacks: Sequence[Any]) -> list[Any]:
    """fit's callbacks: objects implementing at least one of the training hooks (ConfigError otherwise)."""
    for k, callback in enumerate(callbacks):
        if not any(callable(getattr(callback, hook, None)) for hook in HOOKS):
            raise ConfigError(f"fit: callbacks[{k}] ({callback!r}) implements none of the training hooks "
                              f"{', '.join(HOOKS)}; pass tn.Callback objects")
    return list(callbacks)
