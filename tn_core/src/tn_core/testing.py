"""The plugin author's kit: gradient checks and the conformance check of a Structure.

``check_gradients(structure, input_shapes)`` compares a Structure's backward
with finite differences of L = sum_k <R_k, y_k> for random R_k, w.r.t. every
float input and trainable parameter (integer inputs and buffers are not
differentiated); ``check_system_gradients`` does the same for a whole System
and a loss. ``check_structure(structure, input_shapes)`` runs every check a
registered layer must pass (gradients, batch independence, shapes, dtypes,
buffers, model-file round trip, wrong-shape errors). A NaN or infinity in an
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


def _numeric(loss: Callable[[], float], array: np.ndarray, index: tuple[int, ...], eps: float) -> float:
    old = array[index]
    array[index] = old + eps
    up = loss()
    array[index] = old - eps
    down = loss()
    array[index] = old
    return (up - down) / (2 * eps)


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
    """[] if the analytic gradient of ``array`` matches finite differences, else one summary (up to 3 examples)."""
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
        if not abs(got - numeric) <= atol + rtol * max(abs(got), abs(numeric)):  # NaN fails too
            wrong.append(f"{list(index)}: backward {got:.8g}, finite difference {numeric:.8g}")
    if not wrong:
        return []
    examples = "".join(f"\n    {w}" for w in wrong[:3])
    return [f"{label}: {len(wrong)} of {len(coords)} checked entries differ, e.g.{examples}"]


def _report(what: str, failures: list[str]) -> None:
    if failures:
        raise AssertionError(f"gradient check failed for {what}:\n  " + "\n  ".join(failures))


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
    """
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

    outs, cache = run()
    shapes = [o.shape for o in outs]
    if shapes != [(n, *s) for s in output_shapes]:
        raise AssertionError(f"{structure!r}: outputs have shapes {shapes}, build promised {output_shapes}")
    failures = [line for k, o in enumerate(outs) for line in non_finite(f"output {k}", o)]
    if failures:
        _report(f"{structure!r} on inputs {list(input_shapes)}", failures)
    with wanting_input_grads(tuple(not d for d in discrete)):
        in_grads, p_grads = structure.backward(params, cache, [w.copy() for w in weights])
    buffer_grads = sorted(set(p_grads) & set(structure.buffers))
    if buffer_grads:
        failures.append(f"backward returned gradients for the buffers {buffer_grads}; buffers get none")
    for k, x in enumerate(xs):
        if not discrete[k]:
            failures += _compare(f"input {k}", x, in_grads[k], loss, rng, rtol, atol, max_coords)
    for key, p in params.items():
        if key not in structure.buffers:
            failures += _compare(f"param {key!r}", p, p_grads.get(key), loss, rng, rtol, atol, max_coords)
    _report(f"{structure!r} on inputs {list(input_shapes)}", failures)


def _is_discrete(x: np.ndarray) -> bool:
    return x.dtype.kind in "iu"


def _example_array(x: Any) -> np.ndarray:
    """An example input as given if it holds integers (ids), else as float64."""
    x = np.asarray(x)
    return x.copy() if _is_discrete(x) else np.array(x, dtype=np.float64)


def check_system_gradients(
    system: Any, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], loss: Any = "quad",
    seed: int = 0, rtol: float = 1e-4, atol: float = 1e-6, max_coords: int = 40,
) -> None:
    """Check ``system.gradients`` (parameters and inputs) against finite differences.

    The System must use float64.
    """
    if system.dtype != np.float64:
        raise ValueError("check_system_gradients needs a float64 System")
    rng = np.random.default_rng(seed)
    xs = [np.array(x, dtype=dtype) for x, dtype in zip(inputs, system.input_dtypes)]
    pgrads, xgrads = system.gradients(xs, targets, loss=loss, training=False)

    def value() -> float:
        state = system.forward(xs)
        return system.loss_gradients(state, targets, loss)[0]

    failures: list[str] = []
    for k, x in enumerate(xs):
        if xgrads[k] is not None:  # None: an integer input
            failures += _compare(f"input {k}", x, xgrads[k], value, rng, rtol, atol, max_coords)
    for owner, params in system.groups:
        for key in system.trainable[owner]:
            p = params[key]
            label = f"{system.names[owner]}.{key}"
            failures += _compare(label, p, pgrads.get(owner, {}).get(key), value, rng, rtol, atol, max_coords)
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

    def _system(self, dtype: Any, structure: Structure | None = None) -> System:
        """The one-layer System of ``structure`` (default: the one checked) on the example input shapes and dtypes."""
        return _one_layer_system(structure or self.structure, self.shapes, self.seed, dtype, self.input_dtypes)

    def _discrete(self, k: int) -> bool:
        return bool(self.input_dtypes) and self.input_dtypes[k] is not None

    def gradients(self, training: bool = False) -> None:
        if _is_source(self.structure):
            raise _Skip("a source (arity 0) has no forward or backward; the System feeds it")
        check_gradients(self.structure, self.shapes, self.batch_size, self.seed, self.inputs, training,
                        **self.grad_options)

    def gradients_training(self) -> None:
        self.gradients(training=True)

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
                gap = float(np.max(np.abs(b[i] - a), initial=0.0))
                if gap > 1e-9 * (1.0 + float(np.max(np.abs(a), initial=0.0))):
                    failures.append(f"output {k} of sample {i} run alone differs from its output in the batch "
                                    f"by up to {gap:.3g}")
        assert not failures, "\n".join(failures)

    def dtype(self, dtype: Any) -> None:
        dtype = np.dtype(dtype)
        system = self.system if dtype == np.float64 else self._system(dtype)
        xs = [x if self._discrete(k) else x.astype(dtype) for k, x in enumerate(self.xs)]
        outs = system.guess(xs)
        failures = [f"output {k} is {o.dtype}" for k, o in enumerate(outs) if o.dtype != dtype]
        if dtype == np.float32:
            for k, (o, ref) in enumerate(zip(outs, self.system.guess(self.xs))):
                gap = float(np.max(np.abs(o - ref), initial=0.0))
                if gap > 1e-3 * (1.0 + float(np.max(np.abs(ref), initial=0.0))):
                    failures.append(f"output {k} differs from the float64 output by up to {gap:.3g}")
        pgrads, xgrads = system.gradients(xs, [np.zeros_like(o) for o in outs], loss="quad", training=False)
        failures += [f"gradient w.r.t. input {k} is {g.dtype}" for k, g in enumerate(xgrads)
                     if g is not None and g.dtype != dtype]
        failures += [
            f"gradient of parameter {key!r} is {g.dtype}"
            for grads in pgrads.values() for key, g in grads.items() if g.dtype != dtype
        ]
        assert not failures, f"in a {dtype} System (inputs {dtype}): " + "; ".join(failures)

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
            system = _one_layer_system(self.structure, shapes, self.seed, np.float64)
            system.forward(_feed(system, 2, self.seed))
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
      training mode (stochastic layers see the same random numbers each time);
    - shapes: the outputs have the shapes inferred at wiring;
    - batch independence: each sample's outputs are the same alone as in a batch;
    - float32, float64: a one-layer System of that dtype keeps it in outputs
      and gradients (float32 outputs close to float64 ones);
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
