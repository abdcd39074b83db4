"""Optimizers: they alone change parameters, in place, from summed gradients.

``step(params, grads)`` takes parallel lists of arrays; per-parameter state
(moments) is kept in lists aligned with them and created on the first step.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from tn_core.fields import real_field
from tn_core.plugins import resolve


def _positive(default: float) -> Any:
    return real_field(default, lambda v: v > 0, "> 0")


def _fraction(default: float) -> Any:
    return real_field(default, lambda v: 0 <= v < 1, "in [0, 1)")


@attrs.define
class Optimizer:
    """Base class. Subclasses implement ``update(i, p, g)`` for parameter i."""

    lr: float = _positive(1e-3)
    steps: int = attrs.field(default=0, init=False)
    slots: dict[str, list[np.ndarray | None]] = attrs.field(factory=dict, init=False, repr=False)
    scratch_arrays: dict[int, np.ndarray] = attrs.field(factory=dict, init=False, repr=False, eq=False)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        """Apply one update to every parameter whose gradient is not None."""
        self.steps += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is not None:
                self.update(i, p, g)

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def slot(self, name: str, i: int, like: np.ndarray) -> np.ndarray:
        """Per-parameter state array ``name`` for parameter i (zeros at first)."""
        arrays = self._slot_list(name, i)
        if arrays[i] is None or arrays[i].shape != like.shape:
            arrays[i] = np.zeros_like(like)
        return arrays[i]

    def _slot_list(self, name: str, i: int) -> list[np.ndarray | None]:
        """The arrays of slot ``name``, long enough to hold parameter i (None: no state yet)."""
        arrays = self.slots.setdefault(name, [])
        arrays.extend([None] * (i + 1 - len(arrays)))
        return arrays

    def scratch(self, i: int, like: np.ndarray) -> np.ndarray:
        """A work buffer shaped like parameter i (not part of the saved state)."""
        buffer = self.scratch_arrays.get(i)
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = self.scratch_arrays[i] = np.empty_like(like)
        return buffer

    def state(self) -> dict[str, np.ndarray]:
        """All state as named numeric arrays (for saving): ``steps`` and ``<slot>/<parameter index>``.

        A parameter that has had no gradient yet has no slot arrays.
        """
        out = {"steps": np.array(self.steps)}
        for name, arrays in self.slots.items():
            for i, array in enumerate(arrays):
                if array is not None:
                    out[f"{name}/{i}"] = array
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned."""
        self.steps = int(state["steps"])
        self.slots = {}
        for key, array in state.items():
            if key != "steps":
                name, index = key.split("/")
                self._slot_list(name, int(index))[int(index)] = np.array(array)


@attrs.define
class SGD(Optimizer):
    """p -= lr * g."""

    lr: float = _positive(1e-2)

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        p -= self.lr * g


@attrs.define
class Momentum(Optimizer):
    """v = mu v + g; p -= lr * v (or lr * (g + mu v) with nesterov=True)."""

    lr: float = _positive(1e-2)
    momentum: float = _fraction(0.9)
    nesterov: bool = False

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        v = self.slot("velocity", i, p)
        v *= self.momentum
        v += g
        p -= self.lr * (g + self.momentum * v if self.nesterov else v)


@attrs.define
class RMSProp(Optimizer):
    """s = rho s + (1 - rho) g^2; p -= lr * g / (sqrt(s) + eps)."""

    rho: float = _fraction(0.9)
    eps: float = _positive(1e-8)

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        s = self.slot("square", i, p)
        s *= self.rho
        s += (1.0 - self.rho) * g * g
        p -= self.lr * g / (np.sqrt(s) + self.eps)


@attrs.define
class Adam(Optimizer):
    """m, v: moving averages of g and g^2; p -= lr * m_hat / (sqrt(v_hat) + eps)
    with the bias corrections m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)."""

    beta1: float = _fraction(0.9)
    beta2: float = _fraction(0.999)
    eps: float = _positive(1e-8)

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        m, v, step = self.slot("m", i, p), self.slot("v", i, p), self.scratch(i, p)
        np.subtract(g, m, out=step)  # m += (1 - beta1) (g - m), all in place
        step *= 1.0 - self.beta1
        m += step
        np.multiply(g, g, out=step)  # v += (1 - beta2) (g^2 - v)
        step -= v
        step *= 1.0 - self.beta2
        v += step
        # lr m_hat / (sqrt(v_hat) + eps) = lr c / (1 - beta1^t) * m / (sqrt(v) + eps c), c = sqrt(1 - beta2^t)
        c = math.sqrt(1.0 - self.beta2**self.steps)  # a Python float keeps the arithmetic in float32
        np.sqrt(v, out=step)
        step += self.eps * c
        np.divide(m, step, out=step)
        step *= self.lr * c / (1.0 - self.beta1**self.steps)
        p -= step


@attrs.define
class AdamW(Adam):
    """Adam with decoupled weight decay: p -= lr * weight_decay * p before the Adam step."""

    weight_decay: float = real_field(1e-2, lambda v: v >= 0, ">= 0")

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        p -= (self.lr * self.weight_decay) * p
        super().update(i, p, g)


BUILTIN_OPTIMIZERS = [SGD, Momentum, RMSProp, Adam, AdamW]


def resolve_optimizer(spec: Any, lr: float | None = None) -> Optimizer:
    """An Optimizer from an instance, a subclass or a registered name (with ``lr`` if given)."""
    optimizer = resolve("optimizer", Optimizer, spec)
    if lr is not None:
        optimizer.lr = lr  # converted and validated by the field
    return optimizer
