"""check_structure passes correct layers and fails, with a readable report, layers with planted bugs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import attrs
import numpy as np
import pytest

import tn_core as tn
from tn_core import kit
from tn_core.plugins import get_plugins
from tn_core.testing import CHECKS, check_gradients, check_structure, check_system_gradients

pytestmark = pytest.mark.filterwarnings("ignore:check_structure. round trip skipped:UserWarning")


def random_shapes(count: int, seed: int) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 4))) for _ in range(count)]


SHAPES = random_shapes(4, seed=7)


@attrs.define
class KitScale(tn.Structure):
    """y = w * x, w of the input's shape."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {"w": rng.normal(size=input_shapes[0])}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [params["w"] * inputs[0]], inputs[0]

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [params["w"] * grads[0]], {"w": np.sum(cache * grads[0], axis=0)}


@attrs.define
class KitWrongScale(KitScale):
    """Planted bug: the input gradient is doubled and the parameter gradient is not summed over the batch."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [2 * params["w"] * grads[0]], {"w": (cache * grads[0])[0]}


@attrs.define
class KitSumDiff(tn.Structure):
    """Two inputs, two outputs: (a + b, a - b) for same-shaped a, b."""

    arity = (2, 2)

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        if input_shapes[0] != input_shapes[1]:
            raise tn.ShapeError(f"inputs must have the same shape, got {input_shapes}")
        return [input_shapes[0]] * 2, {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        a, b = inputs
        return [a + b, a - b], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0] + grads[1], grads[0] - grads[1]], {}


@attrs.define
class KitBatchCentered(tn.Structure):
    """Planted bug: y = x - mean over the batch (correct gradients, but samples depend on each other)."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [inputs[0] - inputs[0].mean(axis=0)], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0] - grads[0].mean(axis=0)], {}


@attrs.define
class KitShapeLiar(KitScale):
    """Planted bug: wiring promises one more element than forward returns."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [(math.prod(input_shapes[0]) + 1,)], {"w": rng.normal(size=input_shapes[0])}


@attrs.define
class KitFloat64(KitScale):
    """Planted bug: computes in float64 whatever the System's dtype."""

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [params["w"].astype(np.float64) * inputs[0]], inputs[0]


@attrs.define
class KitSwap(tn.Structure):
    """Planted bug: swaps the first two axes, but build indexes a 1-D shape's second axis (IndexError)."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        s = input_shapes[0]
        return [(s[1], s[0], *s[2:])], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [np.swapaxes(inputs[0], 1, 2)], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [np.swapaxes(grads[0], 1, 2)], {}


@attrs.define
class KitFixedFour(tn.Structure):
    """Planted bug: any input is accepted at wiring, but forward only works on 4 elements."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [(4,)], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [inputs[0].reshape(len(inputs[0]), 4)], inputs[0].shape

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0].reshape(cache)], {}


@attrs.define
class KitDropout(tn.Structure):
    """Inverted dropout drawing from kit.forward_rng(); ``forgets_mask`` plants a bug in training backward."""

    rate: float = 0.5
    forgets_mask: bool = False

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        x = inputs[0]
        if not training:
            return [x], None
        mask = (kit.forward_rng().random(x.shape) >= self.rate) / (1 - self.rate)
        return [x * mask], mask

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0] if cache is None or self.forgets_mask else grads[0] * cache], {}


@attrs.define
class KitUnsavable(KitScale):
    """Planted bug for a registered layer: a field model files cannot hold."""

    transform: Any = np.tanh


@pytest.fixture
def registered() -> Iterator[None]:
    """The Kit* structures registered by a temporary plugin, so model files can name them."""
    structures = [KitScale, KitWrongScale, KitSumDiff, KitDropout, KitUnsavable]
    plugin = SimpleNamespace(tn_register_structures=tn.hookimpl(lambda: structures))
    get_plugins().register(plugin, "kit-test")
    yield
    get_plugins().unregister("kit-test")


def failures_in(structure: tn.Structure, shapes: list, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        check_structure(structure, shapes, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_correct_layers_pass_every_check(registered: None, shape: tuple) -> None:
    for structure, shapes in [(KitScale(), [shape]), (KitSumDiff(), [shape, shape]), (KitDropout(0.3), [shape])]:
        report = check_structure(structure, shapes, seed=len(shape))
        assert report.passed == [c for c in CHECKS if c != "buffers"], report
        assert report.skipped == {"buffers": "the layer declares no buffers"}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_planted_wrong_gradients_are_reported(shape: tuple) -> None:
    text = failures_in(KitWrongScale(), [shape])
    assert text.startswith("check_structure: 2 of 10 checks failed for KitWrongScale() on inputs")
    for gradients in ("[gradients]", "[gradients (training)]"):
        section = text.split(gradients)[1].split("\n  [")[0]
        assert "input 0: " in section and "param 'w': " in section and "finite difference" in section
    assert "passed: shapes, batch independence, float32, float64, wrong shapes" in text
    assert "skipped: gradients in a System (the gradients check failed" in text
    assert "skipped: round trip (KitWrongScale is not registered" in text


def test_wrong_training_gradients_are_caught_with_the_forward_rng() -> None:
    text = failures_in(KitDropout(0.5, forgets_mask=True), [(6,)])
    assert "1 of 10 checks failed" in text and "[gradients (training)] gradient check failed" in text


def test_batch_dependence_is_reported() -> None:
    text = failures_in(KitBatchCentered(), [(3,)])
    assert "1 of 10 checks failed" in text
    assert "[batch independence] output 0 of sample 0 run alone differs from its output in the batch" in text


def test_shape_inference_disagreeing_with_outputs_is_reported() -> None:
    text = failures_in(KitShapeLiar(), [(2, 3)])
    assert "[shapes] raised PluginError: KitShapeLiar 'kitshapeliar_1'.forward returned outputs of shapes [(3, 2, 3)]" \
        in text
    assert "expected [(3, 7)]" in text


def test_dtype_not_preserved_is_reported() -> None:
    text = failures_in(KitFloat64(), [(3,)])
    assert "2 of 10 checks failed" in text
    assert "[gradients in a System] raised PluginError: KitFloat64 'kitfloat64_1'.forward returned outputs" in text
    assert ("[float32] raised PluginError: KitFloat64 'kitfloat64_1'.forward returned outputs of dtype "
            "[(0, 'float64')] (slot, dtype) in a float32 System") in text


def test_non_shape_errors_for_wrong_shapes_are_reported() -> None:
    text = failures_in(KitSwap(), [(2, 3)])
    assert "[wrong shapes] wiring inputs [(2,)] raised IndexError" in text
    assert "(expected tn.ShapeError)" in text


def test_shapes_accepted_at_wiring_must_work_in_forward() -> None:
    text = failures_in(KitFixedFour(), [(4,)])
    assert "[wrong shapes] inputs [(4, 2)] were accepted at wiring, then forward raised ValueError" in text


def test_bad_input_shapes_must_be_refused() -> None:
    check_structure(KitSumDiff(), [(2,), (2,)], bad_input_shapes=[[(2,), (3,)]])
    text = failures_in(KitScale(), [(2,)], bad_input_shapes=[[(5, 5)]])
    assert "[wrong shapes] wiring inputs [(5, 5)] was accepted (expected tn.ShapeError)" in text


def test_configuration_that_does_not_round_trip_is_reported(registered: None) -> None:
    text = failures_in(KitUnsavable(), [(2,)])
    assert "1 of 10 checks failed" in text and "[round trip] raised ConfigError: KitUnsavable.transform" in text


def test_unregistered_structure_skips_the_round_trip_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="round trip skipped: KitScale is not registered"):
        report = check_structure(KitScale(), [(2,)])
    assert "round trip" in report.skipped and "round trip" not in report.passed


def test_sources_get_the_system_level_checks(rng: np.random.Generator) -> None:
    for structure in (tn.Input((2, 3)), tn.Constant(rng.normal(size=(3,)))):
        report = check_structure(structure, [])
        assert set(report.skipped) == {"gradients", "gradients (training)", "gradients in a System", "buffers"}
        assert "source (arity 0)" in report.skipped["gradients"]
        assert report.passed == [c for c in CHECKS if not c.startswith("gradients") and c != "buffers"]


def test_a_structure_that_cannot_be_wired_is_reported() -> None:
    with pytest.raises(AssertionError, match=r"KitSumDiff\(\) on inputs \[\(2,\), \(3,\)\] cannot be wired"):
        check_structure(KitSumDiff(), [(2,), (3,)])


def test_pytest_fixture_comes_from_the_entry_point(tn_check_structure: Any) -> None:
    assert tn_check_structure is check_structure


@attrs.define
class RightOnlyAtOne(tn.Structure):
    """y = g * x with g starting at 1, and a backward that forgets g in dE/dx."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {"g": np.ones(input_shapes[0])}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [params["g"] * inputs[0]], inputs[0]

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0]], {"g": np.sum(grads[0] * cache, axis=0)}


def test_gradients_are_checked_away_from_the_initial_parameter_values() -> None:
    with pytest.raises(AssertionError, match="input 0"):
        check_gradients(RightOnlyAtOne(), [(3,)])
    check_gradients(RightOnlyAtOne(), [(3,)], perturb=0.0)  # at g = 1 the bug is invisible


@attrs.define
class KitLog(tn.Structure):
    """Planted bug: y = log(x) on inputs that may be negative (NaN outputs, and NaN-blind comparisons pass)."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        with np.errstate(invalid="ignore", divide="ignore"):
            return [np.log(inputs[0])], inputs[0]

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0] / cache], {}


@attrs.define
class KitNaNGradient(KitScale):
    """Planted bug: finite outputs, a NaN parameter gradient."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        in_grads, p_grads = super().backward(params, cache, grads)
        return in_grads, {"w": p_grads["w"] * np.nan}


def test_non_finite_outputs_and_gradients_fail_the_checks_saying_where() -> None:
    text = failures_in(KitLog(), [(4,)])
    assert "[gradients] gradient check failed" in text
    assert "output 0 holds" in text and "NaN or infinite values on the example inputs, e.g. nan at [" in text
    with pytest.raises(AssertionError, match=r"param 'w': gradient holds 3 NaN or infinite values"):
        kit.check_gradients(KitNaNGradient(), [(3,)])


# -- gradients in a System: the buffer, input_grad_wanted, float32 ------------------------------------------


@attrs.define
class KitScaleIntoTarget(KitScale):
    """Correct: dE/dw computed into kit.gradient_target, dE/dx only when wanted."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        dw = np.sum(cache * grads[0], axis=0, out=kit.gradient_target(params["w"]))
        return [params["w"] * grads[0] if kit.input_grad_wanted(0) else None], {"w": dw}


@attrs.define
class KitAddsToTarget(KitScale):
    """Planted bug: adds dE/dw to kit.gradient_target (right only where it starts at zero: outside a System)."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        target = kit.gradient_target(params["w"])
        dw = np.zeros_like(params["w"]) if target is None else target
        dw += np.sum(cache * grads[0], axis=0)
        return [params["w"] * grads[0]], {"w": dw}


@attrs.define
class KitWrongWithoutInputGradient(KitScale):
    """Planted bug: dE/dw doubled when dE/dx is not wanted (a first layer in training)."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        dw = np.sum(cache * grads[0], axis=0)
        if kit.input_grad_wanted(0):
            return [params["w"] * grads[0]], {"w": dw}
        return [None], {"w": 2 * dw}


@attrs.define
class KitWrongInFloat32(KitScale):
    """Planted bug: dE/dw doubled in float32."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        dw = np.sum(cache * grads[0], axis=0)
        return [params["w"] * grads[0]], {"w": 2 * dw if dw.dtype == np.float32 else dw}


def test_a_layer_writing_into_the_gradient_target_passes_in_a_system() -> None:
    assert "gradients in a System" in check_structure(KitScaleIntoTarget(), [(2, 3)]).passed


@pytest.mark.parametrize(("structure", "wrong"), [
    (KitAddsToTarget(), ["float64 System, backward without", "float64 System, backward with ",
                         "float32 System, backward without", "float32 System, backward with "]),
    (KitWrongWithoutInputGradient(), ["float64 System, backward without", "float32 System, backward without"]),
    (KitWrongInFloat32(), ["float32 System, backward without", "float32 System, backward with "]),
], ids=["adds-to-target", "wrong-without-input-gradient", "wrong-in-float32"])
def test_gradients_in_a_system_are_compared_with_the_verified_ones(structure: tn.Structure, wrong: list) -> None:
    text = failures_in(structure, [(2, 3)])
    assert "1 of 10 checks failed" in text and "passed: gradients, gradients (training), shapes" in text
    lines = text.split("[gradients in a System] ")[1].split("\n  passed")[0].split("\n      ")
    assert len(lines) == len(wrong), lines
    for line, where in zip(lines, wrong):
        assert line.startswith(f"in a {where}"), line
        if isinstance(structure, KitAddsToTarget):
            assert line.endswith("param 'w' holds NaN (the System's gradient buffer starts as NaN: backward must "
                                 "write kit.gradient_target(...), not add to it)"), line
        else:
            assert "input gradients: param 'w' differs from the verified gradient by up to " in line, line


@pytest.mark.parametrize(("structure", "wrong"), [
    (KitAddsToTarget(), re.escape("holds NaN (the System's gradient buffer starts as NaN: backward must write "
                                  "kit.gradient_target(...), not add to it)")),
    (KitWrongWithoutInputGradient(), r"differs from System.gradients' by up to \d[\d.e+-]*"),
], ids=["adds-to-target", "wrong-without-input-gradient"])
def test_check_system_gradients_compares_a_training_steps_gradients(structure: tn.Structure, wrong: str,
                                                                       rng: np.random.Generator) -> None:
    """A first layer gets no input gradient in training: the path System.gradients does not take."""
    x = tn.Input((3,))()
    system = tn.System([x], [tn.Dense(2)(structure(x))], dtype=np.float64, seed=0)
    with pytest.raises(AssertionError) as info:
        check_system_gradients(system, [rng.normal(size=(4, 3))], [rng.normal(size=(4, 2))])
    name = f"{type(structure).__name__.lower()}_1.w"
    # (adding to an uninitialized buffer may also break System.gradients' own values: those lines vary)
    lines = [line for line in str(info.value).splitlines() if "a training step" in line]
    assert len(lines) == 1 and re.fullmatch(rf"  a training step \(backward without input gradients\): {name} {wrong}",
                                            lines[0]), lines


def test_check_system_gradients_passes_a_layer_right_on_both_paths(rng: np.random.Generator) -> None:
    x = tn.Input((3,))()
    system = tn.System([x], [tn.Dense(2)(KitScaleIntoTarget()(x))], dtype=np.float64, seed=0)
    check_system_gradients(system, [rng.normal(size=(4, 3))], [rng.normal(size=(4, 2))])


# -- integer ids passed along, and ids in the wrong-shape probes ---------------------------------------------

IDS = np.array([[0, 3, 3], [4, 1, 0], [2, 2, 1]])


@attrs.define
class KitLastIds(tn.Structure):
    """Passes the last two ids along: an integer output, as a System allows."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        if len(input_shapes[0]) != 1 or input_shapes[0][0] < 2:
            raise tn.ShapeError(f"expected ids (T >= 2,), got {input_shapes[0]}")
        return [(2,)], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [inputs[0][:, -2:]], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [None], {}


@attrs.define
class KitDoubledInFloat32(tn.Structure):
    """Planted bug: looks ids (T,) up in a table, doubling the vectors in float32."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [(*input_shapes[0], 2)], {"table": rng.normal(size=(5, 2))}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        table = params["table"]
        return [table[inputs[0]] * (2 if table.dtype == np.float32 else 1)], inputs[0]

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        grad = np.zeros_like(params["table"])
        np.add.at(grad, cache, grads[0] * (2 if grad.dtype == np.float32 else 1))
        return [None], {"table": grad}


@attrs.define
class KitIdsAndContext(tn.Structure):
    """y = mean_t E[ids_t] + C flatten(context), for ids (T,) and a context of any shape; float ids are refused."""

    arity = (2, 2)

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        if len(input_shapes[0]) != 1:
            raise tn.ShapeError(f"expected ids (T,), got {input_shapes[0]}")
        return [(2,)], {"E": rng.normal(size=(5, 2)), "C": rng.normal(size=(2, math.prod(input_shapes[1])))}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        ids, context = inputs
        if ids.dtype.kind not in "iu":
            raise tn.ShapeError(f"ids must be integers, got {ids.dtype}")
        flat = context.reshape(len(context), -1)
        return [params["E"][ids].mean(axis=1) + flat @ params["C"].T], (ids, flat, context.shape)

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        ids, flat, shape = cache
        grad_e = np.zeros_like(params["E"])
        np.add.at(grad_e, ids, np.repeat(grads[0][:, np.newaxis] / ids.shape[1], ids.shape[1], axis=1))
        dx = (grads[0] @ params["C"]).reshape(shape) if kit.input_grad_wanted(1) else None
        return [None, dx], {"E": grad_e, "C": grads[0].T @ flat}


@pytest.mark.parametrize("structure", [KitLastIds(), tn.Flatten(), tn.Reshape((3, 1))], ids=repr)
def test_layers_passing_ids_along_pass_the_dtype_checks(structure: tn.Structure) -> None:
    report = check_structure(structure, [(3,)], inputs=[IDS])
    assert {"float32", "float64", "gradients in a System"} <= set(report.passed), report


def test_the_dtype_check_names_the_integer_inputs() -> None:
    text = failures_in(KitDoubledInFloat32(), [(3,)], inputs=[IDS])
    assert "[float32] in a float32 System (inputs int64): output 0 differs from the float64 output by up to" in text


def test_wrong_shape_probes_feed_ids_to_integer_inputs(rng: np.random.Generator) -> None:
    report = check_structure(KitIdsAndContext(), [(3,), (4,)], inputs=[IDS, rng.normal(size=(3, 4))])
    assert "wrong shapes" in report.passed and "gradients in a System" in report.passed


# -- every entry of a large gradient, along a random direction -----------------------------------------------


@attrs.define
class KitOneWrongEntry(KitScale):
    """Planted bug: dE/dw is off by 1 in its first entry."""

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        in_grads, p_grads = super().backward(params, cache, grads)
        p_grads["w"].flat[0] += 1.0
        return in_grads, p_grads


def test_a_gradient_wrong_in_one_entry_of_many_is_caught_along_a_random_direction() -> None:
    with pytest.raises(AssertionError) as info:
        check_gradients(KitOneWrongEntry(), [(30, 30)])
    assert "param 'w': 0 of" not in str(info.value)
    assert "param 'w': the derivative along a random direction (all 900 entries at once) differs: backward " \
        in str(info.value)
    check_gradients(KitScale(), [(30, 30)])


# -- check_system_gradients away from the initial parameters ------------------------------------------------


def test_system_gradients_are_checked_away_from_the_initial_parameter_values(rng: np.random.Generator) -> None:
    x = tn.Input((3,))()
    system = tn.System([x], [tn.Dense(2)(RightOnlyAtOne()(x))], dtype=np.float64, seed=0)
    xs, ts = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    before = [(array, array.copy()) for _, _, array in system.parameters()]
    with pytest.raises(AssertionError, match="input 0: "):
        check_system_gradients(system, [xs], [ts])
    assert [array for _, _, array in system.parameters()] == [array for array, _ in before]  # the same arrays
    assert all(np.array_equal(array, value) for array, value in before)  # holding the same values
    check_system_gradients(system, [xs], [ts], perturb=0.0)  # at g = 1 the bug is invisible


# -- forward-side bugs named as such -------------------------------------------------------------------------


@attrs.define
class KitCentersInPlace(tn.Structure):
    """Planted bug: centres each sample in place, in its input array (the gradient is right)."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        x = inputs[0]
        x -= x.mean(axis=-1, keepdims=True)
        return [x], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0] - grads[0].mean(axis=-1, keepdims=True)], {}


@attrs.define
class KitGlobalNoise(tn.Structure):
    """Planted bug: training adds noise from NumPy's global generator, not kit.forward_rng()."""

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        noise = 0.1 * np.random.standard_normal(inputs[0].shape) if training else 0.0
        return [inputs[0] + noise], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        return [grads[0]], {}


@attrs.define
class KitBackwardMovesBuffer(tn.Structure):
    """Planted bug: backward updates its buffer."""

    buffers = ("seen",)

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {"seen": np.zeros(input_shapes[0])}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        return [inputs[0] - params["seen"]], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        params["seen"] += grads[0].mean(axis=0)
        return [grads[0]], {}


@pytest.mark.parametrize(("structure", "checks", "message"), [
    (KitCentersInPlace(), ["gradients", "gradients (training)"],
     "forward changed its input 0 (by up to "),
    (KitGlobalNoise(), ["gradients (training)"],
     "two training forwards with kit.forward_rng() seeded alike gave output 0 up to "),
    (KitBackwardMovesBuffer(), ["gradients", "gradients (training)"],
     "backward changed the buffer 'seen': backward must leave parameters and buffers unchanged"),
], ids=["input-changed", "global-random-numbers", "buffer-changed-by-backward"])
def test_forward_side_bugs_are_named_not_blamed_on_backward(structure: tn.Structure, checks: list,
                                                            message: str) -> None:
    text = failures_in(structure, [(4,)])
    assert f"{len(checks)} of 10 checks failed" in text and "finite difference" not in text
    for check in checks:
        assert f"[{check}] gradient check failed for {structure!r} on inputs [(4,)]:\n        {message}" in text
    if isinstance(structure, KitGlobalNoise):
        assert text.split(message)[1].split("\n")[0].endswith(": draw random numbers from kit.forward_rng()")
