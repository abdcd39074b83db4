"""The plugin author's kit: gradient checks and the conformance check of a Structure.

``check_gradients(structure, input_shapes)`` compares a Structure's backward
with finite differences of L = sum_k <R_k, y_k> for random R_k, w.r.t. every
float input and trainable parameter (integer inputs and buffers are not
differentiated); ``check_system_gradients`` does the same for a whole System
and a loss. ``check_structure(structure, input_shapes)`` runs every check a
registered layer must pass (gradients, outside and inside a System, batch
independence, shapes, dtypes, buffers, model-file round trip, wrong-shape
errors). A NaN or infinity in an
output or gradient on the example inputs fails. All raise AssertionError
with a readable report. The pytest plugin :mod:`tn_core.pytest_plugin` offers
them as fixtures.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np

from tn_core import serialize
from tn_core.errors import ShapeError
from tn_core.packed import Packed
from tn_core.plugins import get_plugins
from tn_core.structure import Instance, Shape, Structure, using_forward_rng, wanting_input_grads
from tn_core.system import System
from tn_core.wiring import Input

EPS = 1e-6


def _coordinates(array: np.ndarray, limit: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """All indices of a small array, or ``limit`` random ones of a large one."""
    if array.size <= limit:
        return list(np.ndindex(array.shape))
    flat = rng.choice(array.size, size=limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, array.shape)) for k in flat]


def _numeric(
    loss: Callable[[], float], array: np.ndarray, index: Any, eps: float, direction: Any = 1.0
) -> float:
    """Central difference of ``loss`` along ``direction`` in ``array[index]`` (one entry, or ``...``: all)."""
    old = np.copy(array[index])
    array[index] = old + eps * direction
    up = loss()
    array[index] = old - eps * direction
    down = loss()
    array[index] = old
    return (up - down) / (2 * eps)


def _differ(got: float, numeric: float, rtol: float, atol: float) -> bool:
    """Whether a derivative from backward and one from finite differences disagree."""
    return not abs(got - numeric) <= atol + rtol * max(abs(got), abs(numeric))  # NaN differs too


def _gap(array: Any, ref: Any, tol: float) -> float | None:
    """The largest difference between ``array`` and ``ref`` if it exceeds ``tol`` * (1 + the largest entry of
    ``ref``) or is NaN, else None."""
    array, ref = np.asarray(array, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        gap = float(np.max(np.abs(array - ref), initial=0.0))
    return None if gap <= tol * (1.0 + float(np.max(np.abs(ref), initial=0.0))) else gap


def non_finite(label: str, array: Any) -> list[str]:
    """[] if ``array`` is all finite, else one line saying how many entries are not and where the first is."""
    array = np.asarray(array)
    bad = ~np.isfinite(array)
    if not bad.any():
        return []
    first = [int(i) for i in np.argwhere(bad)[0]]
    return [f"{label} holds {int(bad.sum())} NaN or infinite values on the example inputs, "
            f"e.g. {array[tuple(first)]} at {first}"]


def _compare(
    label: str, array: np.ndarray, analytic: np.ndarray | None, loss: Callable[[], float],
    rng: np.random.Generator, rtol: float, atol: float, max_coords: int,
) -> list[str]:
    """[] if the analytic gradient of ``array`` matches finite differences, else what differs.

    ``max_coords`` entries are checked one by one (up to 3 examples reported); in a larger array, the
    derivative along one random direction checks every entry at once as well.
    """
    grad = np.zeros_like(array) if analytic is None else np.asarray(analytic, dtype=np.float64)
    if grad.shape != array.shape:
        return [f"{label}: gradient has shape {grad.shape}, expected {array.shape}"]
    if non_finite(f"{label}: gradient", grad):
        return non_finite(f"{label}: gradient", grad)
    coords = _coordinates(array, max_coords, rng)
    wrong = []
    for index in coords:
        numeric = _numeric(loss, array, index, EPS)
        got = float(grad[index])
        if _differ(got, numeric, rtol, atol):
            wrong.append(f"{list(index)}: backward {got:.8g}, finite difference {numeric:.8g}")
    failures = []
    if wrong:
        examples = "".join(f"\n    {w}" for w in wrong[:3])
        of_all = f" (of {array.size})" if array.size > len(coords) else ""
        failures.append(f"{label}: {len(wrong)} of {len(coords)} checked entries{of_all} differ, e.g.{examples}")
    if array.size > len(coords):
        direction = rng.normal(size=array.shape)
        direction /= np.linalg.norm(direction)
        numeric = _numeric(loss, array, ..., EPS, direction)
        got = float(np.sum(grad * direction))
        if _differ(got, numeric, rtol, atol):
            failures.append(f"{label}: the derivative along a random direction (all {array.size} entries at once) "
                            f"differs: backward {got:.8g}, finite difference {numeric:.8g}")
    return failures


def _report(what: str, failures: list[str]) -> None:
    if failures:
        raise AssertionError(f"gradient check failed for {what}:\n  " + "\n  ".join(failures))


@attrs.define
class _Verified:
    """What a gradient check verified: the parameters and inputs it ran on, the weights R_k of its
    loss, and backward's gradients (computed outside a System)."""

    params: dict[str, np.ndarray]
    xs: list[np.ndarray]
    weights: list[np.ndarray]
    in_grads: list[np.ndarray | None]
    p_grads: dict[str, np.ndarray]


def check_gradients(
    structure: Structure,
    input_shapes: Sequence[tuple[int, ...]],
    batch_size: int = 3,
    seed: int = 0,
    inputs: Sequence[np.ndarray] | None = None,
    training: bool = False,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    max_coords: int = 40,
    perturb: float = 0.5,
) -> None:
    """Check ``structure.backward`` against finite differences, in float64.

    Trainable parameters are moved off their initial values by N(0, perturb^2)
    noise, so that a backward which is right only at special values (a gain of
    1, a bias of 0) fails, and buffers by two training forwards on the inputs.
    Stochastic layers see the same random numbers, and buffers the same
    values, in every evaluation. Integer ``inputs`` (ids) are
    fed as they are and not differentiated: the layer is told their gradient
    is not wanted. NaN or infinity in outputs or gradients fails the check.
    First, forward must leave its inputs unchanged and give the same outputs
    twice (random numbers drawn from ``kit.forward_rng()``), and backward must
    leave the parameters and buffers unchanged.
    """
    _verified_gradients(structure, input_shapes, batch_size, seed, inputs, training, rtol, atol, max_coords, perturb)


def _verified_gradients(
    structure: Structure, input_shapes: Sequence[tuple[int, ...]], batch_size: int, seed: int,
    inputs: Sequence[np.ndarray] | None, training: bool, rtol: float, atol: float, max_coords: int,
    perturb: float = 0.5,
) -> _Verified:
    """:func:`check_gradients`, returning what it verified."""
    rng = np.random.default_rng(seed)
    output_shapes, params = structure.build_checked([tuple(s) for s in input_shapes], rng)
    params = {
        key: value if key in structure.buffers else np.asarray(value + rng.normal(scale=perturb, size=value.shape))
        for key, value in params.items()
    }
    xs = [_example_array(x) for x in inputs] if inputs is not None else [
        rng.normal(size=(batch_size, *shape)) for shape in input_shapes
    ]
    discrete = [_is_discrete(x) for x in xs]
    n = xs[0].shape[0] if xs else batch_size
    weights = [rng.normal(size=(n, *shape)) for shape in output_shapes]
    given = [x.copy() for x in xs]
    for _ in range(2 if structure.buffers else 0):  # buffers off their initial values too, as training moves them
        with using_forward_rng(np.random.default_rng(seed)):
            structure.forward(params, xs, True)
    start = {key: params[key].copy() for key in structure.buffers}

    def run() -> tuple[list[np.ndarray], Any]:
        for key, value in start.items():
            params[key][...] = value
        with using_forward_rng(np.random.default_rng(seed)):
            return structure.forward(params, xs, training)

    def loss() -> float:
        outs, _ = run()
        return float(sum(np.sum(w * o) for w, o in zip(weights, outs)))

    what = f"{structure!r} on inputs {list(input_shapes)}"
    first = [np.array(o, copy=True) for o in run()[0]]
    _report(what, [f"forward changed its input {k} (by up to {_gap(x, g, 0.0):.3g}): forward must leave its "
                   "inputs unchanged" for k, (x, g) in enumerate(zip(xs, given)) if not np.array_equal(x, g)])
    outs, cache = run()
    shapes = [o.shape for o in outs]
    if shapes != [(n, *s) for s in output_shapes]:
        raise AssertionError(f"{structure!r}: outputs have shapes {shapes}, build promised {output_shapes}")
    _report(what, [line for k, o in enumerate(outs) for line in non_finite(f"output {k}", o)])
    mode = "training" if training else "inference"
    _report(what, [f"two {mode} forwards with kit.forward_rng() seeded alike gave output {k} up to {gap:.3g} "
                   "apart: draw random numbers from kit.forward_rng()"
                   for k, (a, b) in enumerate(zip(outs, first)) if (gap := _gap(a, b, 1e-12)) is not None])
    before = {key: value.copy() for key, value in params.items()}
    with wanting_input_grads(tuple(not d for d in discrete)):
        in_grads, p_grads = structure.backward(params, cache, [w.copy() for w in weights])
    _report(what, [f"backward changed the {'buffer' if key in structure.buffers else 'parameter'} {key!r}: "
                   "backward must leave parameters and buffers unchanged"
                   for key, value in params.items() if not np.array_equal(value, before[key])])
    failures = []
    buffer_grads = sorted(set(p_grads) & set(structure.buffers))
    if buffer_grads:
        failures.append(f"backward returned gradients for the buffers {buffer_grads}; buffers get none")
    for k, x in enumerate(xs):
        if not discrete[k]:
            failures += _compare(f"input {k}", x, in_grads[k], loss, rng, rtol, atol, max_coords)
    for key, p in params.items():
        if key not in structure.buffers:
            failures += _compare(f"param {key!r}", p, p_grads.get(key), loss, rng, rtol, atol, max_coords)
    _report(what, failures)
    return _Verified(params, xs, weights, list(in_grads), p_grads)


def _is_discrete(x: np.ndarray) -> bool:
    return x.dtype.kind in "iu"


def _example_array(x: Any) -> np.ndarray:
    """An example input as given if it holds integers (ids), else as float64."""
    x = np.asarray(x)
    return x.copy() if _is_discrete(x) else np.array(x, dtype=np.float64)


def check_system_gradients(
    system: Any, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], loss: Any = "quad",
    seed: int = 0, rtol: float = 1e-4, atol: float = 1e-6, max_coords: int = 40, perturb: float = 0.5,
) -> None:
    """Check ``system.gradients`` (parameters and inputs) against finite differences, and the parameter
    gradients a training step takes (no input gradients) against ``system.gradients``.

    The System must use float64. As in :func:`check_gradients`, the trainable
    parameters are moved off their values by N(0, perturb^2) noise first; the
    System is left as it was.
    """
    if system.dtype != np.float64:
        raise ValueError("check_system_gradients needs a float64 System")
    rng = np.random.default_rng(seed)
    xs = [np.array(x, dtype=dtype) for x, dtype in zip(inputs, system.input_dtypes)]
    saved = [(params, key, params[key].copy()) for owner, params in system.groups for key in system.trainable[owner]]

    def value() -> float:
        state = system.forward(xs)
        return system.loss_gradients(state, targets, loss)[0]

    failures: list[str] = []
    try:
        for params, key, initial in saved:
            params[key][...] = initial + rng.normal(scale=perturb, size=initial.shape)
        pgrads, xgrads = system.gradients(xs, targets, loss=loss, training=False)
        failures += _training_path_gaps(system, xs, targets, loss, pgrads)
        for k, x in enumerate(xs):
            if xgrads[k] is not None:  # None: an integer input
                failures += _compare(f"input {k}", x, xgrads[k], value, rng, rtol, atol, max_coords)
        for owner, params in system.groups:
            for key in system.trainable[owner]:
                label = f"{system.names[owner]}.{key}"
                failures += _compare(label, params[key], pgrads.get(owner, {}).get(key), value, rng, rtol, atol,
                                     max_coords)
    finally:
        for params, key, initial in saved:
            params[key][...] = initial
    _report("the System", failures)


# -- conformance ----------------------------------------------------------------------

class _Skip(Exception):
    """Raised by a check that does not apply; the message says why."""


@attrs.define
class ConformanceReport:
    """What ``check_structure`` did: the checks that passed and the skipped ones with the reason."""

    subject: str
    passed: list[str] = attrs.Factory(list)
    skipped: dict[str, str] = attrs.Factory(dict)


def _is_source(structure: Structure) -> bool:
    return structure.arity == (0, 0)


def _wire(
    structure: Structure, shapes: Sequence[Shape], seed: int, input_dtypes: Sequence[str | None] = ()
) -> tuple[list[Instance], Instance]:
    """Fresh Inputs of ``shapes`` (integer ones where ``input_dtypes`` says so) and the structure's
    instance on them (parameters drawn from ``seed``)."""
    dtypes = list(input_dtypes) or [None] * len(shapes)
    inputs = [Input(s, dtype=d)() for s, d in zip(shapes, dtypes)]
    return inputs, structure(*inputs, rng=np.random.default_rng(seed))


def _one_layer_system(
    structure: Structure, shapes: Sequence[Shape], seed: int, dtype: Any, input_dtypes: Sequence[str | None] = ()
) -> System:
    """A System whose outputs are every slot of one instance of ``structure``.

    A source other than Input gets a (1,)-shaped Input beside it, which
    only tells the System the batch size.
    """
    inputs, inst = _wire(structure, shapes, seed, input_dtypes)
    if not inputs:
        inputs = [inst] if isinstance(structure, Input) else [Input((1,))()]
    return System(inputs, [inst[k] for k in range(len(inst.output_shapes))], dtype=dtype)


def _feed(system: System, batch_size: int, seed: int) -> list[np.ndarray]:
    """Random float64 arrays for the System's inputs."""
    rng = np.random.default_rng(seed + 1)
    return [rng.normal(size=(batch_size, *inst.shape)) for inst in system.inputs]


def _backward_into_nan(
    system: System, state: Any, output_grads: dict[Any, np.ndarray], input_grads: bool, fused: Any = None
) -> tuple[dict[Any, dict[str, np.ndarray]], list[np.ndarray | None]]:
    """``system.backward``, summing the parameter gradients into a buffer filled with NaN (a training step's
    buffer holds the last step's gradients): a layer that adds to its ``kit.gradient_target`` gets NaN."""
    totals = Packed(np.full(system._gradient_size, np.nan, system.dtype), system._trainable_shapes)
    return system._backward(state, output_grads, fused, input_grads, totals)


def _training_path_gaps(system: System, xs: list[np.ndarray], targets: Any, loss: Any, checked: Any) -> list[str]:
    """Where the parameter gradients of a training step (backward without input gradients, into a buffer that
    holds the last step's: NaN here) differ from ``checked``, the gradients :meth:`System.gradients` gave."""
    state = system.forward(xs)
    _, output_grads, fused = system.loss_gradients(state, targets, loss)
    trained, _ = _backward_into_nan(system, state, output_grads, False, fused)
    failures = []
    for owner, params in system.groups:
        for key in system.trainable[owner]:
            got, ref = (grads.get(owner, {}).get(key, np.zeros_like(params[key])) for grads in (trained, checked))
            gap = _gap(got, ref, 1e-9)
            if gap is not None:
                failures.append(_gap_line("a training step (backward without input gradients)",
                                          f"{system.names[owner]}.{key}", gap, "System.gradients'"))
    return failures


def _gap_line(where: str, label: str, gap: float, reference: str) -> str:
    """The failure line for gradient ``label`` computed ``where``, off ``reference`` by ``gap`` (NaN: by a buffer
    starting as NaN that the layer added to)."""
    if np.isnan(gap):
        return (f"{where}: {label} holds NaN (the System's gradient buffer starts as NaN: backward must write "
                "kit.gradient_target(...), not add to it)")
    return f"{where}: {label} differs from {reference} by up to {gap:.3g}"


def _mutations(shape: Shape) -> list[Shape]:
    """Shapes a layer built for ``shape`` may refuse: an extra axis, one axis fewer, a longer first axis."""
    if not shape:
        return [(2,)]
    return [(*shape, 2), shape[:-1], (shape[0] + 1, *shape[1:])]


def _expect_shape_error(structure: Structure, shapes: Sequence[Shape], seed: int) -> str | None:
    """None if wiring ``shapes`` raises a ShapeError naming the layer, else what went wrong."""
    name = structure.type_name()
    try:
        _wire(structure, shapes, seed)
    except ShapeError as exc:
        return None if name in str(exc) else f"the ShapeError for inputs {list(shapes)} does not name {name}: {exc}"
    except Exception as exc:
        return f"wiring inputs {list(shapes)} raised {type(exc).__name__}: {exc} (expected tn.ShapeError)"
    return f"wiring inputs {list(shapes)} was accepted (expected tn.ShapeError)"


class _Conformance:
    """The checks of ``check_structure``, one method each, sharing the float64 one-layer System."""

    #: check name -> method, in the order they run
    METHODS: ClassVar[dict[str, str]] = {
        "gradients": "gradients",
        "gradients (training)": "gradients_training",
        "gradients in a System": "system_gradients",
        "shapes": "shapes_agree",
        "batch independence": "batch_independence",
        "float32": "float32",
        "float64": "float64",
        "buffers": "buffers",
        "round trip": "round_trip",
        "wrong shapes": "wrong_shapes",
    }

    def __init__(
        self, structure: Structure, shapes: list[Shape], batch_size: int, seed: int,
        inputs: Sequence[np.ndarray] | None, bad_input_shapes: Sequence[Sequence[Shape]], grad_options: dict,
    ) -> None:
        self.structure, self.shapes, self.batch_size, self.seed = structure, shapes, batch_size, seed
        self.inputs, self.bad_input_shapes, self.grad_options = inputs, bad_input_shapes, grad_options
        given = inputs is not None and not _is_source(structure)
        examples = [_example_array(x) for x in inputs] if given else []
        #: per input: its integer dtype name (ids: not differentiated, not probed with random shapes) or None
        self.input_dtypes = [x.dtype.name if _is_discrete(x) else None for x in examples]
        self.system = self._system(np.float64)
        self.xs = examples or _feed(self.system, batch_size, seed)
        #: whether the System's inputs are the layer's own (not the batch-size anchor of a Constant)
        self.fed = not _is_source(structure) or isinstance(structure, Input)
        #: what the gradients check verified (None until it passes)
        self.verified: _Verified | None = None

    def _system(self, dtype: Any, structure: Structure | None = None) -> System:
        """The one-layer System of ``structure`` (default: the one checked) on the example input shapes and dtypes."""
        return _one_layer_system(structure or self.structure, self.shapes, self.seed, dtype, self.input_dtypes)

    def _discrete(self, k: int) -> bool:
        return bool(self.input_dtypes) and self.input_dtypes[k] is not None

    def gradients(self, training: bool = False) -> None:
        if _is_source(self.structure):
            raise _Skip("a source (arity 0) has no forward or backward; the System feeds it")
        verified = _verified_gradients(self.structure, self.shapes, self.batch_size, self.seed, self.inputs,
                                       training, **self.grad_options)
        if not training:
            self.verified = verified

    def gradients_training(self) -> None:
        self.gradients(training=True)

    def system_gradients(self) -> None:
        """Backward through the one-layer System, float64 and float32, without input gradients (as in training)
        and with them, into a gradient buffer filled with NaN, gives the gradients the gradients check verified."""
        if _is_source(self.structure):
            raise _Skip("a source (arity 0) has no forward or backward; the System feeds it")
        if self.verified is None:
            raise _Skip("the gradients check failed, so there are no verified gradients to compare with")
        verified, failures = self.verified, []
        for dtype, tol in ((np.dtype(np.float64), 1e-8), (np.dtype(np.float32), 1e-3)):
            system = self._system(dtype)
            for _, params in system.groups:
                for key, value in verified.params.items():
                    params[key][...] = value
            output_grads = {ref: w.astype(dtype) for ref, w in zip(system.outputs, verified.weights)}
            for input_grads in (False, True):
                pgrads, xgrads = _backward_into_nan(system, system.forward(verified.xs), output_grads, input_grads)
                pairs = [(f"param {key!r}", g, verified.p_grads.get(key))
                         for grads in pgrads.values() for key, g in grads.items()]
                pairs += [(f"input {k}", g, verified.in_grads[k]) for k, g in enumerate(xgrads) if g is not None]
                where = f"in a {dtype} System, backward with{'' if input_grads else 'out'} input gradients"
                for label, g, ref in pairs:
                    gap = _gap(g, np.zeros_like(g) if ref is None else ref, tol)
                    if gap is None:
                        continue
                    failures.append(_gap_line(where, label, gap, "the verified gradient"))
        if failures:
            raise AssertionError("\n".join(failures))

    def shapes_agree(self) -> None:
        outs = self.system.forward(self.xs).outputs
        n = self.xs[0].shape[0]
        promised = [(n, *ref.shape) for ref in self.system.outputs]
        assert [o.shape for o in outs] == promised, (
            f"outputs have shapes {[o.shape for o in outs]}, wiring promised {promised}"
        )

    def batch_independence(self) -> None:
        batch = self.system.guess(self.xs)
        failures = []
        for i in range(self.xs[0].shape[0]):
            alone = self.system.guess([x[i] for x in self.xs])
            for k, (b, a) in enumerate(zip(batch, alone)):
                gap = _gap(b[i], a, 1e-9)
                if gap is not None:
                    failures.append(f"output {k} of sample {i} run alone differs from its output in the batch "
                                    f"by up to {gap:.3g}")
        assert not failures, "\n".join(failures)

    def dtype(self, dtype: Any) -> None:
        dtype = np.dtype(dtype)
        system = self.system if dtype == np.float64 else self._system(dtype)
        xs = [x if self._discrete(k) else x.astype(dtype) for k, x in enumerate(self.xs)]
        outs = system.guess(xs)
        failures = [f"output {k} is {o.dtype}" for k, o in enumerate(outs)
                    if o.dtype != dtype and o.dtype.kind not in "iu"]  # integers: ids passed along
        if dtype == np.float32:
            for k, (o, ref) in enumerate(zip(outs, self.system.guess(self.xs))):
                gap = _gap(o, ref, 1e-3)
                if gap is not None:
                    failures.append(f"output {k} differs from the float64 output by up to {gap:.3g}")
        pgrads, xgrads = system.gradients(xs, [np.zeros_like(o) for o in outs], loss="quad", training=False)
        failures += [f"gradient w.r.t. input {k} is {g.dtype}" for k, g in enumerate(xgrads)
                     if g is not None and g.dtype != dtype]
        failures += [
            f"gradient of parameter {key!r} is {g.dtype}"
            for grads in pgrads.values() for key, g in grads.items() if g.dtype != dtype
        ]
        inputs = ", ".join(x.dtype.name for x in xs)
        assert not failures, f"in a {dtype} System (inputs {inputs}): " + "; ".join(failures)

    def float32(self) -> None:
        self.dtype(np.float32)

    def float64(self) -> None:
        self.dtype(np.float64)

    def round_trip(self) -> None:
        name = self.structure.type_name()
        entry = get_plugins().registry()["structure"].get(name)
        if entry is None or entry.obj is not type(self.structure):
            raise _Skip(f"{name} is not registered by an installed plugin, so model files cannot name it")
        config = serialize.to_config(self.structure)
        text = json.dumps(config)
        copy = serialize.from_config(json.loads(text))
        assert type(copy) is type(self.structure), f"from_config made a {type(copy).__name__}"
        again = json.dumps(serialize.to_config(copy))
        assert again == text, f"configuration changed in the round trip:\n  before {text}\n  after  {again}"
        twin = self._system(np.float64, copy)
        for k, (a, b) in enumerate(zip(self.system.guess(self.xs), twin.guess(self.xs))):
            assert np.array_equal(a, b), f"output {k} of the restored structure differs from the original's"

    def buffers(self) -> None:
        """Inference leaves the buffers alone; training keeps them finite; a model file restores them."""
        names = self.structure.buffers
        if not names:
            raise _Skip("the layer declares no buffers")
        system = self._system(np.float64)  # its own: training changes the buffers
        params = system.groups[0][1]
        before = {key: params[key].copy() for key in names}
        system.guess(self.xs)
        changed = [key for key in names if not np.array_equal(before[key], params[key])]
        assert not changed, f"inference (training=False) changed the buffers {changed}"
        for _ in range(2):
            system.forward(self.xs, training=True)
        failures = [line for key in names for line in non_finite(f"buffer {key!r} after training", params[key])]
        assert not failures, "\n".join(failures)
        name = self.structure.type_name()
        if get_plugins().registry()["structure"].get(name) is None:
            raise _Skip(f"{name} is not registered by an installed plugin, so model files cannot name it")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "layer.tn"
            serialize.save(system, path)
            loaded = serialize.load(path)
        restored = loaded.groups[0][1]
        lost = [key for key in names if not np.array_equal(params[key], restored[key])]
        assert not lost, f"a model file round trip did not restore the buffers {lost}"
        for k, (a, b) in enumerate(zip(system.guess(self.xs), loaded.guess(self.xs))):
            assert np.array_equal(a, b), f"output {k} after a model file round trip differs (inference)"

    def wrong_shapes(self) -> None:
        failures = []
        low, high = self.structure.arity
        some = self.shapes[0] if self.shapes else (2,)
        counts = ([high + 1] if high is not None else []) + ([low - 1] if low > 0 else [])
        probes = [[some] * count for count in counts] + [list(s) for s in self.bad_input_shapes]
        for probe in probes:
            failures.append(_expect_shape_error(self.structure, probe, self.seed))
        for k, shape in enumerate(self.shapes):
            if self._discrete(k):
                continue  # random floats mean nothing to a layer of ids
            for bad in _mutations(shape):
                failures.append(self._accepted_or_refused([*self.shapes[:k], bad, *self.shapes[k + 1:]]))
        if self.fed:
            wrong = [np.zeros((*x.shape, 2)) for x in self.xs]
            try:
                self.system.guess(wrong)
                failures.append(f"a System fed inputs of shapes {[w.shape for w in wrong]} accepted them")
            except ShapeError:
                pass
        failures = [f for f in failures if f]
        assert not failures, "\n".join(failures)

    def _accepted_or_refused(self, shapes: list[Shape]) -> str | None:
        """A layer refuses ``shapes`` with a ShapeError at wiring, or works on them as promised."""
        problem = _expect_shape_error(self.structure, shapes, self.seed)
        if problem is None or not problem.endswith("was accepted (expected tn.ShapeError)"):
            return problem
        try:
            system = _one_layer_system(self.structure, shapes, self.seed, np.float64, self.input_dtypes)
            floats = _feed(system, len(self.xs[0]), self.seed)
            system.forward([x if self._discrete(k) else f for k, (x, f) in enumerate(zip(self.xs, floats))])
        except Exception as exc:
            return f"inputs {shapes} were accepted at wiring, then forward raised {type(exc).__name__}: {exc}"
        return None


#: the names of check_structure's checks, in the order they run
CHECKS = tuple(_Conformance.METHODS)


def check_structure(
    structure: Structure,
    input_shapes: Sequence[Sequence[int]],
    batch_size: int = 3,
    seed: int = 0,
    inputs: Sequence[np.ndarray] | None = None,
    bad_input_shapes: Sequence[Sequence[Sequence[int]]] = (),
    rtol: float = 1e-4,
    atol: float = 1e-6,
    max_coords: int = 40,
) -> ConformanceReport:
    """Check that ``structure`` on inputs of ``input_shapes`` behaves as every tensornet layer must.

    Checks (all run; an AssertionError lists every one that failed):

    - gradients, gradients (training): backward agrees with float64 central
      differences w.r.t. every input and parameter, in inference and in
      training mode (stochastic layers see the same random numbers each time),
      after checking that forward leaves its inputs alone and repeats its
      outputs, and that backward leaves parameters and buffers alone;
    - gradients in a System: backward through a one-layer System of float64
      and of float32, with input gradients and without (training's), into a
      gradient buffer filled with NaN, gives the verified gradients (skipped
      when the gradients check failed);
    - shapes: the outputs have the shapes inferred at wiring;
    - batch independence: each sample's outputs are the same alone as in a batch;
    - float32, float64: a one-layer System of that dtype keeps it in outputs
      (but integer ones: ids passed along) and gradients (float32 outputs
      close to float64 ones);
    - round trip: ``tn_core.serialize`` restores the configuration from JSON
      and the restored layer computes the same outputs (skipped, with a
      warning, for a Structure no installed plugin registers);
    - wrong shapes: wiring too many or too few inputs, or inputs of any of
      ``bad_input_shapes``, raises tn.ShapeError naming the layer; an input
      with an axis more, an axis fewer or a longer first axis is refused
      with tn.ShapeError or works as promised; a System fed wrong-shaped
      arrays raises tn.ShapeError.

    - buffers (layers declaring ``buffers``): inference never changes
      them, training keeps them finite, and a model file restores them;

    Sources (arity 0: Input, Constant) have no forward or backward of their
    own (the System feeds them), so they get the System-level checks only.
    ``inputs`` (arrays with a batch axis) replace the random inputs for
    layers defined on a domain; integer arrays among them are ids, fed
    through ``Input(shape, dtype=...)`` of their dtype, never differentiated
    nor probed with random shapes. Returns what passed and what was skipped.
    """
    shapes = [tuple(int(d) for d in s) for s in input_shapes]
    report = ConformanceReport(f"{structure!r} on inputs {shapes}")
    try:
        conf = _Conformance(structure, shapes, batch_size, seed, inputs, bad_input_shapes,
                            {"rtol": rtol, "atol": atol, "max_coords": max_coords})
    except Exception as exc:
        raise AssertionError(
            f"check_structure: {report.subject} cannot be wired into a System: {type(exc).__name__}: {exc}"
        ) from exc
    failed: dict[str, str] = {}
    for name, method in _Conformance.METHODS.items():
        try:
            getattr(conf, method)()
            report.passed.append(name)
        except _Skip as exc:
            report.skipped[name] = str(exc)
        except AssertionError as exc:
            failed[name] = str(exc)
        except Exception as exc:
            failed[name] = f"raised {type(exc).__name__}: {exc}"
    if "round trip" in report.skipped:
        warnings.warn(f"check_structure: round trip skipped: {report.skipped['round trip']}", stacklevel=2)
    if failed:
        raise AssertionError(_conformance_text(report, failed))
    return report


def _conformance_text(report: ConformanceReport, failed: dict[str, str]) -> str:
    lines = [f"check_structure: {len(failed)} of {len(CHECKS)} checks failed for {report.subject}"]
    for name, message in failed.items():
        body = message.replace("\n", "\n      ")
        lines.append(f"  [{name}] {body}")
    if report.passed:
        lines.append(f"  passed: {', '.join(report.passed)}")
    lines += [f"  skipped: {name} ({why})" for name, why in report.skipped.items()]
    return "\n".join(lines)


Example = tuple[Structure, list[Shape], "list[np.ndarray] | None"]


def as_example(entry: Sequence[Any]) -> Example:
    """A ``tn_structure_examples`` entry, ``(structure, input_shapes)`` or ``(structure, input_shapes, inputs)``,
    as the triple with ``inputs`` None when not given."""
    structure, shapes, *rest = entry
    return structure, shapes, (rest[0] if rest else None)


def structure_examples() -> list[Example]:
    """Every ``(structure, input_shapes, inputs or None)`` the loaded plugins give through ``tn_structure_examples``."""
    return [as_example(entry) for result in get_plugins().hook.tn_structure_examples() for entry in result]


def structures_without_examples() -> list[str]:
    """Names of registered Structures that no plugin's ``tn_structure_examples`` covers."""
    registered = {entry.obj for entry in get_plugins().registry()["structure"].values()}
    covered = {type(structure) for structure, _, _ in structure_examples()}
    return sorted(cls.__name__ for cls in registered - covered)
