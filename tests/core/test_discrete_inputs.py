"""Integer Inputs (ids): fed uncast, checked, never differentiated; the kit takes example ids."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core import kit
from tn_core.plugins import get_plugins
from tn_core.testing import check_structure, check_system_gradients


@attrs.define
class Pick(kit.Structure):
    """y = table[ids]: one learned value per id; records what it was fed and whether dE/d(ids) was wanted."""

    size: int = 5
    seen: list = attrs.field(factory=list, init=False, eq=False, repr=False)

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {"table": rng.normal(size=self.size)}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        ids = inputs[0]
        self.seen.append(ids.dtype)
        return [params["table"][ids]], ids

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        self.seen.append(kit.input_grad_wanted(0))
        table = np.zeros_like(params["table"])
        np.add.at(table, cache, grads[0])
        return [None], {"table": table}


@pytest.fixture
def registered() -> Iterator[None]:
    get_plugins().register(SimpleNamespace(tn_register_structures=tn.hookimpl(lambda: [Pick])), "pick-test")
    yield
    get_plugins().unregister("pick-test")


def network(dtype: str = "int64") -> tuple[tn.System, Pick]:
    ids, values = tn.Input((4,), dtype=dtype)(), tn.Input((4,))()
    pick = Pick()
    mixed = tn.Concatenate()(pick(ids, rng=np.random.default_rng(0)), values)
    return tn.System([ids, values], [Affine(2)(mixed, rng=np.random.default_rng(1))], dtype=np.float64), pick


IDS = np.array([[0, 1, 1, 4], [3, 3, 3, 2]])
VALUES = np.random.default_rng(2).normal(size=(2, 4))
TARGETS = np.random.default_rng(3).normal(size=(2, 2))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_ids_reach_the_layer_uncast_and_get_no_gradient(dtype: str) -> None:
    system, pick = network(dtype)
    system.guess([IDS, VALUES])
    assert pick.seen == [np.dtype(dtype)]
    _, (id_grad, value_grad) = system.gradients([IDS, VALUES], [TARGETS])
    assert id_grad is None and value_grad.shape == (2, 4)
    assert pick.seen[-1] is False  # the layer was told dE/d(ids) is not wanted
    check_system_gradients(system, [IDS, VALUES], [TARGETS])
    _, (alone, _) = system.gradients([IDS[0], VALUES[0]], [TARGETS[0]])
    assert alone is None


def test_integral_floats_are_accepted_and_anything_else_is_a_shape_error_naming_the_input() -> None:
    system, _ = network()
    np.testing.assert_array_equal(system.guess([IDS.astype(float), VALUES])[0], system.guess([IDS, VALUES])[0])
    for bad, message in [
        (IDS + 0.5, r"System inputs\[0\]: expected integers \(int64\), got non-integral values such as 0.5"),
        (np.full((2, 4), np.nan), r"System inputs\[0\]: expected integers \(int64\), got non-integral values"),
        (np.full((2, 4), "a"), r"System inputs\[0\]: expected integers \(int64\), got <U1 values"),
        (IDS > 1, r"System inputs\[0\]: expected integers \(int64\), got bool values"),
    ]:
        with pytest.raises(tn.ShapeError, match=message):
            system.guess([bad, VALUES])
    small, _ = network("int32")
    with pytest.raises(tn.ShapeError, match=r"values from 0 to 4294967296 do not fit in int32"):
        small.guess([np.where(IDS == 4, 2**32, IDS), VALUES])


def test_fit_evaluate_and_predict_feed_ids(tmp_path: Path, registered: None) -> None:
    system, _ = network()
    ids = np.random.default_rng(4).integers(0, 5, size=(32, 4))
    values = np.random.default_rng(5).normal(size=(32, 4))
    targets = np.random.default_rng(6).normal(size=(32, 2))
    history = system.fit([ids, values], targets, epochs=3, batch_size=8, optimizer="adamw", lr=0.05, verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    with pytest.raises(tn.ShapeError, match=r"fit: inputs\[0\]: expected integers"):
        system.fit([ids + 0.5, values], targets, verbose=0)
    tn.save(system, tmp_path / "ids.tn")
    loaded = tn.load(tmp_path / "ids.tn")
    assert loaded.inputs[0].structure == tn.Input((4,), dtype="int64")
    np.testing.assert_array_equal(loaded.predict([ids, values])[0], system.predict([ids, values])[0])


def test_input_dtype_is_validated() -> None:
    assert tn.Input(3, dtype=np.int32).dtype == "int32"
    for bad in ("float32", "uint8", 3, "ids"):
        with pytest.raises(tn.ConfigError, match=r"Input: dtype must be None .* or one of \('int32', 'int64'\)"):
            tn.Input(3, dtype=bad)


@pytest.mark.filterwarnings("ignore:check_structure. round trip skipped:UserWarning")
def test_the_kit_takes_example_ids(registered: None) -> None:
    ids = np.array([[0, 4, 4], [2, 2, 1]])
    report = check_structure(Pick(), [(3,)], inputs=[ids])
    assert "gradients" in report.passed and "wrong shapes" in report.passed and "round trip" in report.passed

    @attrs.define
    class PickWrongTable(Pick):
        def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
            table = np.zeros_like(params["table"])
            table[cache] += grads[0]  # planted bug: repeated ids keep one gradient
            return [None], {"table": table}

    with pytest.raises(AssertionError, match=r"(?s)\[gradients\] gradient check failed.*param 'table'"):
        check_structure(PickWrongTable(), [(3,)], inputs=[ids])


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes came with Python 3.11")
def test_a_float_layer_fed_ids_says_so_in_its_error() -> None:
    """Wiring an integer Input into a layer that computes with floats fails at the first forward pass; the
    error (the layer's result check here) notes that its input holds ids."""
    x = tn.Input((3,), dtype="int64")()
    s = tn.System([x], [Affine(2)(x)])
    with pytest.raises(tn.PluginError, match="returned outputs of dtype") as caught:
        s.guess([np.ones((2, 3), "int64")])
    assert caught.value.__notes__ == ["its inputs [0] hold integers (ids from an integer Input): layers other than "
                                      "those that take ids, such as Embedding, compute with the System's floats"]
