"""Training callbacks: plugins of the training hooks (:mod:`tn_core.hookspecs`).

``System.fit(..., callbacks=[...])`` registers each callback with the plugin
manager while it runs; nothing in fit knows what they do. A callback binds
to the System whose ``fit`` called ``tn_train_begin`` and ignores updates of
any other System. Subclasses override the plain methods ``on_train_begin``,
``before_update``, ``after_update``, ``on_epoch_end`` and ``on_train_end``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import attrs
import numpy as np

from tn_core.errors import ConfigError, prefixed
from tn_core.fields import choice_field, int_field, labelled, real_field
from tn_core.hookspecs import hookimpl
from tn_core.parallel import writes_output
from tn_core.serialize import save
from tn_core.weights import check_weights_target

#: what a monitored value should do: 'auto' maximizes metrics named like accuracy, minimizes the rest
MODES = ("auto", "min", "max")


class Callback:
    """Base class: the six training hooks, forwarded to overridable methods for the bound System."""

    system: Any = None

    def _mine(self, system: Any) -> bool:
        return self.system is None or system is self.system

    @hookimpl
    def tn_train_begin(self, system: Any, config: dict) -> None:
        self.system = system
        self.on_train_begin(config)

    @hookimpl
    def tn_before_update(self, system: Any, grads: dict, optimizer: Any, step: int) -> None:
        if self._mine(system):
            self.before_update(grads, optimizer, step)

    @hookimpl
    def tn_after_update(self, system: Any, grads: dict, optimizer: Any, step: int, loss: float) -> None:
        if self._mine(system):
            self.after_update(grads, optimizer, step, loss)

    @hookimpl
    def tn_epoch_end(self, system: Any, epoch: int, logs: dict) -> None:
        if self._mine(system):
            self.on_epoch_end(epoch, logs)

    @hookimpl
    def tn_train_end(self, system: Any, history: dict) -> None:
        if self._mine(system):
            self.on_train_end(history)
            self.system = None

    @hookimpl
    def tn_train_failed(self, system: Any, error: BaseException) -> None:
        if self._mine(system):
            self.on_train_failed(error)
            self.system = None

    def on_train_begin(self, config: dict) -> None:
        """``config``: fit's epochs, batch_size, samples, steps_per_epoch, shuffle, seed, optimizer, loss, metrics."""

    def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
        """Before each optimizer step; may change ``grads`` in place or ``optimizer.lr``."""

    def after_update(self, grads: dict, optimizer: Any, step: int, loss: float) -> None:
        """After each optimizer step, with the batch's loss."""

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        """After each epoch (counted from 0) with its metrics; may set ``self.system.stop_training``."""

    def on_train_end(self, history: dict) -> None:
        """When fit ends, normally or stopped."""

    def on_train_failed(self, error: BaseException) -> None:
        """When fit raises ``error`` after on_train_begin (on_train_end is not called then): undo what
        on_train_begin set up."""


@attrs.define(eq=False)
class ProgressBar(Callback):
    """Progress of fit: a live bar on a terminal, else one line per epoch.

    ``fit(verbose=1)`` adds one writing to standard output. Silent on the processes of a
    data-parallel run that do not write output.
    """

    stream: TextIO | None = None
    live: bool | None = None  # default: whether the stream is a terminal
    width: int = int_field(24, low=1)
    _label: str = attrs.field(default="", init=False)
    _epochs: int = attrs.field(default=0, init=False)
    _steps: int = attrs.field(default=0, init=False)
    _batch: int = attrs.field(default=0, init=False)
    _loss: float = attrs.field(default=0.0, init=False)
    _started: float = attrs.field(default=0.0, init=False)
    _drawn: float = attrs.field(default=0.0, init=False)

    def _write(self, text: str) -> None:
        if not writes_output(self.system):
            return
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(text)
        stream.flush()

    def on_train_begin(self, config: dict) -> None:
        self._epochs, self._steps = config["epochs"], config["steps_per_epoch"]
        if self.live is None:
            stream = self.stream if self.stream is not None else sys.stdout
            self.live = bool(getattr(stream, "isatty", lambda: False)())
        self._start_epoch(0)

    def _start_epoch(self, epoch: int) -> None:
        self._label = f"epoch {epoch + 1:>{len(str(self._epochs))}}/{self._epochs}"
        self._batch, self._loss = 0, 0.0
        self._started = self._drawn = time.perf_counter()

    def after_update(self, grads: dict, optimizer: Any, step: int, loss: float) -> None:
        self._batch += 1
        self._loss += loss
        now = time.perf_counter()
        if self.live and (now - self._drawn > 0.1 or self._batch == self._steps):
            self._drawn = now
            done = self._batch * self.width // self._steps
            bar = ("=" * done + ">").ljust(self.width)[: self.width]
            self._write(f"\r{self._label} [{bar}] {self._batch}/{self._steps} loss {self._loss / self._batch:.4g}")

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        shown = "  ".join(f"{key} {value:.4g}" for key, value in logs.items() if key != "lr")
        line = f"{self._label}  {time.perf_counter() - self._started:.1f}s  {shown}"
        self._write(("\r\033[K" if self.live else "") + line + "\n")
        self._start_epoch(epoch + 1)


@attrs.define
class _Best:
    """Tracks the best value of a monitored metric."""

    monitor: str
    mode: str
    min_delta: float
    value: float | None = None
    epoch: int | None = None

    def check(self, config: dict, who: str) -> None:
        """ConfigError at fit start when fit will not log the monitored metric."""
        logs = config.get("logs")
        if logs is not None and self.monitor not in logs:
            raise ConfigError(f"{who} monitors {self.monitor!r}, but this fit logs only {sorted(logs)} "
                              "(validation metrics need fit(validation=...))")

    def improved(self, epoch: int, logs: dict, who: str) -> bool:
        if self.monitor not in logs:
            raise ConfigError(f"{who} monitors {self.monitor!r}, but fit logs only {sorted(logs)} "
                              "(validation metrics need fit(validation=...))")
        value = float(logs[self.monitor])
        maximize = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        better = not math.isnan(value) and (self.value is None or (
            value > self.value + self.min_delta if maximize else value < self.value - self.min_delta
        ))
        if better:
            self.value, self.epoch = value, epoch
        return better


@attrs.define(eq=False)
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode`` 'auto' maximizes metrics named like accuracy and minimizes the
    rest. With ``restore_best`` the parameters of the best epoch are put back
    when training ends.
    """

    monitor: str = "val_loss"
    patience: int = int_field(3, low=0)
    min_delta: float = real_field(0.0, lambda v: v >= 0, ">= 0")
    mode: str = choice_field("auto", MODES)
    restore_best: bool = True
    best: _Best | None = attrs.field(default=None, init=False)
    stopped_epoch: int | None = attrs.field(default=None, init=False)
    _wait: int = attrs.field(default=0, init=False)
    _weights: list[np.ndarray] | None = attrs.field(default=None, init=False, repr=False)

    def on_train_begin(self, config: dict) -> None:
        self.best = _Best(self.monitor, self.mode, self.min_delta)
        self.best.check(config, "EarlyStopping")
        self.stopped_epoch, self._wait, self._weights = None, 0, None

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        assert self.best is not None
        if self.best.improved(epoch, logs, "EarlyStopping"):
            self._wait = 0
            if self.restore_best:
                self._weights = [array.copy() for _, _, array in self.system.parameters()]
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.system.stop_training = True

    def on_train_end(self, history: dict) -> None:
        if self._weights is not None:
            for (_, _, array), best in zip(self.system.parameters(), self._weights):
                array[...] = best


def _path_text(value: Any) -> str:
    """A file path given as a str or a path object, as a str."""
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"path must be a str or a path, got {value!r}")
    return os.fspath(value)


@attrs.define(eq=False)
class ModelCheckpoint(Callback):
    """Save the model (``tn.save``) or its weights after epochs where ``monitor`` improved.

    ``path`` may hold ``{epoch}`` and log keys (``"ocr-{epoch}.tn"``). Files
    are written atomically. ``save_best_only=False`` saves after every
    epoch; ``weights_only`` writes a weights file (checkpoint ``checkpoint``). In a data-parallel
    run one process writes (the saves return without writing on the others). A model file written
    during fit holds the optimizer as it is then: under a schedule, the epoch's rate, where ``tn.save``
    after fit holds the starting rate the schedule puts back.
    """

    path: Any = attrs.field(converter=labelled(_path_text))
    monitor: str = "val_loss"
    mode: str = choice_field("auto", MODES)
    min_delta: float = real_field(0.0, lambda v: v >= 0, ">= 0")
    save_best_only: bool = True
    weights_only: bool = False
    checkpoint: str = "best"
    best: _Best | None = attrs.field(default=None, init=False)
    saved: list[tuple[int, str]] = attrs.field(factory=list, init=False)

    def on_train_begin(self, config: dict) -> None:
        self.best = _Best(self.monitor, self.mode, self.min_delta)
        self.best.check(config, "ModelCheckpoint")
        folder = Path(self.path).parent
        if not folder.is_dir():
            raise ConfigError(f"ModelCheckpoint: path {self.path!r}: the folder {str(folder)!r} does not exist")
        if self.weights_only:  # refused now, not after the first epoch's updates
            with prefixed("ModelCheckpoint"):
                check_weights_target(self.path, self.checkpoint)
        logs = config.get("logs")
        if logs is not None:
            try:
                self.path.format(epoch=1, **dict.fromkeys(logs, 0.0))
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(f"ModelCheckpoint: path {self.path!r} cannot be filled in with what this fit logs "
                                  f"({type(exc).__name__}: {exc}); it may use {{epoch}} and {sorted(logs)}") from None

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        assert self.best is not None
        if not self.best.improved(epoch, logs, "ModelCheckpoint") and self.save_best_only:
            return
        path = Path(self.path.format(epoch=epoch + 1, **logs))
        if self.weights_only:
            self.system.save_weights(path, checkpoint=self.checkpoint)
        else:
            save(self.system, path)
        if writes_output(self.system):  # the other processes of a data-parallel run write nothing
            self.saved.append((epoch, str(path)))


@attrs.define(eq=False)
class _Schedule(Callback):
    """Sets ``optimizer.lr = lr_at(t)`` before each update, t counting fit's updates from 0.

    When fit ends, or fails, the optimizer gets its starting rate back, so a later fit
    (or a saved model) does not silently continue at the schedule's last rate.
    """

    _optimizer: Any = attrs.field(default=None, init=False, repr=False)
    _base: float | None = attrs.field(default=None, init=False)
    _start: int = attrs.field(default=0, init=False)
    _steps_per_epoch: int = attrs.field(default=1, init=False)
    _total: int = attrs.field(default=1, init=False)

    def on_train_begin(self, config: dict) -> None:
        self._optimizer = config["optimizer"]
        self._base = self._optimizer.lr
        self._start = self.system.step
        self._steps_per_epoch = config["steps_per_epoch"]
        self._total = config["epochs"] * config["steps_per_epoch"]

    def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
        if self._base is None:
            raise ConfigError(f"{type(self).__name__} is a fit callback: pass it as fit(..., callbacks=[...])")
        t = step - self._start
        try:
            lr = self.lr_at(t, self._base)
        except OverflowError:
            lr = math.inf
        if not (math.isfinite(lr) and lr > 0):
            raise ConfigError(f"{type(self).__name__}: the learning rate at update {t} of this fit would be {lr}, "
                              "which no optimizer takes")
        optimizer.lr = lr

    def on_train_end(self, history: dict) -> None:
        self._optimizer.lr = self._base
        self._optimizer = self._base = None

    def on_train_failed(self, error: BaseException) -> None:
        if self._optimizer is not None:  # its on_train_begin ran
            self.on_train_end({})

    def lr_at(self, t: int, base: float) -> float:
        raise NotImplementedError


@attrs.define(eq=False)
class StepLR(_Schedule):
    """lr = base * gamma ** floor(epoch / every), epochs counted from the start of fit."""

    every: int = int_field(10, low=1)
    gamma: float = real_field(0.1, lambda v: v > 0, "> 0")

    def lr_at(self, t: int, base: float) -> float:
        return base * self.gamma ** (t // self._steps_per_epoch // self.every)


@attrs.define(eq=False)
class CosineLR(_Schedule):
    """lr = min_lr + (base - min_lr) (1 + cos(pi t / T)) / 2 over T = ``steps`` updates
    (default: all of fit's), then min_lr."""

    min_lr: float = real_field(0.0, lambda v: v >= 0, ">= 0")
    steps: int | None = int_field(None, low=1, optional=True)

    def on_train_begin(self, config: dict) -> None:
        super().on_train_begin(config)
        if self.steps is not None and self.steps < self._total and self.min_lr == 0:
            raise ConfigError(f"CosineLR: after steps={self.steps} of this fit's {self._total} updates the rate would "
                              "stay at min_lr = 0, which no optimizer takes; give min_lr > 0, or steps of at least "
                              "the fit's updates (or None: all of them)")

    def lr_at(self, t: int, base: float) -> float:
        total = self.steps or self._total
        return self.min_lr + 0.5 * (base - self.min_lr) * (1.0 + math.cos(math.pi * min(t, total) / total))


@attrs.define(eq=False)
class GradientClip(Callback):
    """Scale all gradients by max_norm / ||g|| when their global L2 norm ||g|| exceeds ``max_norm``.

    ``norm`` holds the norm before clipping of the last update. Also works
    outside fit when registered as a plugin (then for every System).
    """

    max_norm: float = real_field(attrs.NOTHING, lambda v: v > 0, "> 0")
    norm: float | None = attrs.field(default=None, init=False)

    def before_update(self, grads: dict, optimizer: Any, step: int) -> None:
        arrays = [g for group in grads.values() for g in group.values()]
        self.norm = math.sqrt(sum(float(np.vdot(w, w)) for w in (g.astype(np.float64, copy=False) for g in arrays)))
        # (in float64: a float32 sum of squares overflows to inf for gradients near 1e19, and would clip to 0)
        if self.norm > self.max_norm:
            for g in arrays:
                g *= self.max_norm / self.norm
