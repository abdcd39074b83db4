"""The layer protocol: a Structure (layer type + hyperparameters) called on its
parents makes an Instance (one node of a network, holding its parameters).

A Structure subclass is an attrs class and implements three methods::

    build(input_shapes, rng)          -> (output_shapes, {name: param array})
    forward(params, inputs, training) -> (outputs, cache)
    backward(params, cache, grads)    -> (input grads (None where not needed), {name: grad})

Shapes are per sample; arrays carry a leading batch axis. ``backward`` gets
dE/d(output) for every output slot (zeros where unused) and returns
dE/d(input) and dE/d(param); it never changes parameters.

Entries of the params dict named in ``buffers`` are state, not parameters
(BatchNorm's running statistics): ``build`` creates them, ``forward`` may
update them in place when ``training``, ``backward`` returns no gradient for
them, optimizers and update hooks never see them, and files keep them.
"""

from __future__ import annotations

import contextlib
import contextvars
import reprlib
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NamedTuple

import attrs
import numpy as np

from tn_core.errors import ConfigError, NonFiniteError, PluginError, ShapeError, prefixed
from tn_core.seed import wire_seed_keywords

Shape = tuple[int, ...]
Params = dict[str, np.ndarray]
BuildResult = tuple[list[Shape], Params]  # (output shapes, parameters)
ForwardResult = tuple[list[np.ndarray], Any]  # (outputs, cache for backward)
BackwardResult = tuple[list[np.ndarray | None], Params]  # (dE/d inputs, dE/d params)


class BackwardCall(NamedTuple):
    """What a System tells the ``backward`` it calls: which input gradients it uses, and where parameter
    gradients may go ({id(parameter array): array to write its gradient into}, each taken once)."""

    wanted: tuple[bool, ...]
    targets: dict[int, np.ndarray]


_param_rng = np.random.default_rng()
_forward_rng: contextvars.ContextVar[np.random.Generator] = contextvars.ContextVar("tn_forward_rng")
_backward_call: contextvars.ContextVar[BackwardCall | None] = contextvars.ContextVar("tn_backward_call")


def set_seed(seed: int | None) -> None:
    """Seed the generator that initializes parameters when a Structure is called."""
    global _param_rng
    _param_rng = np.random.default_rng(seed)


class using_forward_rng:  # lower case: used as a function, ``with using_forward_rng(rng):``
    """Make ``rng`` the generator ``forward_rng()`` returns inside the block.

    A class rather than a generator context manager: every forward pass enters one, and this costs a
    fraction of a microsecond instead of several.
    """

    __slots__ = ("rng", "token")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __enter__(self) -> None:
        self.token = _forward_rng.set(self.rng)

    def __exit__(self, *exc: object) -> None:
        _forward_rng.reset(self.token)


@contextlib.contextmanager
def wanting_input_grads(wanted: tuple[bool, ...]) -> Iterator[None]:
    """Tell the ``backward`` called inside the block which input gradients are used."""
    token = _backward_call.set(BackwardCall(wanted, {}))
    try:
        yield
    finally:
        _backward_call.reset(token)


def call_backward(method: Any, args: tuple[Any, ...], call: BackwardCall) -> Any:
    """``method(*args)`` (a layer's backward) told ``call`` (:func:`input_grad_wanted`, :func:`gradient_target`)."""
    token = _backward_call.set(call)
    try:
        return method(*args)
    finally:
        _backward_call.reset(token)


def input_grad_wanted(index: int = 0) -> bool:
    """Inside ``backward``: whether the System uses dE/d(input ``index``).

    A layer may return None for an input whose gradient is not wanted (the
    first layer of a network during training) and skip computing it.
    Outside a System every gradient is wanted.
    """
    call = _backward_call.get(None)
    return True if call is None else call.wanted[index]


def gradient_target(param: np.ndarray) -> np.ndarray | None:
    """Inside ``backward``: an array shaped like the parameter array ``param`` to compute its gradient into
    (``out=``) and return as that gradient, or None (then allocate it as usual).

    A System offers each parameter's slot of its gradient buffer once per backward pass (to the first
    layer using the parameter; the others' gradients are added to it), so a gradient computed there is
    not copied. Outside a System, and for arrays that are not a parameter, None.
    """
    call = _backward_call.get(None)
    return None if call is None or not call.targets else call.targets.pop(id(param), None)


def forward_rng() -> np.random.Generator:
    """The random generator of the System running the current forward pass.

    Stochastic layers (Dropout) draw from it so that a System's seed makes
    training reproducible; outside a System a fresh generator is used.
    """
    rng = _forward_rng.get(None)
    return rng if rng is not None else np.random.default_rng()


def as_shape(value: Any, what: str = "shape") -> Shape:
    """Normalize an int or a sequence of ints to a tuple of positive ints."""
    items = (value,) if isinstance(value, (int, np.integer)) else value
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise ConfigError(f"{what} must be an int or a sequence of ints, got {value!r}")
    items = tuple(items)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise ConfigError(f"{what} must be an int or a sequence of ints, got {value!r}")
    if any(v <= 0 for v in items):
        raise ConfigError(f"{what} must hold positive ints, got {value!r}")
    return tuple(int(v) for v in items)


def as_typed(array: Any, dtype: np.dtype, what: str) -> np.ndarray:
    """``array`` as ``dtype``, checked: real numbers (not complex); floats must be finite; an integer
    dtype takes integers in its range, or floats holding whole numbers (ShapeError otherwise)."""
    if array is None:
        raise ShapeError(f"{what}: got None, expected an array")
    if getattr(getattr(array, "dtype", None), "kind", None) == "c":  # refused, not cut to its real part
        raise ShapeError(f"{what}: cannot be read as a {dtype} array: its values are {array.dtype}")
    try:
        raw = np.asarray(array, dtype=dtype if dtype.kind == "f" else None)
    except (TypeError, ValueError) as exc:  # (Python's complex numbers among them)
        raise ShapeError(f"{what}: cannot be read as a {dtype} array: {exc}") from None
    if raw.dtype.kind == "c":
        raise ShapeError(f"{what}: cannot be read as a {dtype} array: its values are {raw.dtype}")
    if dtype.kind == "f":
        if not np.logical_and.reduce(np.isfinite(raw), axis=None):  # isfinite().all() with less overhead
            bad = int(np.size(raw) - np.count_nonzero(np.isfinite(raw)))
            raise NonFiniteError(f"{what}: {bad} NaN or infinite values")
        return raw
    if raw.dtype.kind not in "iuf":
        raise ShapeError(f"{what}: expected integers ({dtype}), got {raw.dtype} values")
    if raw.dtype.kind == "f":
        whole = np.isfinite(raw) & (raw == np.round(raw))
        if not whole.all():
            raise ShapeError(f"{what}: expected integers ({dtype}), got non-integral values such as "
                             f"{raw[~whole].flat[0].item()!r}")
    limits = np.iinfo(dtype)
    if raw.size and (raw.min() < limits.min or raw.max() > limits.max):
        raise ShapeError(f"{what}: values from {raw.min()} to {raw.max()} do not fit in {dtype}")
    return raw.astype(dtype, copy=False)


def _checked_build_result(result: Any, label: str) -> BuildResult:
    """What ``build`` returned as (list of positive-int shape tuples, {str: finite float64 array}), or a
    PluginError saying what is wrong with it."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise PluginError(f"{label}: build returned {reprlib.repr(result)}; expected (list of output shapes, "
                          "{name: parameter array})")
    shapes, params = result
    if not isinstance(shapes, (tuple, list)) or not shapes:
        raise PluginError(f"{label}: build returned output shapes {reprlib.repr(shapes)}; expected a non-empty "
                          "list of shapes (tuples of ints)")
    output_shapes = []
    for slot, shape in enumerate(shapes):
        with prefixed(f"{label}: build returned output shapes {reprlib.repr(shapes)}: slot {slot}", ConfigError,
                      PluginError):
            if isinstance(shape, (int, np.integer)):  # as_shape reads 3 as (3,); here it is a slip for [(3,)]
                raise ConfigError(f"a shape must be a sequence of ints, got {shape!r}")
            output_shapes.append(as_shape(shape, "a shape"))
    if not isinstance(params, dict):
        raise PluginError(f"{label}: build returned parameters {reprlib.repr(params)}; expected a dict "
                          "{name: array}")
    names = [key for key in params if not isinstance(key, str)]
    if names:
        raise PluginError(f"{label}: build returned parameter names {names!r}; names must be str")
    with prefixed(label, (ShapeError, NonFiniteError), PluginError):
        params = {key: as_typed(value, np.dtype(np.float64), f"build returned parameter {key!r}")
                  for key, value in params.items()}
    return output_shapes, params


class OutputRef(NamedTuple):
    """Output slot ``slot`` of ``instance``; what layers are wired to.

    Compares and hashes by the instance's identity and the slot.
    """

    instance: Instance
    slot: int = 0

    @property
    def shape(self) -> Shape:
        return self.instance.output_shapes[self.slot]


def as_refs(parents: Sequence[Any], layer: str) -> list[OutputRef]:
    """Accept Instances (slot 0), OutputRefs, or a single list of them."""
    if len(parents) == 1 and isinstance(parents[0], (list, tuple)) and not isinstance(parents[0], OutputRef):
        parents = parents[0]
    refs = []
    for parent in parents:
        if isinstance(parent, Instance):
            refs.append(parent[0])
        elif isinstance(parent, OutputRef) and isinstance(parent.instance, Instance):
            try:  # an OutputRef made by hand: its slot checked as instance[slot] checks it
                refs.append(parent.instance[parent.slot])
            except IndexError as exc:
                raise ShapeError(f"{layer}: {exc}") from None
        else:
            raise ShapeError(
                f"{layer}: inputs must be Instances or instance[slot] references, "
                f"got {type(parent).__name__}"
            )
    return refs


class Structure:
    """Base class of every layer. Subclasses are attrs classes (see module doc)."""

    #: (fewest, most) inputs the layer accepts; ``None`` means no upper limit.
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    #: names of params entries that are state, updated by ``forward`` in training, never trained
    buffers: ClassVar[tuple[str, ...]] = ()
    #: what the optional inputs after the first carry from step to step, in order (a recurrent layer's
    #: initial "state" and "memory"): the inputs the seed's ``state_inst=`` / ``mem_inst=`` keywords give
    carry_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        raise NotImplementedError(f"{self.type_name()} does not implement build")

    def forward(self, params: Params, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        raise NotImplementedError(f"{self.type_name()} does not implement forward")

    def backward(self, params: Params, cache: Any, grads: list[np.ndarray]) -> BackwardResult:
        raise NotImplementedError(f"{self.type_name()} does not implement backward")

    def __call__(
        self, *parents: Any, name: str | None = None, rng: np.random.Generator | None = None, **seed_keywords: Any
    ) -> Instance:
        """An Instance of this layer reading ``parents`` (Instances, or ``instance[slot]``).

        ``seed_keywords``: the seed's ``input_index=``, ``state_inst=`` and the like, mapped onto the
        parents with a DeprecationWarning (see :mod:`tn_core.seed`).
        """
        if seed_keywords:
            parents = wire_seed_keywords(self, parents, seed_keywords)
        refs = as_refs(parents, self.type_name())
        input_shapes = [ref.shape for ref in refs]
        output_shapes, params = self.build_checked(input_shapes, rng if rng is not None else _param_rng)
        return Instance(self, refs, input_shapes, output_shapes, params, name)

    def build_checked(self, input_shapes: list[Shape], rng: np.random.Generator) -> BuildResult:
        """``build`` with the arity and what it returns checked, and errors naming this layer and its inputs."""
        label = f"{self.type_name()} :: {input_shapes}"
        low, high = self.arity
        if len(input_shapes) < low or (high is not None and len(input_shapes) > high):
            expected = f"{low}" if low == high else f"{low} to {high if high is not None else 'any number of'}"
            raise ShapeError(f"{label}: expected {expected} inputs, got {len(input_shapes)}")
        with prefixed(label, MemoryError, ConfigError), prefixed(label, (ValueError, ConfigError), ShapeError):
            result = self.build(list(input_shapes), rng)  # (ShapeError and ConfigError are ValueErrors)
        output_shapes, params = _checked_build_result(result, label)
        missing = [name for name in self.buffers if name not in params]
        if missing:
            raise PluginError(f"{label}: build made no array for the buffers {missing} the layer declares")
        activation = getattr(self, "activation", None)
        if getattr(activation, "reduces_last_axis", False) and output_shapes and output_shapes[0] == ():
            raise ShapeError(
                f"{label}: {type(activation).__name__} works along the last axis of each sample, and the output "
                "has per-sample shape (): it would mix the samples of a batch"
            )
        return output_shapes, params

    def config(self) -> dict[str, Any]:
        """The hyperparameters (attrs fields) by name."""
        return {field.name: getattr(self, field.name) for field in attrs.fields(type(self))}


class Instance:
    """One node of a network: a Structure, its parents, its shapes and its parameters.

    Instances hash by identity. ``inst[k]`` refers to output slot ``k``.
    Instances made by one ``Clone`` share the same ``params`` dict.
    """

    def __init__(
        self,
        structure: Structure,
        parents: list[OutputRef],
        input_shapes: list[Shape],
        output_shapes: list[Shape],
        params: Params,
        name: str | None = None,
    ) -> None:
        self.structure = structure
        self.parents = list(parents)
        self.input_shapes = list(input_shapes)
        self.output_shapes = list(output_shapes)
        self.params = params
        self.name = name

    def __getitem__(self, slot: int) -> OutputRef:
        if not isinstance(slot, (int, np.integer)) or not 0 <= slot < len(self.output_shapes):
            raise IndexError(
                f"{self.structure.type_name()} has output slots 0..{len(self.output_shapes) - 1}, "
                f"asked for {slot!r}"
            )
        return OutputRef(self, int(slot))

    @property
    def shape(self) -> Shape:
        """Shape of output slot 0."""
        return self.output_shapes[0]

    def __getattr__(self, name: str) -> Any:
        """Only reached for a missing attribute: the seed's ``.layer`` gets a pointer to ``.params``."""
        if name == "layer":
            raise AttributeError(f"{self.structure.type_name()} instances have no .layer (the seed's list of "
                                 "neurons): their parameters are .params, name -> array, e.g. .params['weights']")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"{self.structure.type_name()} :: {self.input_shapes} -> {self.output_shapes}"


class Clone:
    """Makes instances that share one set of parameters (the seed's weight sharing).

    ``shared = tn.Clone(tn.Dense(8))``; ``a = shared(x1)``; ``b = shared(x2)``:
    ``a.params is b.params``. ``tn.Clone(instance)`` shares that instance's
    parameters. Gradients of all uses are summed into one update.
    """

    def __init__(self, source: Structure | Instance) -> None:
        if isinstance(source, Instance):
            self.structure, self.first = source.structure, source
        elif isinstance(source, Structure):
            self.structure, self.first = source, None
        else:
            raise ConfigError(f"Clone needs a Structure or an Instance, got {type(source).__name__}")

    def __call__(
        self, *parents: Any, name: str | None = None, rng: np.random.Generator | None = None, **seed_keywords: Any
    ) -> Instance:
        if seed_keywords:
            parents = wire_seed_keywords(self.structure, parents, seed_keywords)
        if self.first is None:
            self.first = self.structure(*parents, name=name, rng=rng)
            return self.first
        refs = as_refs(parents, self.structure.type_name())
        shapes = [ref.shape for ref in refs]
        if shapes != self.first.input_shapes:
            raise ShapeError(
                f"Clone of {self.structure.type_name()}: shared parameters were built for inputs "
                f"{self.first.input_shapes}, got {shapes}"
            )
        return Instance(self.structure, refs, shapes, self.first.output_shapes, self.first.params, name)
