"""PyTorch's activations and their input gradients on seeded inputs, saved to activation_references.npz.

    python -m tests.dense.make_activation_references     # from the repository root; numpy and torch only

test_activations.py compares tensornet with the committed file always, and with live PyTorch (these
same functions) when it imports. The file holds plain float64 arrays: the inputs ``<point>_z`` and
``<point>_grad_out``, and per case ``<case>_<point>_out`` and ``<case>_<point>_grad`` (dE/dz), where the
points are "random" (normal, scale 4) and "kinks" (z = -1, 0, 1 exactly, upstream gradient 1: the slopes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.torch_references import writer

PATH = Path(__file__).with_name("activation_references.npz")
POINTS = ("random", "kinks")

#: cases: name -> (torch.nn.functional's function, its keyword arguments)
ACTIVATION_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "relu": ("relu", {}),
    "relu_alpha_0.2": ("leaky_relu", {"negative_slope": 0.2}),
    "leaky_relu": ("leaky_relu", {"negative_slope": 0.01}),
    "elu": ("elu", {"alpha": 1.0}),
    "elu_alpha_0.5": ("elu", {"alpha": 0.5}),
    "gelu": ("gelu", {"approximate": "none"}),
    "softplus": ("softplus", {"beta": 1.0, "threshold": 20.0}),
    "silu": ("silu", {}),
    "swish": ("silu", {}),
    "softsign": ("softsign", {}),
    "hardtanh": ("hardtanh", {"min_val": -1.0, "max_val": 1.0}),
    "softmax": ("softmax", {"dim": -1}),
}


def make_inputs(seed: int = 2026) -> dict[str, np.ndarray]:
    """The seeded inputs and upstream gradients at both points."""
    rng = np.random.default_rng(seed)
    kinks = np.array([[-1.0, 0.0, 1.0]])
    return {
        "random_z": rng.normal(scale=4.0, size=(4, 7)),
        "random_grad_out": rng.normal(size=(4, 7)),
        "kinks_z": kinks,
        "kinks_grad_out": np.ones_like(kinks),
    }


def torch_results(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyTorch's outputs and input gradients for ``inputs``, in float64."""
    import torch

    results = {}
    for case, (name, kwargs) in ACTIVATION_CASES.items():
        for point in POINTS:
            z = torch.from_numpy(inputs[f"{point}_z"]).requires_grad_()
            out = getattr(torch.nn.functional, name)(z, **kwargs)
            out.backward(torch.from_numpy(inputs[f"{point}_grad_out"]))
            results |= {f"{case}_{point}_out": out.detach().numpy(), f"{case}_{point}_grad": z.grad.numpy()}
    return results


main = writer(PATH, make_inputs, torch_results)


if __name__ == "__main__":
    main()
