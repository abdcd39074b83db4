"""Training loop: fit, evaluate and predict over data sets in mini-batches (:mod:`tn_core.sources`).

``fit`` owns only the loop. Everything else that happens during training
(progress bar, early stopping, checkpoints, schedules, clipping) is a
callback: an object implementing training hooks (:mod:`tn_core.hookspecs`),
called by this fit alone, after the plugins registered for every System.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tn_core.errors import ConfigError
from tn_core.fields import check_int
from tn_core.metrics import Metric, resolve_metrics
from tn_core.parallel import Parallel, parallel_of, share_of
from tn_core.plugins import get_plugins
from tn_core.sources import Arrays, Stream, source

if TYPE_CHECKING:
    from tn_core.system import System


#: buffers as a training pass found them: (params dict, buffer name, its array, a copy of its values)
SavedBuffers = list[tuple[dict[str, np.ndarray], str, np.ndarray, np.ndarray]]


def put_back(buffers: SavedBuffers) -> None:
    """Give each buffer its array and values back."""
    for params, key, array, saved in buffers:
        params[key] = array
        np.copyto(array, saved)


class UndoneUnlessUpdated:
    """Around a training call: where it raises before its update is done (``system.step`` unchanged), put back
    the ``buffers`` its forward pass moved (a State's), and with ``settings`` the System's optimizer with its
    learning rate and its ``loss``, and with ``generator`` its ``rng`` with the generator's state (fit replaces
    and draws from it). So a refused or failed learn, fit or fit's step leaves the System as it was; the
    parameters and the optimizer's state are the optimizer's to keep (it updates all or nothing).

    A class rather than a generator context manager: learn and each step of fit enter one.
    """

    __slots__ = ("buffers", "generator", "settings", "step", "system")

    def __init__(self, system: System, buffers: SavedBuffers, settings: bool = False, generator: bool = False) -> None:
        self.system, self.step, self.buffers = system, system.step, buffers
        optimizer = system.optimizer
        self.settings = (optimizer, getattr(optimizer, "lr", None), system.loss) if settings else None
        self.generator = (system.rng, system.rng.bit_generator.state) if generator else None

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        system = self.system
        if kind is None or system.step != self.step:
            return
        put_back(self.buffers)
        if self.settings is not None:
            optimizer, lr, system.loss = self.settings
            system.optimizer = optimizer
            if optimizer is not None:
                optimizer.lr = lr
        if self.generator is not None:
            system.rng, state = self.generator
            system.rng.bit_generator.state = state


def predict(system: System, x: Any, batch_size: int = 256, steps: int | None = None) -> list[np.ndarray]:
    """Outputs for every sample of ``x`` (one array per System output), in batches of ``batch_size``.

    ``x``: arrays or array-likes (read and cast a batch at a time), or an iterable of batches (a generator
    or loader, not a list: a list holds one array per input), each ``x`` or an ``(x, y)`` tuple (all of
    them, or the first ``steps``). Every process of a data-parallel run computes all of it.
    """
    batch_size = check_int(batch_size, "predict: batch_size")
    steps = None if steps is None else check_int(steps, "predict: steps")
    data = source(system, x, None, "predict", None, steps, targets=False)
    parts = [system.forward(part.take(idx)[0]).outputs for part, idx in data.batches(batch_size)]
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


def evaluate(system: System, x: Any, y: Any = None, loss: Any = None, batch_size: int = 256,
             metrics: Sequence[str | Metric] | None = None, steps: int | None = None) -> dict[str, float]:
    """Mean loss and metrics over a data set (``loss`` defaults to the one of the last fit, else quad;
    ``metrics``, names or functions of :mod:`tn_core.metrics`, to accuracy for a classification loss).

    ``x`` and ``y`` as for :func:`fit`: arrays or array-likes, or ``x`` alone an iterable of ``(x, y)``
    batches (all of them, or the first ``steps``). In a data-parallel run each process computes its
    share of each batch and the means are over all.
    """
    batch_size = check_int(batch_size, "evaluate: batch_size")
    steps = None if steps is None else check_int(steps, "evaluate: steps")
    loss = system.loss if loss is None else loss
    losses = system._losses(loss)
    fns = resolve_metrics(metrics, losses)
    return _scores(system, source(system, x, y, "evaluate", losses, steps), loss, batch_size, fns)


def _scores(system: System, data: Arrays | Stream, loss: Any, batch_size: int, fns: dict[str, Metric]
            ) -> dict[str, float]:
    """evaluate's loop: sample-weighted means of the loss and metrics over ``data``, over every process."""
    par = parallel_of(system)
    means = _Means(["loss", *_metric_names(system, fns)])
    for part, idx in data.batches(batch_size):
        mine = share_of(par, idx)
        if len(mine):
            xs, targets = part.take(mine)
            state = system.forward(xs)
            value, _, _ = system.loss_gradients(state, targets, loss)
            means.add([value, *_metric_values(state.outputs, targets, fns)], len(mine))
    return means.result(par)


def _validation(system: System, validation: Any, losses: list[Any]) -> Arrays | Stream:
    """fit's validation data: a pair (x, y) of arrays, or a re-iterable of (x, y) batches (a loader object)."""
    if isinstance(validation, (tuple, list)):
        if len(validation) != 2:
            raise ConfigError(f"fit: validation must be a pair (x, y) or a loader of (x, y) batches, got a "
                              f"{type(validation).__name__} of {len(validation)}")
        return source(system, *validation, "fit validation", losses)
    if isinstance(validation, Iterator):
        raise ConfigError("fit: validation is a one-shot iterator (a generator), which the first epoch would use up; "
                          "pass (x, y) arrays or a re-iterable loader of batches")
    if isinstance(validation, (str, bytes)) or hasattr(validation, "__array__") or not hasattr(validation, "__iter__"):
        raise ConfigError(f"fit: validation must be a pair (x, y) or a loader of (x, y) batches, got "
                          f"{type(validation).__name__}")
    return Stream(system, validation, "fit validation", losses, None)


def fit(
    system: System,
    x: Any,
    y: Any = None,
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: Any = "adam",
    lr: float | None = None,
    loss: Any = "quad",
    validation: Any = None,
    shuffle: bool | None = None,
    seed: int | None = None,
    metrics: Sequence[str | Metric] | None = None,
    callbacks: Sequence[Any] = (),
    verbose: int = 1,
    steps_per_epoch: int | None = None,
) -> dict[str, list[float]]:
    """Mini-batch training for ``epochs`` passes over (x, y); returns the history.

    ``x`` and ``y`` hold one array per System input and output (a single
    array for a single one): NumPy arrays or array-likes larger than memory
    (``np.memmap``, ``np.load(path, mmap_mode="r")``, h5py, zarr), read and
    cast a batch at a time. Or ``x`` alone is an iterable of ``(x, y)``
    batches (a generator, a list, a loader object) and ``steps_per_epoch``
    of them make an epoch (default: its ``len()``; required without one): a
    one-shot generator is read on across epochs, a re-iterable starts over
    at each. ``shuffle`` (default: yes for arrays) reorders the samples of
    arrays at each epoch, reading each batch's rows where they lie; a stream
    keeps its own order (``shuffle=True`` is an error). ``validation`` is a
    pair ``(xv, yv)`` of arrays or a re-iterable loader of batches,
    evaluated after each epoch.

    ``optimizer`` (a name, class or object) and ``lr``, its learning rate
    (None: the optimizer's own), go to ``System.use_optimizer(optimizer, lr)``,
    which keeps the System's optimizer and its state while the method stays
    the same. The learning rate is one thing under three names: ``fit(lr=)``,
    ``use_optimizer(method, lr)`` and ``learn(scale=)`` (the original library's word); a
    schedule callback (StepLR, CosineLR) sets ``optimizer.lr`` as it goes.

    The history maps ``loss``, each metric and, with ``validation``,
    ``val_loss`` and ``val_<metric>`` to one value per epoch (training values
    are sample-weighted means over the epoch's batches; ``metrics``, names or functions of
    :mod:`tn_core.metrics`, default to accuracy when a loss is a classification loss). ``seed`` makes the
    shuffling and stochastic layers reproducible (default: the System's
    generator). ``callbacks`` (and a ProgressBar unless ``verbose=0``) get
    the training hooks of this fit only, after the registered plugins; a
    callback ends training by setting ``system.stop_training``. A non-finite
    loss, gradient or update raises NonFiniteError naming the step, with the
    parameters and optimizer state of the step before; a failed step also puts
    back the buffers (running statistics) its forward pass moved, the
    callbacks' ``tn_train_failed`` undo what they set up (a schedule's rate),
    and a fit refused or failed before its first update leaves the System's
    optimizer, loss and generator as they were. Under a data-parallel plugin
    (:mod:`tn_core.parallel`) every process walks the same batches and
    computes its share of each.
    """
    from tn_core.callbacks import ProgressBar  # callbacks save models, which build Systems, which fit: a cycle

    epochs = check_int(epochs, "fit: epochs", low=0)
    batch_size = check_int(batch_size, "fit: batch_size")
    steps_per_epoch = None if steps_per_epoch is None else check_int(steps_per_epoch, "fit: steps_per_epoch")
    losses = system._losses(loss)  # unknown losses, and in-memory targets that do not suit them, fail before any update
    fns = resolve_metrics(metrics, losses)
    data = source(system, x, y, "fit", losses, steps_per_epoch, unit="epoch")
    if isinstance(data, Stream) and data.steps(batch_size) is None:
        raise ConfigError("fit: steps_per_epoch is required for batches from an iterable without len() (a generator):"
                          " how many of them make an epoch")
    if isinstance(data, Stream) and shuffle:
        raise ConfigError("fit: shuffle=True cannot reorder a stream of batches; shuffle in the loader, or pass arrays")
    shuffled = isinstance(data, Arrays) and shuffle is not False
    checks = None if validation is None else _validation(system, validation, losses)
    seed = None if seed is None else check_int(seed, "fit: seed", low=0)
    if not isinstance(callbacks, (list, tuple)):
        raise ConfigError(f"fit: callbacks must be a list of callbacks, got {type(callbacks).__name__}")
    own = _checked_callbacks([*callbacks, *([ProgressBar()] if verbose else [])])
    with UndoneUnlessUpdated(system, [], settings=True, generator=True):  # refused or failed before any update
        return _train(system, data, epochs, batch_size, optimizer, lr, loss, shuffled, seed, fns, checks, own)


def _train(
    system: System, data: Arrays | Stream, epochs: int, batch_size: int, optimizer: Any, lr: float | None, loss: Any,
    shuffled: bool, seed: int | None, fns: dict[str, Metric], checks: Any, own: list[Any],
) -> dict[str, list[float]]:
    """:func:`fit`'s training loop, on its checked arguments."""
    opt = system.use_optimizer(optimizer, lr)
    system.loss = loss
    shuffle_rng = None
    if seed is not None:
        shuffle_seed, layer_seed = np.random.SeedSequence(seed).spawn(2)
        shuffle_rng, system.rng = np.random.default_rng(shuffle_seed), np.random.default_rng(layer_seed)
    trained = ["loss", *_metric_names(system, fns), "lr"]
    config = {"epochs": epochs, "batch_size": batch_size, "samples": data.n if isinstance(data, Arrays) else None,
              "steps_per_epoch": data.steps(batch_size), "shuffle": shuffled, "seed": seed, "optimizer": opt,
              "loss": loss, "validation": checks is not None, "metrics": list(fns),
              "logs": trained + [f"val_{key}" for key in trained[:-1] if checks is not None]}
    plugins = get_plugins()
    history: dict[str, list[float]] = {}
    system.stop_training = False
    # a data-parallel callback attaches (and may set every process's system.rng alike) in tn_train_begin, before
    # the others, and detaches in tn_train_end or tn_train_failed, after them
    parallels = [c for c in own if isinstance(c, Parallel)]
    first, last = parallels + [c for c in own if c not in parallels], [c for c in own if c not in parallels] + parallels
    try:
        plugins.call("tn_train_begin", first, system=system, config=config)
        par = parallel_of(system)
        rng = system.rng if shuffle_rng is None else shuffle_rng
        for epoch in range(epochs):
            means = _Means(trained[:-1])
            for batch, (part, idx) in enumerate(data.batches(batch_size, rng if shuffled else None)):
                mine = share_of(par, idx)  # every process walks the same batches and computes its share of each
                value, pgrads, state = 0.0, {}, None
                if len(mine):
                    xs, targets = part.take(mine)
                    state = system.forward(xs, training=True)
                with UndoneUnlessUpdated(system, state.buffers if state else []):
                    if state is not None:
                        value, pgrads = system._update_gradients(state, targets, loss)
                        means.add([value, *_metric_values(state.outputs, targets, fns)], len(mine))
                    system.apply_gradients(pgrads, opt, value, own,
                                           where=f"fit (epoch {epoch + 1}, batch {batch + 1}): ")
            logs = means.result(par)
            if checks is not None:
                scores = _scores(system, checks, loss, max(batch_size, 256), fns)
                logs.update({f"val_{key}": value for key, value in scores.items()})
            logs["lr"] = opt.lr
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            plugins.call("tn_epoch_end", own, system=system, epoch=epoch, logs=logs)
            if system.stop_training:
                break
    except BaseException as error:
        _failed(system, last, error)
        raise
    plugins.call("tn_train_end", last, system=system, history=history)
    return history


HOOKS = ("tn_train_begin", "tn_before_update", "tn_after_update", "tn_epoch_end", "tn_train_end", "tn_train_failed")


def _failed(system: System, callbacks: list[Any], error: BaseException) -> None:
    """The ``tn_train_failed`` hooks of a fit that raised ``error``; one that raises gives a RuntimeWarning, so
    that ``error`` is what the caller gets."""
    try:
        get_plugins().call("tn_train_failed", callbacks, system=system, error=error)
    except Exception as exc:
        warnings.warn(f"fit failed with {type(error).__name__}: {error}; then {exc}", RuntimeWarning, stacklevel=3)


def _checked_callbacks(callbacks: Sequence[Any]) -> list[Any]:
    """fit's callbacks: objects implementing at least one of the training hooks, each once (ConfigError
    otherwise: a callback keeps the state of one fit)."""
    for k, callback in enumerate(callbacks):
        if not any(callable(getattr(callback, hook, None)) for hook in HOOKS):
            raise ConfigError(f"fit: callbacks[{k}] ({callback!r}) implements none of the training hooks "
                              f"{', '.join(HOOKS)}; pass tn.Callback objects")
        if any(other is callback for other in callbacks[:k]):
            raise ConfigError(f"fit: callbacks[{k}] ({callback!r}) is listed twice; a callback keeps the state of "
                              "one fit: pass another object")
    return list(callbacks)
