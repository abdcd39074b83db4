"""Optimizers: they alone change parameters, in place, from summed gradients.

``step(params, grads)`` takes parallel lists of arrays; per-parameter state
(moments) is kept in lists aligned with them and created on the first step.
A step is all or nothing: one that would leave a parameter or its state
non-finite (an overflow) puts everything back and raises NonFiniteError.
A plugin may give an optimizer class a fused kernel (hook ``tn_optimizer_kernels``,
e.g. tn-accel's): one compiled pass per parameter in place of NumPy's one pass
per operation, with the same values, slots and all-or-nothing check.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core.errors import NonFiniteError
from tn_core.fields import real_field
from tn_core.plugins import get_plugins, resolve

KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _positive(default: float) -> Any:
    return real_field(default, lambda v: v > 0, "> 0")


def _fraction(default: float) -> Any:
    return real_field(default, lambda v: 0 <= v < 1, "in [0, 1)")


@attrs.define
class Optimizer:
    """Base class. Subclasses implement one of:

    - ``propose(i, p, g) -> step``: the update of parameter i is ``p -= step``; new slot values go into
      ``self.staged(name, i, p)``, old ones are read with ``self.slot(name, i, p)``. Nothing changes
      until every parameter's proposal is checked, so a failed step costs nothing to undo (the built-ins);
    - ``update(i, p, g)``: change ``p`` and ``self.slot(...)`` arrays in place; the step is made undoable
      by copying the parameters and slots first (simpler to write, slower).
    """

    #: the slots whose new values are finite whenever the gradient, the old slots and the new parameter are
    #: (their staged values are not checked): Adam's m, whose overflow makes the step inf, but not its v:
    #: g^2 overflows float32 for |g| > 1.8e19 while m / sqrt(inf) = 0 leaves the parameter finite
    finite_slots: ClassVar[tuple[str, ...]] = ()

    lr: float = _positive(1e-3)
    steps: int = attrs.field(default=0, init=False)
    slots: dict[str, list[np.ndarray | None]] = attrs.field(factory=dict, init=False, repr=False)
    #: work arrays: scratch arrays, staged slot values, copies to undo an in-place step (never saved)
    work_arrays: dict[tuple[str, str, int], np.ndarray] = attrs.field(factory=dict, init=False, repr=False, eq=False)
    _proposed: list[tuple[str, int]] = attrs.field(factory=list, init=False, repr=False, eq=False)
    _created: list[tuple[str, int]] = attrs.field(factory=list, init=False, repr=False, eq=False)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        """Apply one update to every parameter whose gradient is not None, all or nothing.

        If a gradient is not finite, or the update would leave a parameter or a slot non-finite, every
        parameter, slot and the step count stay as they were and NonFiniteError is raised, its ``parameter``
        the index of the first such one and its ``cause`` "gradient" or "update". Any other error (NumPy's, on
        integer parameters) leaves the step count and the slots as they were too.
        """
        touched = [i for i, g in enumerate(grads) if g is not None]
        self.steps += 1
        self._created.clear()
        try:
            if self._step_fused(params, grads, touched):
                return
            if type(self).propose is not Optimizer.propose:
                self._step_staged(params, grads, touched)
            else:
                self._step_in_place(params, grads, touched)
        except Exception:
            self.steps -= 1
            for name, i in self._created:  # slots the failed step made go again
                self.slots[name][i] = None
            raise

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _step_fused(self, params: list[np.ndarray], grads: list[np.ndarray | None], touched: list[int]) -> bool:
        """The step by the kernel a plugin gives exactly this class, if every parameter, gradient and slot is a
        C-contiguous float32 or float64 array of one dtype and shape; False (the NumPy path then runs) otherwise.

        Each kernel writes one parameter's new values into the staged arrays and says whether they are finite.
        """
        found = get_plugins().optimizer_kernels().get(type(self))
        if found is None:
            return False
        names, kernel = found
        slots = {i: [self.slot(name, i, params[i]) for name in names] for i in touched}
        if not all(_kernel_fits([params[i], grads[i], *slots[i]]) for i in touched):  # type: ignore[list-item]
            return False
        self._proposed.clear()
        new = {}
        with np.errstate(over="ignore", invalid="ignore"):  # for kernels that call NumPy
            for i in touched:
                new[i] = self._buffer("new", "", i, params[i])
                if not kernel(self, params[i], grads[i], slots[i], new[i],
                              [self.staged(name, i, params[i]) for name in names]):
                    raise _non_finite(self, i, grads[i])  # type: ignore[arg-type]
        self._store(params, new)
        return True

    def _step_staged(self, params: list[np.ndarray], grads: list[np.ndarray | None], touched: list[int]) -> None:
        """Every new value is computed and checked before any is stored (non-finite gradients show as
        non-finite new parameters)."""
        self._proposed.clear()
        new = {}
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below, before any change
            for i in touched:
                new[i] = np.subtract(params[i], self.propose(i, params[i], grads[i]),  # type: ignore[arg-type]
                                     out=self._buffer("new", "", i, params[i]))
        checked = [(i, self.work_arrays["staged", name, i]) for name, i in self._proposed
                   if name not in self.finite_slots]
        for i in touched:
            if not finite(new[i]) or not all(finite(array) for j, array in checked if j == i):
                raise _non_finite(self, i, grads[i])  # type: ignore[arg-type]
        self._store(params, new)

    def _store(self, params: list[np.ndarray], new: dict[int, np.ndarray]) -> None:
        """Copy the checked new values into the parameters and make the staged slot values current (the old
        slot arrays become the next step's staging arrays)."""
        for i, array in new.items():
            np.copyto(params[i], array)
        for name, i in self._proposed:
            arrays = self._slot_list(name, i)
            array = self.work_arrays.pop(("staged", name, i))
            if arrays[i] is not None and arrays[i].shape == array.shape:
                self.work_arrays["staged", name, i] = arrays[i]
            arrays[i] = array

    def _step_in_place(self, params: list[np.ndarray], grads: list[np.ndarray | None], touched: list[int]) -> None:
        saved = {(name, i): self._copy(name, i, array) for i in touched for name, array in self._state_of(i, params)}
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below and undone
            for i in touched:
                self.update(i, params[i], grads[i])  # type: ignore[arg-type]
        bad = next((i for i in touched if not all(finite(a) for _, a in self._state_of(i, params))), None)
        if bad is None:
            return
        for (name, i), copy in saved.items():
            (params[i] if name == "" else self.slots[name][i])[...] = copy  # type: ignore[index]
        raise _non_finite(self, bad, grads[bad])  # type: ignore[arg-type]

    def _state_of(self, i: int, params: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
        """("", parameter i) and (slot name, array) for its slots."""
        return [("", params[i])] + [
            (name, arrays[i]) for name, arrays in self.slots.items() if i < len(arrays) and arrays[i] is not None
        ]

    def _copy(self, name: str, i: int, array: np.ndarray) -> np.ndarray:
        copy = self._buffer("undo", name, i, array)
        np.copyto(copy, array)
        return copy

    def _buffer(self, kind: str, name: str, i: int, like: np.ndarray) -> np.ndarray:
        buffer = self.work_arrays.get((kind, name, i))
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = self.work_arrays[kind, name, i] = np.empty_like(like)
        return buffer

    def slot(self, name: str, i: int, like: np.ndarray) -> np.ndarray:
        """Per-parameter state array ``name`` for parameter i (zeros at first)."""
        arrays = self._slot_list(name, i)
        if arrays[i] is None or arrays[i].shape != like.shape:
            arrays[i] = np.zeros_like(like)
            self._created.append((name, i))
        return arrays[i]

    def staged(self, name: str, i: int, like: np.ndarray) -> np.ndarray:
        """Inside ``propose``: the array to write slot ``name``'s new value for parameter i into."""
        self._proposed.append((name, i))
        return self._buffer("staged", name, i, like)

    def _slot_list(self, name: str, i: int) -> list[np.ndarray | None]:
        """The arrays of slot ``name``, long enough to hold parameter i (None: no state yet)."""
        arrays = self.slots.setdefault(name, [])
        if len(arrays) <= i:
            arrays.extend([None] * (i + 1 - len(arrays)))
        return arrays

    def scratch(self, i: int, like: np.ndarray, name: str = "step") -> np.ndarray:
        """A work buffer shaped like parameter i (not part of the saved state)."""
        return self._buffer("scratch", name, i, like)

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
    """Stochastic gradient descent: p -= lr * g."""

    lr: float = _positive(1e-2)

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        return np.multiply(g, self.lr, out=self.scratch(i, p))


@attrs.define
class Momentum(Optimizer):
    """SGD with momentum: v = momentum * v + g; p -= lr * v (or lr * (g + momentum * v) with nesterov=True)."""

    finite_slots: ClassVar[tuple[str, ...]] = ("velocity",)  # an overflow of v makes the step inf
    lr: float = _positive(1e-2)
    momentum: float = _fraction(0.9)
    nesterov: bool = False

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        v, v_new, step = self.slot("velocity", i, p), self.staged("velocity", i, p), self.scratch(i, p)
        np.multiply(v, self.momentum, out=v_new)
        v_new += g
        if self.nesterov:
            np.multiply(v_new, self.momentum, out=step)
            step += g
            step *= self.lr
            return step
        return np.multiply(v_new, self.lr, out=step)


@attrs.define
class RMSProp(Optimizer):
    """Steps scaled by a moving RMS of the gradient: s = rho s + (1 - rho) g^2; p -= lr * g / (sqrt(s) + eps)."""

    rho: float = _fraction(0.9)
    eps: float = _positive(1e-8)

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        s, s_new, step = self.slot("square", i, p), self.staged("square", i, p), self.scratch(i, p)
        np.multiply(g, g, out=s_new)  # s + (1 - rho) (g^2 - s)
        s_new -= s
        s_new *= 1.0 - self.rho
        s_new += s
        np.sqrt(s_new, out=step)
        step += self.eps
        np.divide(g, step, out=step)
        step *= self.lr
        return step


@attrs.define
class Adam(Optimizer):
    """Adam: p -= lr * m_hat / (sqrt(v_hat) + eps), from moving averages m of g and v of g^2.

    m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2, with the bias corrections
    m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t) at step t (counted from 1).
    """

    finite_slots: ClassVar[tuple[str, ...]] = ("m",)
    beta1: float = _fraction(0.9)
    beta2: float = _fraction(0.999)
    eps: float = _positive(1e-8)

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        m, v, step = self.slot("m", i, p), self.slot("v", i, p), self.scratch(i, p)
        m_new, v_new = self.staged("m", i, p), self.staged("v", i, p)
        np.subtract(g, m, out=m_new)  # m + (1 - beta1) (g - m)
        m_new *= 1.0 - self.beta1
        m_new += m
        np.multiply(g, g, out=v_new)  # v + (1 - beta2) (g^2 - v)
        v_new -= v
        v_new *= 1.0 - self.beta2
        v_new += v
        # lr m_hat / (sqrt(v_hat) + eps) = lr c / (1 - beta1^t) * m / (sqrt(v) + eps c), c = sqrt(1 - beta2^t)
        c = math.sqrt(1.0 - self.beta2**self.steps)  # a Python float keeps the arithmetic in float32
        np.sqrt(v_new, out=step)
        step += self.eps * c
        np.divide(m_new, step, out=step)
        step *= self.lr * c / (1.0 - self.beta1**self.steps)
        return step


@attrs.define
class AdamW(Adam):
    """Adam with decoupled weight decay: p -= lr * weight_decay * p besides the Adam step."""

    weight_decay: float = real_field(1e-2, lambda v: v >= 0, ">= 0")

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        step = super().propose(i, p, g)
        step += np.multiply(p, self.lr * self.weight_decay, out=self.scratch(i, p, "decay"))
        return step


BUILTIN_OPTIMIZERS = [SGD, Momentum, RMSProp, Adam, AdamW]


def _non_finite(optimizer: Optimizer, i: int, g: np.ndarray) -> NonFiniteError:
    """NonFiniteError for parameter i, whose gradient ``g`` is not finite or whose update would not be."""
    cause = "update" if finite(g) else "gradient"
    text = (f"the gradient of parameter {i} holds NaN or infinite values" if cause == "gradient" else
            f"the {type(optimizer).__name__} update (lr {optimizer.lr:g}) would make parameter {i} or its state "
            "non-finite")
    error = NonFiniteError(text)
    error.parameter, error.cause = i, cause  # type: ignore[attr-defined]
    return error


def _kernel_fits(arrays: list[np.ndarray]) -> bool:
    """Whether a fused kernel takes these arrays: C-contiguous, float32 or float64, all of one dtype and shape."""
    first = arrays[0]
    return first.dtype in KERNEL_DTYPES and all(
        a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays)


def finite(array: np.ndarray) -> bool:
    """Whether every value of ``array`` is finite: one BLAS pass (x . x is finite), exact check if that overflows."""
    flat = array.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.dot(flat, flat))) or bool(np.isfinite(array).all())


def resolve_optimizer(spec: Any, lr: float | None = None) -> Optimizer:
    """An Optimizer from an instance, a subclass or a registered name (with ``lr`` if given)."""
    optimizer = resolve("optimizer", Optimizer, spec)
    if lr is not None:
        optimizer.lr = lr  # converted and validated by the field
    return optimizer
