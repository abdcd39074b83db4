"""check_structure passes correct layers and fails, with a readable report, layers with planted bugs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import attrs
import numpy as np
import pytest

import tn_core as tn
from tn_core import kit
from tn_core.plugins import get_plugins
from tn_core.testing import CHECKS, check_structure

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
    assert text.startswith("check_structure: 2 of 9 checks failed for KitWrongScale() on inputs")
    for gradients in ("[gradients]", "[gradients (training)]"):
        section = text.split(gradients)[1].split("\n  [")[0]
        assert "input 0: " in section and "param 'w': " in section and "finite difference" in section
    assert "passed: shapes, batch independence, float32, float64, wrong shapes" in text
    assert "skipped: round trip (KitWrongScale is not registered" in text


def test_wrong_training_gradients_are_caught_with_the_forward_rng() -> None:
    text = failures_in(KitDropout(0.5, forgets_mask=True), [(6,)])
    assert "1 of 9 checks failed" in text and "[gradients (training)] gradient check failed" in text


def test_batch_dependence_is_reported() -> None:
    text = failures_in(KitBatchCentered(), [(3,)])
    assert "1 of 9 checks failed" in text
    assert "[batch independence] output 0 of sample 0 run alone differs from its output in the batch" in text


def test_shape_inference_disagreeing_with_outputs_is_reported() -> None:
    text = failures_in(KitShapeLiar(), [(2, 3)])
    assert "[shapes] raised PluginError: KitShapeLiar 'kitshapeliar_1'.forward returned outputs of shapes [(3, 2, 3)]" \
        in text
    assert "expected [(3, 7)]" in text


def test_dtype_not_preserved_is_reported() -> None:
    text = failures_in(KitFloat64(), [(3,)])
    assert "1 of 9 checks failed" in text
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
    assert "1 of 9 checks failed" in text and "[round trip] raised ConfigError: KitUnsavable.transform" in text


def test_unregistered_structure_skips_the_round_trip_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="round trip skipped: KitScale is not registered"):
        report = check_structure(KitScale(), [(2,)])
    assert "round trip" in report.skipped and "round trip" not in report.passed


def test_sources_get_the_system_level_checks(rng: np.random.Generator) -> None:
    for structure in (tn.Input((2, 3)), tn.Constant(rng.normal(size=(3,)))):
        report = check_structure(structure, [])
        assert set(report.skipped) == {"gradients", "gradients (training)", "buffers"}
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
    from tn_core.testing import check_gradients

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
