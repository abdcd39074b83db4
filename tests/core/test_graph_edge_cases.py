"""Edge cases random-graph testing found (issue 16): unused inputs, softmax over a per-sample scalar,
Systems of different dtypes sharing layers. (Fused losses read by other layers: tests/core/test_system.py;
0-d parameters in files: the file tests.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tn_core as tn
from tests.core.layers import Affine, Apply, Shift, SoftArgmax
from tn_core.testing import check_system_gradients


def test_an_input_no_output_depends_on_is_fed_named_summarized_and_saved(  # type: ignore[no-untyped-def]
    tmp_path: Path, capsys, rng: np.random.Generator
) -> None:
    a, unused = tn.Input((3,))(), tn.Input((2,))(name="spare")
    y = Affine(2)(a, rng=np.random.default_rng(0))
    s = tn.System([a, unused], [y], dtype=np.float64)
    xs, ts = [rng.normal(size=(4, 3)), rng.normal(size=(4, 2))], [rng.normal(size=(4, 2))]
    assert [s.names[inst] for inst in s.order] == ["input_1", "affine_1", "spare"]
    s.summary()
    assert "\nspare     Input          (2,)  " in capsys.readouterr().out
    _, (_, spare_grad) = s.gradients(xs, ts)
    assert not spare_grad.any()
    check_system_gradients(s, xs, ts)
    with pytest.raises(tn.ShapeError, match="expected 2 arrays, got 1"):
        s.guess(xs[:1])  # still one of the System's inputs: it must be fed
    tn.save(s, tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    assert [inst.name for inst in loaded.inputs] == [None, "spare"]
    np.testing.assert_array_equal(loaded.guess(xs)[0], s.guess(xs)[0])
    s.save_weights(tmp_path / "w.npz")
    loaded.load_weights(tmp_path / "w.npz")


@pytest.mark.parametrize(("input_shape", "make"), [
    ((), lambda x: Apply("softargmax")(x)),
    ((3,), lambda x: Affine((), activation="softargmax")(x)),
    ((3,), lambda x: Apply(SoftArgmax())(tn.Split()(x)[1])),
])
def test_softmax_over_a_per_sample_scalar_is_refused_at_wiring(input_shape: tuple, make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tn.ShapeError, match=r"SoftArgmax works along the last axis of each sample, and the output has "
                                            r"per-sample shape \(\): it would mix the samples of a batch"):
        make(tn.Input(input_shape)())


def test_softmax_ce_on_a_per_sample_scalar_output_is_refused_naming_the_output(rng: np.random.Generator) -> None:
    x = tn.Input((3,))()
    s = tn.System([x], [Affine(())(x)], dtype=np.float64)
    batch = [rng.normal(size=(3, 3))]
    with pytest.raises(tn.ShapeError, match=r"SoftmaxCE works along the last axis .* output affine_1\[0\] has "
                                            r"per-sample shape \(\): it would mix the samples"):
        s.gradients(batch, [np.ones(3)], loss="softmax_ce")
    before = [array.copy() for _, _, array in s.parameters()]
    with pytest.raises(tn.ShapeError, match="SoftmaxCE works along the last axis"):
        s.fit(batch[0], np.ones(3), loss="softmax_ce", verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, [array for _, _, array in s.parameters()]))
    s.gradients(batch, [np.ones(3)], loss="quad")  # a loss per element is fine


def test_systems_of_another_dtype_cannot_share_live_layers() -> None:
    x = tn.Input((3,))()
    encoder = Affine(4, activation="hyperbolictangent")(x)
    head = Affine(2)(encoder)
    single = tn.System([x], [head], dtype=np.float32)
    with pytest.raises(tn.ConfigError, match=r"a float64 System cannot use the layers \['affine_1'\]: a "
                                             r"live System of dtype \['float32'\] shares their parameters"):
        tn.System([x], [encoder], dtype=np.float64)
    assert all(array.dtype == np.float32 for _, _, array in single.parameters())
    assert single.guess([np.ones((2, 3))])[0].dtype == np.float32
    same = tn.System([x], [encoder], dtype=np.float32)  # the same dtype shares, and trains one set of weights
    assert same.parameters()[0][2] is single.parameters()[0][2]
    del single, same
    double = tn.System([x], [head], dtype=np.float64)  # no live float32 System any more
    assert double.guess([np.ones((2, 3))])[0].dtype == np.float64


def test_layers_with_0_d_parameters_train_and_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    """A layer on a per-sample scalar (after Split) has parameters of shape (); their gradient, a batch sum, may
    come back as a NumPy scalar (the dense plugin's Gain, Bias and LayerNorm: tests/dense/test_system.py)."""
    x = tn.Input((3,))()
    parts = tn.Split()(x)
    outputs = [Shift()(parts[0]), Shift()(parts[1]), Shift()(Shift()(parts[2]))]
    s = tn.System([x], outputs, dtype=np.float64)
    assert {array.shape for _, _, array in s.parameters()} == {()}
    xs, ts = [rng.normal(size=(4, 3))], [rng.normal(size=(4,)) for _ in outputs]
    assert isinstance(Shift().backward({"shift": np.zeros(())}, None, [ts[0]])[1]["shift"], np.generic)
    check_system_gradients(s, xs, ts)
    before = [array.copy() for _, _, array in s.parameters()]
    s.fit(xs[0], ts, epochs=2, batch_size=2, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(before, [array for _, _, array in s.parameters()]))
    tn.save(s, tmp_path / "m.tn")
    loaded = tn.load(tmp_path / "m.tn")
    assert [array.shape for _, _, array in loaded.parameters()] == [array.shape for _, _, array in s.parameters()]
    for a, b in zip(loaded.guess(xs), s.guess(xs)):
        np.testing.assert_array_equal(a, b)


def test_a_system_without_inputs_is_refused_at_construction() -> None:
    with pytest.raises(tn.ShapeError, match="System needs at least one input: the arrays fed to the inputs set the "
                                            "batch size"):
        tn.System([], [tn.Constant(np.ones(3))()])


@pytest.mark.parametrize("wire", [
    lambda x, y: tn.System([x], [tn.OutputRef(y, 3)]),
    lambda x, y: Affine(2)(tn.OutputRef(y, 5)),
    lambda x, y: Affine(2)(tn.OutputRef(y, "0")),
])
def test_an_output_ref_made_by_hand_with_a_slot_the_layer_lacks_is_a_shape_error(wire) -> None:  # type: ignore[no-untyped-def]
    x = tn.Input((3,))()
    y = Affine(2)(x)
    with pytest.raises(tn.ShapeError, match=r"Affine has output slots 0\.\.0, asked for"):
        wire(x, y)
