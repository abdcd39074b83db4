"""Wiring structures: sources (Input, Constant) and parameter-free reshaping of
the graph (Flatten, Reshape, Concatenate, FlatConcat, Split, Join, Combine).

Axes given to these layers are per-sample axes (0 is the first axis after
the batch axis); negative axes count from the end.

Which join do I want? Four layers bring several inputs together:

- Concatenate(axis): one array, the inputs end to end along an existing
  axis; the other axes must match ((2, 3) and (2, 5) on axis 1: (2, 8)).
  Keras's Concatenate, torch.cat.
- FlatConcat: one flat vector of every input's numbers, any shapes
  ((2, 3) and (4,): (10,)); what a Dense after mixed branches wants.
- Join: one array with a new first axis, inputs of one shape ((3,) x 4:
  (4, 3)); torch.stack. Split(axis=0) undoes it.
- Combine: no new array at all, one output slot per input (``c[k]`` is
  input k): several tensors handed on as one Instance.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core.errors import ConfigError
from tn_core.fields import int_field, is_int
from tn_core.structure import ForwardResult, Shape, Structure, as_shape


def _per_sample_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for per-sample rank {ndim}")
    return axis % ndim


#: the dtypes an Input may declare besides the System's float dtype
DISCRETE_DTYPES = ("int32", "int64")


def _dtype_name(value: Any) -> Any:
    """np.int64, np.dtype("int64") and "int64" alike as "int64"; anything unreadable is left for the validator."""
    try:
        return value if value is None else np.dtype(value).name
    except TypeError:
        return value


def _input_dtype(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value not in DISCRETE_DTYPES:
        raise ConfigError(f"Input: dtype must be None (the System's float dtype) or one of {DISCRETE_DTYPES}, "
                          f"got {value!r}")


@attrs.define
class Input(Structure):
    """A network input of per-sample ``shape``; the System feeds its array.

    ``dtype`` None feeds floats of the System's dtype; "int32" or "int64"
    feeds integers (ids for an Embedding) uncast, and no gradient flows into them.
    """

    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    shape: Shape = attrs.field(converter=lambda s: as_shape(s, "Input shape"))
    dtype: str | None = attrs.field(default=None, converter=_dtype_name, validator=_input_dtype)

    @property
    def discrete(self) -> bool:
        """Whether this input feeds integers."""
        return self.dtype is not None

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        return [self.shape], {}


def _as_constant(value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
        if array.dtype.kind == "c":  # casting would silently drop the imaginary part
            raise TypeError("complex values")
        array = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Constant value must be a real numeric array, got {value!r} ({exc})") from None
    if not np.all(np.isfinite(array)):
        raise ConfigError("Constant value must be finite")
    return array


@attrs.define(eq=False)
class Constant(Structure):
    """A fixed tensor ``value``, the same for every sample (not trained): (N, *value.shape)."""

    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    value: np.ndarray = attrs.field(converter=_as_constant)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        return [self.value.shape], {}

    def emit(self, batch_size: int, dtype: np.dtype) -> np.ndarray:
        """The value repeated over the batch, as a read-only broadcast view."""
        return np.broadcast_to(self.value.astype(dtype), (batch_size, *self.value.shape))


@attrs.define
class Flatten(Structure):
    """Flattens each sample to one axis: (N, *shape) -> (N, prod(shape))."""

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        return [(math.prod(input_shapes[0]),)], {}

    def forward(self, params: dict, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        return [x.reshape(x.shape[0], -1)], x.shape

    def backward(self, params: dict, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        return [grads[0].reshape(cache)], {}


def _reshape_target(shape: Any) -> Shape:
    items = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        items = (items,)  # rejected below
    items = tuple(items)
    if not all(is_int(d) for d in items) or not all(d > 0 or d == -1 for d in items) or items.count(-1) > 1:
        raise ConfigError(f"Reshape shape must hold positive ints and at most one -1, got {shape!r}")
    return tuple(int(d) for d in items)


@attrs.define
class Reshape(Structure):
    """Reshapes each sample: (N, *in_shape) -> (N, *shape); one entry of ``shape`` may be -1."""

    shape: Shape = attrs.field(converter=_reshape_target)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        size = math.prod(input_shapes[0])
        known = math.prod(d for d in self.shape if d != -1)
        if -1 in self.shape:
            if size % known:
                raise ValueError(f"cannot reshape {size} elements into {self.shape}")
            shape = tuple(size // known if d == -1 else d for d in self.shape)
        else:
            shape = self.shape
        if math.prod(shape) != size:
            raise ValueError(f"cannot reshape {size} elements into {self.shape}")
        return [shape], {}

    def forward(self, params: dict, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        return [x.reshape(x.shape[0], *self.shape)], x.shape

    def backward(self, params: dict, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        return [grads[0].reshape(cache)], {}


@attrs.define
class Concatenate(Structure):
    """Join inputs along a per-sample ``axis``; other axes must match."""

    arity: ClassVar[tuple[int, int | None]] = (1, None)
    axis: int = int_field(0, low=None)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        ndim = len(input_shapes[0])
        if any(len(s) != ndim for s in input_shapes):
            raise ValueError("all inputs must have the same rank")
        axis = _per_sample_axis(self.axis, ndim)
        rest = {s[:axis] + s[axis + 1:] for s in input_shapes}
        if len(rest) > 1:
            raise ValueError(f"shapes must match except on axis {self.axis}")
        first = input_shapes[0]
        return [first[:axis] + (sum(s[axis] for s in input_shapes),) + first[axis + 1:]], {}

    def forward(self, params: dict, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        axis = self.axis % (inputs[0].ndim - 1) + 1
        sizes = [x.shape[axis] for x in inputs]
        return [np.concatenate(inputs, axis=axis)], (axis, np.cumsum(sizes)[:-1])

    def backward(self, params: dict, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        axis, cuts = cache
        return list(np.split(grads[0], cuts, axis=axis)), {}


@attrs.define
class FlatConcat(Structure):
    """Flatten every input per sample and concatenate them: (N, sum of sizes)."""

    arity: ClassVar[tuple[int, int | None]] = (1, None)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        return [(sum(math.prod(s) for s in input_shapes),)], {}

    def forward(self, params: dict, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        flat = [x.reshape(x.shape[0], -1) for x in inputs]
        shapes = [x.shape for x in inputs]
        return [np.concatenate(flat, axis=1)], (shapes, np.cumsum([f.shape[1] for f in flat])[:-1])

    def backward(self, params: dict, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        shapes, cuts = cache
        return [g.reshape(s) for g, s in zip(np.split(grads[0], cuts, axis=1), shapes)], {}


@attrs.define
class Split(Structure):
    """One output slot per index along a per-sample ``axis`` (that axis removed)."""

    axis: int = int_field(0, low=None)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        shape = input_shapes[0]
        if not shape:
            raise ValueError("cannot split a scalar per-sample input")
        axis = _per_sample_axis(self.axis, len(shape))
        return [shape[:axis] + shape[axis + 1:]] * shape[axis], {}

    def forward(self, params: dict, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        x = inputs[0]
        axis = self.axis % (x.ndim - 1) + 1
        return list(np.moveaxis(x, axis, 0)), axis

    def backward(self, params: dict, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        return [np.stack(grads, axis=cache)], {}


@attrs.define
class Join(Structure):
    """Stack same-shaped inputs along a new first per-sample axis: (N, k, *shape)."""

    arity: ClassVar[tuple[int, int | None]] = (1, None)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        if len(set(input_shapes)) > 1:
            raise ValueError("all inputs must have the same shape")
        return [(len(input_shapes), *input_shapes[0])], {}

    def forward(self, params: dict, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        return [np.stack(inputs, axis=1)], None

    def backward(self, params: dict, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        return list(np.moveaxis(grads[0], 1, 0)), {}


@attrs.define
class Combine(Structure):
    """Gather several inputs into one instance with one output slot per input."""

    arity: ClassVar[tuple[int, int | None]] = (1, None)

    def build(self, input_shapes: list[Shape], rng: np.random.Generator) -> tuple[list[Shape], dict]:
        return list(input_shapes), {}

    def forward(self, params: dict, inputs: list[np.ndarray], training: bool) -> ForwardResult:
        return list(inputs), None

    def backward(self, params: dict, cache: Any, grads: list[np.ndarray]) -> tuple[list, dict]:
        return list(grads), {}
