"""PyTorch's losses on seeded inputs, saved to loss_references.npz.

    python -m tests.core.make_loss_references     # from the repository root; numpy and torch only

test_losses.py compares the Keras/PyTorch-named losses with the committed file always, and with live
PyTorch (these same functions) when it imports. Keys ``<case>_<what>``: float64 and int64 arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.torch_references import writer

PATH = Path(__file__).with_name("loss_references.npz")


def make_inputs(seed: int = 2025) -> dict[str, np.ndarray]:
    """Outputs (y), probabilities (a), logits (z) and targets: element-wise (5, 4, 3), classes (6, 3, 5)."""
    rng = np.random.default_rng(seed)
    return {
        "y": rng.normal(size=(5, 4, 3)),
        "t": rng.normal(size=(5, 4, 3)),
        "a": rng.uniform(0.05, 0.95, size=(5, 4, 3)),
        "z": rng.normal(scale=3.0, size=(5, 4, 3)),
        "p": rng.random((5, 4, 3)),
        "logits": rng.normal(scale=2.0, size=(6, 3, 5)),
        "ids": rng.integers(0, 5, size=(6, 3)),
        "soft": rng.dirichlet(np.ones(5), size=(6, 3)),
    }


def torch_results(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each PyTorch loss (mean reduction, its default) and its gradient w.r.t. the output, classes last."""
    import torch
    import torch.nn.functional as F

    def run(name: str, fn, output: str, *others: torch.Tensor) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
        x = torch.from_numpy(inputs[output]).requires_grad_()
        value = fn(x, *others)
        value.backward()
        return {f"{name}_value": np.array(value.item()), f"{name}_grad": x.grad.numpy()}

    t, p = torch.from_numpy(inputs["t"]), torch.from_numpy(inputs["p"])
    ids, soft = torch.from_numpy(inputs["ids"]), torch.from_numpy(inputs["soft"])

    def classes_first(fn):  # type: ignore[no-untyped-def]  # PyTorch wants (N, C, d1): move the class axis
        return lambda x, target: fn(x.movedim(-1, 1), target.movedim(-1, 1) if target.is_floating_point() else target)

    return {
        **run("mse", F.mse_loss, "y", t),
        **run("mae", F.l1_loss, "y", t),
        **run("bce", F.binary_cross_entropy, "a", p),
        **run("bce_with_logits", F.binary_cross_entropy_with_logits, "z", p),
        **run("ce_ids", classes_first(F.cross_entropy), "logits", ids),
        **run("ce_soft", classes_first(F.cross_entropy), "logits", soft),
    }


main = writer(PATH, make_inputs, torch_results)

if __name__ == "__main__":
    main()
