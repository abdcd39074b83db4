"""Conv and pooling agree with PyTorch's (an independent implementation) in outputs and gradients.

Always against the committed references (make_torch_references.py), and against live PyTorch when it imports.
"""

from __future__ import annotations

import numpy as np
import pytest

import tn_core as tn
from tests.conv import make_torch_references
from tests.conv.make_torch_references import CONV_CASES, POOL_CASES, SPELLED_CASES
from tests.torch_references import inputs_match, reference_fixture

reference = reference_fixture(make_torch_references)


def test_the_committed_references_were_made_from_the_scripts_inputs() -> None:
    inputs_match(make_torch_references)


def assert_matches(ours: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    for key, value in ours.items():
        assert value.shape == reference[key].shape, key
        np.testing.assert_allclose(value, reference[key], rtol=1e-10, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_output_and_gradients_match_pytorch(reference: dict[str, np.ndarray], case: str) -> None:
    shape, settings = CONV_CASES[case]
    conv = tn.Conv(**settings)
    _, params = conv.build_checked([shape], np.random.default_rng(0))
    params["weights"][...], params["biases"][...] = reference[f"{case}_weights"], reference[f"{case}_biases"]
    (y,), cache = conv.forward(params, [reference[f"{case}_x"]], True)
    (dx,), grads = conv.backward(params, cache, [reference[f"{case}_grad_out"]])
    ours = {"y": y, "dx": dx, "dweights": grads["weights"], "dbiases": grads["biases"]}
    assert_matches({f"{case}_{what}": value for what, value in ours.items()}, reference)


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_pooling_output_and_gradient_match_pytorch(reference: dict[str, np.ndarray], case: str) -> None:
    """For max, the gradient goes to the first maximum in row-major window order (max2d_ties) as in PyTorch."""
    kind, shape, settings = POOL_CASES[case]
    pool = (tn.MaxPool if kind == "max" else tn.AvgPool)(**settings)
    assert pool.build_checked([shape], np.random.default_rng(0))[0] == [reference[f"{case}_y"].shape[1:]]
    (y,), cache = pool.forward({}, [reference[f"{case}_x"]], True)
    (dx,), _ = pool.backward({}, cache, [reference[f"{case}_grad_out"]])
    assert_matches({f"{case}_y": y, f"{case}_dx": dx}, reference)


@pytest.mark.parametrize("case", list(SPELLED_CASES))
def test_int_kernels_and_pad_words_mean_what_they_mean_in_pytorch(reference: dict[str, np.ndarray], case: str) -> None:
    """Conv2D(3, pad="same") is PyTorch's conv2d(padding="same") with a 3x3 kernel, MaxPool2D(2) its
    max_pool2d(kernel_size=2), and so on: an int is every axis, the same output shape, values and gradients."""
    shape, name, settings, function, _, out = SPELLED_CASES[case]
    layer = getattr(tn, name)(**settings)
    (built,), params = layer.build_checked([shape], np.random.default_rng(0))
    assert built == out == reference[f"{case}_y"].shape[1:]
    if function.startswith("conv"):
        params["weights"][...], params["biases"][...] = reference[f"{case}_weights"], reference[f"{case}_biases"]
    (y,), cache = layer.forward(params, [reference[f"{case}_x"]], True)
    (dx,), grads = layer.backward(params, cache, [reference[f"{case}_grad_out"]])
    ours = {"y": y, "dx": dx} | {f"d{key}": value for key, value in grads.items()}
    assert_matches({f"{case}_{what}": value for what, value in ours.items()}, reference)
