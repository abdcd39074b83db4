"""BatchNorm: batch statistics in training, running ones in inference, gradients, errors, PyTorch equality."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest

import tn_core as tn
from tests.dense import make_torch_references
from tests.dense.make_torch_references import BATCHNORM_CASES
from tests.torch_references import inputs_match, reference_fixture
from tn_core import kit
from tn_core.structure import wanting_input_grads
from tn_layers_dense import BatchNorm


def random_shape(rng: np.random.Generator) -> tuple[int, ...]:
    """A per-sample shape of rank 1 to 3, channels last."""
    return tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 4)))


def built(structure: BatchNorm, shape: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters for ``shape`` with gain and bias moved off their initial values."""
    rng = np.random.default_rng(seed)
    _, params = structure.build_checked([shape], rng)
    params["gain"] += rng.normal(scale=0.5, size=shape[-1])
    params["bias"] += rng.normal(size=shape[-1])
    return params


@attrs.define
class TrainedBatchNorm(BatchNorm):
    """A BatchNorm built with running statistics off their initial values, for inference-mode checks."""

    def build(self, input_shapes: list[kit.Shape], rng: np.random.Generator) -> kit.BuildResult:
        shapes, params = super().build(input_shapes, rng)
        params["running_mean"] = rng.normal(size=params["running_mean"].shape)
        params["running_var"] = rng.uniform(0.2, 3.0, size=params["running_var"].shape)
        return shapes, params


# -- behaviour ---------------------------------------------------------------------------


def test_layout_and_buffers() -> None:
    bn = BatchNorm()
    shapes, params = bn.build_checked([(3, 2, 4)], np.random.default_rng(0))
    assert shapes == [(3, 2, 4)] and bn.buffers == ("running_mean", "running_var")
    expected = {"gain": np.ones(4), "bias": np.zeros(4), "running_mean": np.zeros(4), "running_var": np.ones(4)}
    assert params.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(params[key], value)


@pytest.mark.parametrize("seed", range(4))
def test_training_normalizes_with_batch_statistics_and_updates_the_running_ones_in_place(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    bn = BatchNorm(momentum=float(rng.uniform(0, 1)))
    params = built(bn, shape, seed)
    running_mean, running_var = params["running_mean"], params["running_var"]
    running_mean += rng.normal(size=shape[-1])
    running_var *= rng.uniform(0.5, 2, size=shape[-1])
    before_mean, before_var = running_mean.copy(), running_var.copy()
    x = rng.normal(1.0, 2.0, size=(int(rng.integers(2, 5)), *shape))
    (y,), _ = bn.forward(params, [x], True)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    np.testing.assert_allclose(y, params["gain"] * (x - mean) / np.sqrt(var + bn.eps) + params["bias"], atol=1e-12)
    assert params["running_mean"] is running_mean and params["running_var"] is running_var
    m = x.size // shape[-1]
    np.testing.assert_allclose(running_mean, (1 - bn.momentum) * before_mean + bn.momentum * mean, atol=1e-12)
    unbiased = x.reshape(m, shape[-1]).var(axis=0, ddof=1)
    np.testing.assert_allclose(running_var, (1 - bn.momentum) * before_var + bn.momentum * unbiased, atol=1e-12)


def test_inference_uses_the_running_statistics_and_leaves_them_alone() -> None:
    rng = np.random.default_rng(1)
    bn = TrainedBatchNorm(eps=1e-3)
    _, params = bn.build_checked([(2, 3)], rng)
    before = {key: params[key].copy() for key in bn.buffers}
    x = rng.normal(size=(5, 2, 3))
    (y,), _ = bn.forward(params, [x], False)
    scale = params["gain"] / np.sqrt(params["running_var"] + bn.eps)
    np.testing.assert_allclose(y, (x - params["running_mean"]) * scale + params["bias"], atol=1e-12)
    for key in bn.buffers:
        np.testing.assert_array_equal(params[key], before[key])
    (alone,), _ = bn.forward(params, [x[2:3]], False)
    np.testing.assert_allclose(alone[0], y[2], atol=1e-15)


def test_momentum_zero_freezes_and_one_replaces_the_running_statistics() -> None:
    x = np.random.default_rng(2).normal(size=(4, 3))
    for momentum, mean, var in [(0.0, np.zeros(3), np.ones(3)), (1.0, x.mean(axis=0), x.var(axis=0, ddof=1))]:
        bn = BatchNorm(momentum=momentum)
        params = built(bn, (3,))
        bn.forward(params, [x], True)
        np.testing.assert_allclose(params["running_mean"], mean, atol=1e-15)
        np.testing.assert_allclose(params["running_var"], var, atol=1e-15)


def test_float32_stays_float32() -> None:
    bn = BatchNorm()
    params = {key: value.astype(np.float32) for key, value in built(bn, (3, 4)).items()}
    x = np.random.default_rng(3).normal(size=(2, 3, 4)).astype(np.float32)
    for training in (True, False):
        (y,), cache = bn.forward(params, [x], training)
        (dx,), grads = bn.backward(params, cache, [np.ones_like(y)])
        assert y.dtype == dx.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    assert all(value.dtype == np.float32 for value in params.values())


# -- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("training", [True, False])
def test_gradients_on_random_shapes(seed: int, training: bool) -> None:
    rng = np.random.default_rng(seed)
    bn = TrainedBatchNorm(momentum=float(rng.uniform(0, 1)), eps=float(rng.uniform(1e-5, 1e-1)))
    kit.check_gradients(bn, [random_shape(rng)], batch_size=int(rng.integers(2, 6)), seed=seed, training=training)


def test_training_gradients_with_one_sample_of_several_values_per_channel() -> None:
    kit.check_gradients(BatchNorm(), [(4, 3)], batch_size=1, training=True)


def test_backward_skips_the_input_gradient_nobody_wants() -> None:
    bn = BatchNorm()
    params = built(bn, (3,))
    rng = np.random.default_rng(4)
    (_,), cache = bn.forward(params, [rng.normal(size=(5, 3))], True)
    grad_out = rng.normal(size=(5, 3))
    (dx,), wanted = bn.backward(params, cache, [grad_out])
    with wanting_input_grads((False,)):
        (skipped,), grads = bn.backward(params, cache, [grad_out])
    assert dx is not None and skipped is None and grads.keys() == wanted.keys() == {"gain", "bias"}
    for key in grads:
        np.testing.assert_array_equal(grads[key], wanted[key])


# -- errors ------------------------------------------------------------------------------


def test_a_training_batch_with_one_value_per_channel_is_refused_like_pytorch() -> None:
    bn = BatchNorm()
    params = built(bn, (4,))
    with pytest.raises(tn.ShapeError, match=r"BatchNorm\(.*more than one value per channel.*\(1, 4\)"):
        bn.forward(params, [np.ones((1, 4))], True)
    (y,), _ = bn.forward(params, [np.ones((1, 4))], False)  # inference needs no batch statistics
    assert y.shape == (1, 4)


def test_a_training_pass_whose_statistics_overflow_fails_and_leaves_every_buffer() -> None:
    """One value of 2e19 in float32: the variance (4e38) overflows. Before, the step succeeded and left
    running_var at inf, so every later inference ignored its input."""
    x = tn.Input((2,))()
    system = tn.System([x], [tn.Dense(1)(tn.BatchNorm()(x))], seed=0)
    batch = np.ones((8, 2), np.float32)
    batch[0, 1] = 2e19
    before = [(array, array.copy()) for _, _, array in system.buffers() + system.parameters()]
    message = r"BatchNorm 'batchnorm_1': this training pass would make its buffers \['running_var'\] non-finite"
    with np.errstate(over="ignore"), pytest.raises(tn.NonFiniteError, match=message):
        system.fit(batch, np.zeros((8, 1)), batch_size=8, verbose=0)
    assert system.step == 0
    assert all(np.array_equal(array, saved) for array, saved in before)
    with np.errstate(over="ignore"), pytest.raises(tn.NonFiniteError, match=message):
        system.gradients(batch, np.zeros((8, 1)), training=True)
    assert all(np.array_equal(array, saved) for array, saved in before)
    batch[0, 1] = 2.0
    system.fit(batch, np.zeros((8, 1)), batch_size=8, verbose=0)  # a batch it can take trains on
    assert system.step == 1 and 0.9 < system["batchnorm_1"].params["running_var"][1] < 1.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"momentum": -0.1}, "momentum must be a real number in \\[0, 1\\]"), ({"momentum": 1.5}, "momentum"),
     ({"momentum": "high"}, "momentum"), ({"eps": 0.0}, "eps must be a real number > 0"), ({"eps": -1e-5}, "eps"),
     ({"eps": float("nan")}, "eps")],
)
def test_settings_are_validated(settings: dict, message: str) -> None:
    with pytest.raises(tn.ConfigError, match=f"BatchNorm: {message}"):
        BatchNorm(**settings)


def test_inputs_without_a_channel_axis_are_refused() -> None:
    with pytest.raises(tn.ShapeError, match=r"BatchNorm.*at least one axis"):
        BatchNorm().build_checked([()], np.random.default_rng(0))


# -- in a System -------------------------------------------------------------------------


def test_in_a_system_buffers_are_state_not_parameters(tmp_path: Path) -> None:
    x = tn.Input((4, 3))()
    bn = BatchNorm()(tn.Dense((4, 3), activation="relu")(x))
    s = tn.System([x], [tn.Dense(2, activation="sigmoid")(bn)], dtype=np.float64, seed=0)
    rng = np.random.default_rng(5)
    xs, ts = rng.normal(size=(8, 4, 3)), rng.integers(0, 2, size=(8, 2)).astype(float)
    assert {key for _, key, _ in s.buffers()} == {"running_mean", "running_var"}
    assert not {key for _, key, _ in s.parameters()} & {"running_mean", "running_var"}
    before = {key: bn.params[key].copy() for key in bn.structure.buffers}
    s.fit(xs, ts, epochs=2, batch_size=4, loss="ce", verbose=0)
    assert all(not np.array_equal(before[key], bn.params[key]) for key in before)
    trained = {key: bn.params[key].copy() for key in bn.structure.buffers}
    s.guess([xs])
    for key, value in trained.items():
        np.testing.assert_array_equal(bn.params[key], value)
    tn.save(s, tmp_path / "bn.tn")
    loaded = tn.load(tmp_path / "bn.tn")
    np.testing.assert_array_equal(loaded.guess([xs])[0], s.guess([xs])[0])


def test_system_gradients_in_inference_mode() -> None:
    x = tn.Input((3, 2))()
    bn = TrainedBatchNorm()(x, rng=np.random.default_rng(6))
    s = tn.System([x], [tn.Dense(2, activation="tanh")(bn)], dtype=np.float64)
    rng = np.random.default_rng(7)
    kit.check_system_gradients(s, [rng.normal(size=(4, 3, 2))], [rng.normal(size=(4, 2))])


# -- PyTorch -----------------------------------------------------------------------------


reference = reference_fixture(make_torch_references)


def test_the_committed_references_were_made_from_the_scripts_inputs() -> None:
    inputs_match(make_torch_references)


def batchnorm_results(inputs: dict[str, np.ndarray], case: str) -> dict[str, np.ndarray]:
    """tensornet's results for a case, keyed as the references (training steps stacked)."""
    momentum, eps = inputs[f"{case}_settings"]
    bn = BatchNorm(momentum=float(momentum), eps=float(eps))
    _, params = bn.build_checked([inputs[f"{case}_eval_x"].shape[1:]], np.random.default_rng(0))
    params["gain"][...], params["bias"][...] = inputs[f"{case}_gain"], inputs[f"{case}_bias"]
    steps: dict[str, list[np.ndarray]] = {}
    for mode in ("train", "eval"):
        xs, grads_out = inputs[f"{case}_{mode}_x"], inputs[f"{case}_{mode}_grad_out"]
        batches = zip(xs, grads_out) if mode == "train" else [(xs, grads_out)]
        for x, grad_out in batches:
            (y,), cache = bn.forward(params, [x], mode == "train")
            (dx,), grads = bn.backward(params, cache, [grad_out])
            found = {"y": y, "dx": dx, "dgain": grads["gain"], "dbias": grads["bias"],
                     "running_mean": params["running_mean"], "running_var": params["running_var"]}
            for what, value in found.items():
                steps.setdefault(f"{case}_{mode}_{what}", []).append(value.copy())
    return {key: np.stack(values) if "_train_" in key else values[0] for key, values in steps.items()}


@pytest.mark.parametrize("case", list(BATCHNORM_CASES))
def test_matches_pytorch_in_training_and_inference(reference: dict[str, np.ndarray], case: str) -> None:
    ours = batchnorm_results(reference, case)
    assert len(ours) == 12
    for key, value in ours.items():
        np.testing.assert_allclose(value, reference[key], rtol=1e-8, atol=1e-8, err_msg=key)
