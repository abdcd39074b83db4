"""Optimizers: they alone change parameters, in place, from summed gradients.

``step(params, grads)`` takes parallel lists of arrays; per-parameter state
(moments) is kept in lists aligned with them and created on the first step.
A step is all or nothing: one that would leave a parameter or its state
non-finite (an overflow) puts everything back and raises NonFiniteError.

An optimizer whose update is elementwise (the built-ins) updates the
parameters a System packs back to back in one buffer (:mod:`tn_core.packed`)
as one array, its state packed alike: a few whole-buffer NumPy operations per
step instead of a few per parameter, with the same values and the same state
per parameter in files. A plugin may give an optimizer class a fused kernel
(hook ``tn_optimizer_kernels``, e.g. tn-accel's): one compiled pass in place
of NumPy's one pass per operation, with the same values, state and
all-or-nothing check.
"""

from __future__ import annotations

import functools
import math
import weakref
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core.errors import NonFiniteError, PluginError, warn_renamed
from tn_core.fields import real_field
from tn_core.packed import Packed, same_objects
from tn_core.plugins import get_plugins, resolve

KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: the parameter index of a packed step: every parameter at once, as one flat array
ALL = -1


def _positive(default: float) -> Any:
    return real_field(default, lambda v: v > 0, "> 0")


def _fraction(default: float) -> Any:
    return real_field(default, lambda v: 0 <= v < 1, "in [0, 1)")


@attrs.define
class Optimizer:
    """Base class. Subclasses implement one of:

    - ``propose(i, p, g) -> step``: the update of parameter i is ``p -= step``; new state values go into
      ``self.staged(name, i, p)``, old ones are read with ``self.state_array(name, i, p)``. Nothing changes
      until every parameter's proposal is checked, so a failed step costs nothing to undo (the built-ins);
    - ``update(i, p, g)``: change ``p`` and ``self.state_array(...)`` arrays in place; the step is made
      undoable by copying the parameters and state first (simpler to write, slower).

    A class whose ``propose`` computes each number of the step from the same number of ``p``, ``g`` and the
    state arrays alone (and scalars) says so with ``elementwise = True`` beside it: parameters packed in
    one buffer are then proposed at once, ``i`` being ALL and ``p``, ``g`` and the state flat arrays.
    The declaration is not inherited by a subclass that overrides ``propose`` (a per-parameter norm, as
    LARS takes, is not elementwise).
    """

    #: whether ``propose`` is elementwise (only the class defining ``propose`` can say so)
    elementwise: ClassVar[bool] = False
    #: the state whose new values are finite whenever the gradient, the old state and the new parameter are
    #: (their staged values are not checked): Adam's m, whose overflow makes the step inf, but not its v:
    #: g^2 overflows float32 for |g| > 1.8e19 while m / sqrt(inf) = 0 leaves the parameter finite
    finite_state: ClassVar[tuple[str, ...]] = ()

    lr: float = _positive(1e-3)
    # the fields a step sets have no converter or validator: setting them skips attrs' on_setattr hook
    steps: int = attrs.field(default=0, init=False, on_setattr=attrs.setters.NO_OP)
    #: state name -> one array per parameter index (None: no state yet); ``state()`` saves them
    state_arrays: dict[str, list[np.ndarray | None]] = attrs.field(factory=dict, init=False, repr=False)
    #: work arrays: scratch arrays, staged state values, copies to undo an in-place step (never saved)
    work_arrays: dict[tuple[str, str, int], np.ndarray] = attrs.field(factory=dict, init=False, repr=False, eq=False)
    #: state name -> its packed current values (``state_arrays[name]`` are their views), and the staging buffer
    _packs: dict[str, Packed] = attrs.field(factory=dict, init=False, repr=False, eq=False)
    _spares: dict[str, Packed] = attrs.field(factory=dict, init=False, repr=False, eq=False)
    _shapes: tuple[tuple[int, ...], ...] = attrs.field(default=(), init=False, repr=False, eq=False,
                                                       on_setattr=attrs.setters.NO_OP)
    _proposed: list[tuple[str, int]] = attrs.field(factory=list, init=False, repr=False, eq=False)
    _created: list[tuple[str, int]] = attrs.field(factory=list, init=False, repr=False, eq=False)
    #: what the last packed step by a plugin's kernel worked out, for the next one to reuse
    _kernel_plan: _KernelPlan | None = attrs.field(default=None, init=False, repr=False, eq=False)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        """Apply one update to every parameter whose gradient is not None, all or nothing.

        If a gradient is not finite, or the update would leave a parameter or its state non-finite, every
        parameter, the state and the step count stay as they were and NonFiniteError is raised, its
        ``parameter`` the index of the first such one and its ``cause`` "gradient" or "update". Any other error
        (NumPy's, on integer parameters) leaves the step count and the state as they were too.
        """
        if self._repeat_kernel_step(params, grads):
            return
        touched = [i for i, g in enumerate(grads) if g is not None]
        self.steps += 1
        self._created.clear()
        try:
            if self._packable(params, grads, touched):
                self._shapes = params.shapes  # type: ignore[attr-defined]
                try:
                    if self._update([(ALL, params.flat, grads.flat)]):  # type: ignore[attr-defined]
                        names, kernel = get_plugins().optimizer_kernels()[type(self)]
                        self._kernel_plan = _KernelPlan(weakref.ref(params), weakref.ref(grads), names, kernel,
                                                        _in_place(kernel), self.work_arrays["new", "", ALL])
                    return
                except NonFiniteError:  # the per-parameter path computes the same values, and names the parameter
                    pass
            self._update([(i, params[i], grads[i]) for i in touched])  # type: ignore[misc]
        except Exception:
            self.steps -= 1
            for name, i in self._created:  # state the failed step made goes again
                self.state_arrays[name][i] = None
            raise

    def _packable(self, params: list[np.ndarray], grads: list[np.ndarray | None], touched: list[int]) -> bool:
        """Whether the step can take every parameter at once: an elementwise class, every parameter touched,
        and parameters and gradients packed alike (:class:`tn_core.packed.Packed`) in one dtype."""
        return (isinstance(params, Packed) and isinstance(grads, Packed) and len(touched) == len(params) > 0
                and params.shapes == grads.shapes and params.flat.dtype == grads.flat.dtype
                and _elementwise(type(self)))

    def _update(self, items: list[tuple[int, np.ndarray, np.ndarray]]) -> bool:
        """The step for (index, parameter, gradient) ``items``: by a plugin's kernel (then True), ``propose`` or
        ``update``."""
        if self._step_fused(items):
            return True
        if type(self).propose is not Optimizer.propose:
            self._step_staged(items)
        else:
            self._step_in_place(items)
        return False

    def _repeat_kernel_step(self, params: list[np.ndarray], grads: list[np.ndarray | None]) -> bool:
        """The packed step by a plugin's kernel once more, as the last step made it, where nothing it relied on
        has changed: the same Packed parameters and gradients, the same kernel, and the state arrays still the
        views of the packed state. True where the step is done; False, with nothing changed, where the general
        path is to run (it also names the parameter of a non-finite step)."""
        plan = self._kernel_plan
        if (plan is None or params is not plan.params() or grads is not plan.grads()
                or get_plugins().optimizer_kernels().get(type(self)) != (plan.names, plan.kernel)):
            return False
        packs, spares = [], []
        for name in plan.names:
            pack, spare = self._packs.get(name), self._spares.get(name)
            if pack is None or spare is None or not same_objects(self.state_arrays.get(name, [])[: len(pack)], pack):
                return False
            packs.append(pack.flat)
            spares.append(spare.flat)
        p = params.flat  # type: ignore[attr-defined]
        self.steps += 1
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # for kernels that call NumPy
                answer = plan.kernel(self, p, grads.flat, packs, plan.out, spares)  # type: ignore[attr-defined]
        except BaseException:
            self.steps -= 1
            raise
        try:
            finite = _kernel_answer(self, plan.kernel, answer)
        except PluginError:  # the kernel ran to its end: an in-place one has written p, the old values aside
            self.steps -= 1
            if plan.in_place:
                np.copyto(p, plan.out)
            raise
        if not finite:
            self.steps -= 1
            if plan.in_place:
                np.copyto(p, plan.out)
            return False
        if not plan.in_place:
            np.copyto(p, plan.out)
        for name in plan.names:
            self._make_staged_current(name)
        return True

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _step_fused(self, items: list[tuple[int, np.ndarray, np.ndarray]]) -> bool:
        """The step by the kernel a plugin gives exactly this class, if every parameter, gradient and state is a
        C-contiguous float32 or float64 array of one dtype and shape; False (the NumPy path then runs) otherwise.

        Each kernel call writes one parameter's new state into the staged arrays, and its new values into a work
        array (or, ``in_place``, into the parameter, the old values into the work array), and says whether they
        are all finite; where one is not, the parameters changed so far get their old values back.
        """
        found = get_plugins().optimizer_kernels().get(type(self))
        if found is None:
            return False
        names, kernel = found
        state = {i: [self.state_array(name, i, p) for name in names] for i, p, _ in items}
        if not all(_kernel_fits([p, g, *state[i]]) for i, p, g in items):
            return False
        self._proposed.clear()
        new = []  # (parameter, its new values), or with an in-place kernel (parameter, its old values)
        in_place = _in_place(kernel)
        with np.errstate(over="ignore", invalid="ignore"):  # for kernels that call NumPy
            for i, p, g in items:
                out = self._buffer("new", "", i, p)
                answer = kernel(self, p, g, state[i], out, [self.staged(name, i, p) for name in names])
                new.append((p, out))
                try:
                    if not _kernel_answer(self, kernel, answer):
                        raise _non_finite(self, i, g)
                except (NonFiniteError, PluginError):
                    for changed, old in new if in_place else ():
                        np.copyto(changed, old)
                    raise
        self._store([] if in_place else new)
        return True

    def _step_staged(self, items: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Every new value is computed and checked before any is stored (non-finite gradients show as
        non-finite new parameters)."""
        self._proposed.clear()
        new = []
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below, before any change
            for i, p, g in items:
                new.append((p, np.subtract(p, self.propose(i, p, g), out=self._buffer("new", "", i, p))))
            unchecked = _finite_state(type(self))
            checked = [(i, self._staged_array(name, i)) for name, i in self._proposed if name not in unchecked]
            for (i, _, g), (_, out) in zip(items, new):
                if not _finite(out) or not all(_finite(array) for j, array in checked if j == i):
                    raise _non_finite(self, i, g)
        self._store(new)

    def _store(self, new: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Copy the checked new values into the parameters and make the staged state current (the old state
        arrays become the next step's staging arrays)."""
        for p, out in new:
            np.copyto(p, out)
        for name, i in self._proposed:
            if i == ALL:
                self._make_staged_current(name)
                continue
            arrays = self._state_list(name, i)
            array = self.work_arrays.pop(("staged", name, i))
            if arrays[i] is not None and arrays[i].shape == array.shape:
                self.work_arrays["staged", name, i] = arrays[i]
            arrays[i] = array

    def _make_staged_current(self, name: str) -> None:
        """The packed staged values of state ``name`` become its current ones (and its views the per-parameter
        arrays); the old ones, where they fit, the next step's staging buffer."""
        staged, old = self._spares.pop(name), self._packs.get(name)
        if old is not None and old.shapes == staged.shapes and old.flat.dtype == staged.flat.dtype:
            self._spares[name] = old
        self._packs[name] = staged
        self._state_list(name, len(staged) - 1)[: len(staged)] = staged

    def _step_in_place(self, items: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        saved = {(name, i): self._copy(name, i, array) for i, p, _ in items for name, array in self._state_of(i, p)}
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below and undone
            for i, p, g in items:
                self.update(i, p, g)
            bad = next(((i, g) for i, p, g in items if not all(_finite(a) for _, a in self._state_of(i, p))), None)
        if bad is None:
            return
        params = {i: p for i, p, _ in items}
        for (name, i), copy in saved.items():
            (params[i] if name == "" else self.state_arrays[name][i])[...] = copy  # type: ignore[index]
        raise _non_finite(self, *bad)

    def _state_of(self, i: int, p: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """("", parameter i) and (state name, array) for its state."""
        return [("", p)] + [
            (name, arrays[i]) for name, arrays in self.state_arrays.items() if i < len(arrays) and arrays[i] is not None
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

    def state_array(self, name: str, i: int, like: np.ndarray) -> np.ndarray:
        """The current value of state ``name`` of parameter i, shaped like it (zeros at first); with i = ALL,
        of every parameter, as one flat array."""
        if i == ALL:
            return self._packed_state(name, like)
        arrays = self._state_list(name, i)
        if arrays[i] is None or arrays[i].shape != like.shape:
            arrays[i] = np.zeros_like(like)
            self._created.append((name, i))
        return arrays[i]

    def _packed_state(self, name: str, like: np.ndarray) -> np.ndarray:
        """State ``name`` of every parameter as one flat array like ``like``, whose views the per-parameter
        arrays are: packed anew (their values copied in, zeros for those without) when they are not."""
        arrays = self._state_list(name, len(self._shapes) - 1)
        current = self._packs.get(name)
        if (current is None or current.shapes != self._shapes or current.flat.dtype != like.dtype
                or not same_objects(arrays[: len(current)], current)):
            current = self._packs[name] = Packed(np.zeros_like(like), self._shapes)
            for k, (array, view) in enumerate(zip(arrays, current)):
                if array is None or array.shape != view.shape:
                    self._created.append((name, k))
                else:
                    view[...] = array
            arrays[: len(current)] = current
        return current.flat

    def staged(self, name: str, i: int, like: np.ndarray) -> np.ndarray:
        """Inside ``propose``: the array to write state ``name``'s new value for parameter i into."""
        self._proposed.append((name, i))
        if i != ALL:
            return self._buffer("staged", name, i, like)
        spare = self._spares.get(name)
        if spare is None or spare.shapes != self._shapes or spare.flat.dtype != like.dtype:
            spare = self._spares[name] = Packed(np.empty_like(like), self._shapes)
        return spare.flat

    def _staged_array(self, name: str, i: int) -> np.ndarray:
        return self._spares[name].flat if i == ALL else self.work_arrays["staged", name, i]

    def _state_list(self, name: str, i: int) -> list[np.ndarray | None]:
        """The arrays of state ``name``, long enough to hold parameter i (None: no state yet)."""
        arrays = self.state_arrays.setdefault(name, [])
        if len(arrays) <= i:
            arrays.extend([None] * (i + 1 - len(arrays)))
        return arrays

    def scratch(self, i: int, like: np.ndarray, name: str = "step") -> np.ndarray:
        """A work buffer shaped like parameter i (not part of the saved state)."""
        return self._buffer("scratch", name, i, like)

    def state(self) -> dict[str, np.ndarray]:
        """All state as named numeric arrays (for saving): ``steps`` and ``<state name>/<parameter index>``.

        A parameter that has had no gradient yet has no state arrays.
        """
        out = {"steps": np.array(self.steps)}
        for name, arrays in self.state_arrays.items():
            for i, array in enumerate(arrays):
                if array is not None:
                    out[f"{name}/{i}"] = array
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned."""
        self.steps = int(state["steps"])
        self.state_arrays = {}
        for key, array in state.items():
            if key != "steps":
                name, index = key.split("/")
                self._state_list(name, int(index))[int(index)] = np.array(array)

    # -- the names before "slot" came to mean an output slot only (tn-core 0.3 drops them) --

    @property
    def slots(self) -> dict[str, list[np.ndarray | None]]:
        """Deprecated spelling of :attr:`state_arrays`."""
        warn_renamed("Optimizer.slots", "Optimizer.state_arrays")
        return self.state_arrays

    def slot(self, name: str, i: int, like: np.ndarray) -> np.ndarray:
        """Deprecated spelling of :meth:`state_array`."""
        warn_renamed("Optimizer.slot()", "Optimizer.state_array()")
        return self.state_array(name, i, like)


@functools.cache
def _elementwise(cls: type[Optimizer]) -> bool:
    """Whether the class that defines ``cls``'s ``propose`` declares it elementwise."""
    owner = next(klass for klass in cls.__mro__ if "propose" in vars(klass))
    return bool(vars(owner).get("elementwise", False))


@functools.cache
def _finite_state(cls: type[Optimizer]) -> frozenset[str]:
    """``cls.finite_state``, or the ``finite_slots`` a class written before the rename declares (warned once)."""
    old = getattr(cls, "finite_slots", None)
    if old is not None:
        warn_renamed(f"{cls.__name__}.finite_slots", "finite_state", stacklevel=5)  # the caller of step
        return frozenset(old)
    return frozenset(cls.finite_state)


@attrs.define
class SGD(Optimizer):
    """Stochastic gradient descent: p -= lr * g."""

    elementwise: ClassVar[bool] = True
    lr: float = _positive(1e-2)

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        return np.multiply(g, self.lr, out=self.scratch(i, p))


@attrs.define
class Momentum(Optimizer):
    """SGD with momentum: v = momentum * v + g; p -= lr * v (or lr * (g + momentum * v) with nesterov=True)."""

    elementwise: ClassVar[bool] = True
    finite_state: ClassVar[tuple[str, ...]] = ("velocity",)  # an overflow of v makes the step inf
    lr: float = _positive(1e-2)
    momentum: float = _fraction(0.9)
    nesterov: bool = False

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        v, v_new, step = self.state_array("velocity", i, p), self.staged("velocity", i, p), self.scratch(i, p)
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

    elementwise: ClassVar[bool] = True
    rho: float = _fraction(0.9)
    eps: float = _positive(1e-8)

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        s, s_new, step = self.state_array("square", i, p), self.staged("square", i, p), self.scratch(i, p)
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

    elementwise: ClassVar[bool] = True
    finite_state: ClassVar[tuple[str, ...]] = ("m",)
    beta1: float = _fraction(0.9)
    beta2: float = _fraction(0.999)
    eps: float = _positive(1e-8)

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        m, v, step = self.state_array("m", i, p), self.state_array("v", i, p), self.scratch(i, p)
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

    elementwise: ClassVar[bool] = True
    weight_decay: float = real_field(1e-2, lambda v: v >= 0, ">= 0")

    def propose(self, i: int, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        step = super().propose(i, p, g)
        step += np.multiply(p, self.lr * self.weight_decay, out=self.scratch(i, p, "decay"))
        return step


def _non_finite(optimizer: Optimizer, i: int, g: np.ndarray) -> NonFiniteError:
    """NonFiniteError for parameter i, whose gradient ``g`` is not finite or whose update would not be."""
    cause = "update" if finite(g) else "gradient"
    text = (f"the gradient of parameter {i} holds NaN or infinite values" if cause == "gradient" else
            f"the {type(optimizer).__name__} update (lr {optimizer.lr:g}) would make parameter {i} or its state "
            "non-finite")
    error = NonFiniteError(text)
    error.parameter, error.cause = i, cause  # type: ignore[attr-defined]
    return error


@attrs.frozen
class _KernelPlan:
    """What a packed step by a plugin's kernel worked out: the Packed parameters and gradients it took (weakly:
    the plan keeps no buffer alive), the kernel with its state names, and the buffer it writes the new
    parameters into (an in-place kernel: their old values)."""

    params: weakref.ref[Packed]
    grads: weakref.ref[Packed]
    names: tuple[str, ...]
    kernel: Any
    in_place: bool
    out: np.ndarray


def _kernel_answer(optimizer: Optimizer, kernel: Any, answer: Any) -> bool:
    """A plugin's kernel's answer, whether every new value is finite; PluginError unless it is a bool."""
    if isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    name = f"{getattr(kernel, '__module__', '?')}.{getattr(kernel, '__qualname__', repr(kernel))}"
    raise PluginError(f"the {type(optimizer).__name__} kernel {name} (hook tn_optimizer_kernels) returned "
                      f"{type(answer).__name__} {answer!r:.60}; expected True or False: whether every new value is "
                      "finite")


def _in_place(kernel: Any) -> bool:
    """Whether a plugin's kernel writes the new parameter values into the parameter itself, its old values
    aside (``kernel.in_place``; see the ``tn_optimizer_kernels`` hook)."""
    return getattr(kernel, "in_place", False) is True


def _kernel_fits(arrays: list[np.ndarray]) -> bool:
    """Whether a fused kernel takes these arrays: C-contiguous, float32 or float64, all of one dtype and shape."""
    first = arrays[0]
    return first.dtype in KERNEL_DTYPES and all(
        a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays)


def finite(array: np.ndarray) -> bool:
    """Whether every value of ``array`` is finite: one BLAS pass (x . x is finite), exact check if that overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _finite(array)


def _finite(array: np.ndarray) -> bool:
    """:func:`finite`, for callers already inside ``np.errstate(over="ignore", invalid="ignore")``."""
    flat = array.reshape(-1)
    return bool(np.isfinite(np.dot(flat, flat))) or bool(np.isfinite(array).all())


def resolve_optimizer(spec: Any, lr: float | None = None) -> Optimizer:
    """An Optimizer from an instance, a subclass or a registered name (with ``lr`` if given)."""
    optimizer = resolve("optimizer", Optimizer, spec)
    if lr is not None:
        optimizer.lr = lr  # converted and validated by the field
    return optimizer
