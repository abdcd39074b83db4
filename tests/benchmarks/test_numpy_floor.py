"""The hand-written NumPy floor of the mlp benchmark (benchmarks.models_dense.MLPFloor) trains the same model
as tensornet: same gradients, same Adam step, and its loss goes down. That is what makes tn/numpy an honest
measure of the framework's cost."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.harness import numpy_path_optimizer, random_batch
from benchmarks.models_dense import SPECS, MLPFloor, mlp_layer_views, mlp_tn

MLP = next(spec for spec in SPECS if spec.name == "mlp")


def tn_and_floor(batch: int, rng: np.random.Generator) -> tuple:
    """A batch, tensornet's mlp and a floor (NumPy Adam) that starts from its parameters."""
    x, y = random_batch(MLP, batch, rng)
    system, _, _ = mlp_tn()
    start = np.empty_like(MLPFloor(x, y, fused=False).params)
    dense = [system[name] for name, key, _ in system.parameters() if key == "weights"]
    for (w, b), inst in zip(mlp_layer_views(start), dense, strict=True):
        w[...], b[...] = inst.params["weights"], inst.params["biases"]
    return x, y, system, dense, MLPFloor(x, y, params=start, fused=False)


@pytest.mark.parametrize("batch", [1, 8])  # 1: the outer-product path for dW
def test_first_step_matches_tensornet(batch: int, rng: np.random.Generator) -> None:
    x, y, system, dense, floor = tn_and_floor(batch, rng)
    pgrads, _ = system.gradients([x], [y], loss="ce")
    _, state = system.guess([x], return_state=True)
    tn_loss = system.learn(state, [y], method=numpy_path_optimizer("adam") or "adam", scale=MLP.lr, loss="ce")
    floor_loss = floor()

    assert floor_loss == pytest.approx(tn_loss, rel=1e-5)
    for inst, (dw, db), (w, b) in zip(dense, floor.grad_layers, floor.layers, strict=True):
        for name, floor_grad in (("weights", dw), ("biases", db)):
            tn_grad = pgrads[inst][name]
            np.testing.assert_allclose(floor_grad, tn_grad, rtol=1e-4, atol=1e-5 * np.abs(tn_grad).max())
        np.testing.assert_allclose(w, inst.params["weights"], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(b, inst.params["biases"], rtol=1e-4, atol=1e-7)


def test_loss_goes_down(rng: np.random.Generator) -> None:
    x, y = random_batch(MLP, 16, rng)
    floor = MLPFloor(x, y)
    losses = [floor() for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]
    assert np.all(np.diff(losses[:10]) < 0)


def test_fused_adam_matches_numpy_adam(rng: np.random.Generator) -> None:
    """tn-accel's kernel (the parameters in place, m and v into the spare pair) makes NumPy Adam's steps."""
    pytest.importorskip("tn_accel")
    x, y = random_batch(MLP, 8, rng)
    numpy_adam, fused = MLPFloor(x, y, fused=False), MLPFloor(x, y, fused=True)
    assert fused.kernel is not None and numpy_adam.kernel is None
    for _ in range(5):
        assert fused() == pytest.approx(numpy_adam(), rel=1e-5)
    np.testing.assert_allclose(fused.params, numpy_adam.params, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fused.m, numpy_adam.m, rtol=1e-4, atol=1e-9)


def test_overwriting_adam_makes_the_kernels_steps(rng: np.random.Generator) -> None:
    """keep_old=False: p, m and v overwritten in one pass give tn-accel's kernel's values, bit for bit, and
    keep nothing aside."""
    pytest.importorskip("tn_accel")
    x, y = random_batch(MLP, 4, rng)
    kept, overwriting = MLPFloor(x, y, fused=True), MLPFloor(x, y, fused=True, keep_old=False)
    assert overwriting.old_params is None
    m, v = overwriting.m, overwriting.v
    for _ in range(4):
        assert overwriting() == kept()
    for mine, theirs in [(overwriting.params, kept.params), (overwriting.m, kept.m), (overwriting.v, kept.v)]:
        np.testing.assert_array_equal(mine, theirs)
    assert overwriting.m is m and overwriting.v is v  # the same buffers, overwritten
