"""What a layer's build, forward and backward return is validated before it can do harm: a PluginError naming
the layer and what it returned, raised before any parameter changes (build's when the layer is wired)."""

from __future__ import annotations

import sys
from typing import Any

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine
from tn_core import kit


@attrs.define
class Faulty(kit.Structure):
    """y = w * x (w of the input's shape), whose forward or backward returns what ``fault`` says."""

    fault: str = "none"

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        shape = input_shapes[0]
        return [shape], {"w": rng.normal(size=shape), "b": np.zeros(shape)}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        x = inputs[0]
        y = params["w"] * x + params["b"]
        if self.fault == "no cache":
            return [y]
        if self.fault == "float64 output":
            return [y.astype(np.float64)], x
        if self.fault == "shaped but no array":
            return [type("Shaped", (), {"shape": y.shape})()], x
        return [y], x

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        g = grads[0]
        dx, dw, db = g * params["w"], np.sum(g * cache, axis=0), g.sum(axis=0)
        faults: dict[str, Any] = {
            "none": ([dx], {"w": dw, "b": db}),
            "broadcast input gradient": ([dx[:1]], {"w": dw, "b": db}),
            "unsummed parameter gradient": ([dx], {"w": g * cache, "b": db}),
            "missing parameter gradient": ([dx], {"w": dw}),
            "extra gradient": ([dx], {"w": dw, "b": db, "c": db}),
            "float64 gradient": ([dx], {"w": dw.astype(np.float64), "b": db}),
            "no parameter dict": ([dx], [dw, db]),
            "a bare list": [dx, dw, db],
        }
        return faults[self.fault]


def network(fault: str) -> tuple[tn.System, list[np.ndarray]]:
    x = tn.Input((3,))()
    hidden = Faulty(fault)(Affine(3)(x, rng=np.random.default_rng(0)), rng=np.random.default_rng(1))
    s = tn.System([x], [Affine(2)(hidden, rng=np.random.default_rng(2))], dtype=np.float32)
    return s, [array.copy() for _, _, array in s.parameters()]


BATCH = [np.random.default_rng(3).normal(size=(4, 3))], [np.random.default_rng(4).normal(size=(4, 2))]


@pytest.mark.parametrize(("fault", "message"), [
    ("no cache", r"Faulty 'faulty_1'.forward returned list \[array \(4, 3\)\]; expected \(list of outputs, cache\)"),
    ("float64 output", r"Faulty 'faulty_1'.forward returned outputs of dtype \[\(0, 'float64'\)\] .* float32 System"),
    ("shaped but no array", r"Faulty 'faulty_1'.forward returned outputs that are not arrays \(slot: type\): "
                            r"0: Shaped"),
    ("broadcast input gradient", r"Faulty 'faulty_1'.backward returned input 0: shape \(1, 3\), expected \(4, 3\)"),
    ("unsummed parameter gradient", r"backward returned parameter 'w': shape \(4, 3\), expected \(3,\)"),
    ("missing parameter gradient", r"backward returned no gradient for the parameters \['b'\]"),
    ("extra gradient", r"backward returned gradients for \['c'\], which are not its trainable parameters \['b', 'w'\]"),
    ("float64 gradient", r"backward returned parameter 'w': dtype float64, expected float32"),
    ("no parameter dict", r"backward returned list \[array \(3,\), array \(3,\)\] as parameter gradients; "
                          r"expected a dict"),
    ("a bare list", r"backward returned list \[array \(4, 3\), array \(3,\), array \(3,\)\]; expected \(input "
                    r"gradients, parameter gradients\)"),
])
def test_bad_plugin_output_is_a_plugin_error_naming_the_layer_and_nothing_changes(fault: str, message: str) -> None:
    s, before = network(fault)
    forward_faults = ("no cache", "float64 output", "shaped but no array")
    _, state = s.guess(BATCH[0], return_state=True, training=True) if fault not in forward_faults else (None, None)
    with pytest.raises(tn.PluginError, match=message):
        if state is None:
            s.guess(BATCH[0])
        else:
            s.learn(state, BATCH[1], method="adam")
    with pytest.raises(tn.PluginError, match=message):
        s.fit(BATCH[0][0], BATCH[1][0], epochs=1, verbose=0)
    assert s.step == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, [array for _, _, array in s.parameters()]))


def test_the_correct_layer_trains() -> None:
    s, before = network("none")
    s.fit(BATCH[0][0], BATCH[1][0], epochs=2, verbose=0)
    assert s.step == 2 and not np.array_equal(before[2], s.parameters()[2][2])


def built(result: Any) -> kit.Structure:
    """A layer whose build returns ``result``."""

    @attrs.define
    class Builds(kit.Structure):
        def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
            return result

    return Builds()


@pytest.mark.parametrize(("result", "message"), [
    (None, r"build returned None; expected \(list of output shapes, \{name: parameter array\}\)"),
    (([(3,)], {}, None), r"build returned \(\[\(3,\)\], \{\}, None\); expected \(list of output shapes"),
    (((3,), {}), r"build returned output shapes \(3,\): slot 0: a shape must be a sequence of ints, got 3"),
    (([], {}), r"build returned output shapes \[\]; expected a non-empty list of shapes"),
    (([(2.7,)], {}), r"build returned output shapes \[\(2.7,\)\]: slot 0: a shape must be an int or a sequence"),
    (([(0,)], {}), r"build returned output shapes \[\(0,\)\]: slot 0: a shape must hold positive ints, got \(0,\)"),
    (([(3,), (-3,)], {}), r"build returned output shapes \[\(3,\), \(-3,\)\]: slot 1: a shape must hold positive"),
    (([(3,)], None), r"build returned parameters None; expected a dict \{name: array\}"),
    (([(3,)], [np.zeros(3)]), r"build returned parameters \[array\(\[0., 0., 0.\]\)\]; expected a dict"),
    (([(3,)], {1: np.zeros(3), "a": np.zeros(3)}), r"build returned parameter names \[1\]; names must be str"),
    (([(3,)], {"w": "abc"}), r"build returned parameter 'w': cannot be read as a float64 array"),
    (([(3,)], {"w": [[1, 2], [3]]}), r"build returned parameter 'w': cannot be read as a float64 array"),
    (([(3,)], {"w": np.zeros(3) + 1j}), r"build returned parameter 'w': cannot be read as a float64 array: its "
                                        r"values are complex128"),
    (([(3,)], {"w": np.array([0, np.inf, np.nan])}), r"build returned parameter 'w': 2 NaN or infinite values"),
])
def test_bad_build_results_are_a_plugin_error_naming_the_layer(result: Any, message: str) -> None:
    with pytest.raises(tn.PluginError, match=r"^Builds :: \[\(3,\)\]: " + message):
        built(result)(tn.Input((3,))())


def test_build_results_are_normalized() -> None:
    instance = built(([[np.int64(2)], ()], {"w": [1, 2]}))(tn.Input((3,))())
    assert instance.output_shapes == [(2,), ()] and all(type(d) is int for d in instance.shape)
    assert instance.params["w"].dtype == np.float64 and instance.params["w"].tolist() == [1.0, 2.0]


@attrs.define
class Raising(kit.Structure):
    """y = x, whose forward or backward raises its own error."""

    where: str = "forward"

    def build(self, input_shapes, rng):  # type: ignore[no-untyped-def]
        return [input_shapes[0]], {}

    def forward(self, params, inputs, training):  # type: ignore[no-untyped-def]
        if self.where == "forward":
            raise KeyError("its own bug")
        return [inputs[0]], None

    def backward(self, params, cache, grads):  # type: ignore[no-untyped-def]
        raise KeyError("its own bug")


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_a_layers_own_error_keeps_its_type_and_names_the_layer(where: str) -> None:
    x = tn.Input((3,))()
    s = tn.System([x], [Affine(2)(Raising(where)(Affine(3)(x)), rng=np.random.default_rng(2))])
    with pytest.raises(KeyError, match="its own bug") as caught:
        s.fit(BATCH[0][0], BATCH[1][0], epochs=1, verbose=0)
    if sys.version_info >= (3, 11):  # notes came with Python 3.11
        assert caught.value.__notes__ == [f"raised in Raising 'raising_1'.{where}"]
    assert s.step == 0


def test_parameters_too_large_for_memory_are_a_config_error_naming_the_layer() -> None:
    x = tn.Input((3,))()
    with pytest.raises(tn.ConfigError, match=r"^Affine :: \[\(3,\)\]: Unable to allocate"):
        Affine(10**12)(x)
