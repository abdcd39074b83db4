"""PyTorch's nn.Embedding and nn.BatchNorm1d/2d on seeded inputs, saved to torch_references.npz.

    python -m tests.dense.make_torch_references     # from the repository root; numpy and torch only

test_embedding.py and test_batchnorm.py compare tensornet with the committed file always, and with
live PyTorch (these same functions) when it imports. The file holds plain float64 and int64 arrays,
inputs and results, keyed ``<case>_<what>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.torch_references import writer

PATH = Path(__file__).with_name("torch_references.npz")

#: BatchNorm cases: name -> (input shape, channels last; momentum; eps). bn1d feeds nn.BatchNorm1d (N, C),
#: bn2d feeds nn.BatchNorm2d (N, H, W, C) transposed to (N, C, H, W).
BATCHNORM_CASES = {"bn1d": ((6, 3), 0.1, 1e-5), "bn2d": ((4, 5, 3, 2), 0.3, 1e-3)}
#: training steps before the inference pass
STEPS = 3


def make_inputs(seed: int = 2024) -> dict[str, np.ndarray]:
    """The seeded inputs of every case."""
    rng = np.random.default_rng(seed)
    vocab, dim = 7, 5
    ids = rng.integers(0, vocab, size=(4, 6))
    ids[1, :3] = ids[0, 0]  # repeats within and across samples
    inputs = {
        "embedding_weights": rng.normal(size=(vocab, dim)),
        "embedding_ids": ids,
        "embedding_grad_out": rng.normal(size=(*ids.shape, dim)),
    }
    for case, (shape, momentum, eps) in BATCHNORM_CASES.items():
        channels = shape[-1]
        inputs |= {
            f"{case}_settings": np.array([momentum, eps]),
            f"{case}_gain": rng.normal(1.0, 0.5, size=channels),
            f"{case}_bias": rng.normal(size=channels),
            f"{case}_train_x": rng.normal(2.0, 3.0, size=(STEPS, *shape)),
            f"{case}_train_grad_out": rng.normal(size=(STEPS, *shape)),
            f"{case}_eval_x": rng.normal(2.0, 3.0, size=shape),
            f"{case}_eval_grad_out": rng.normal(size=shape),
        }
    return inputs


def torch_results(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyTorch's outputs and gradients for ``inputs``, in float64, channels last."""
    import torch

    embedding = torch.nn.Embedding(*inputs["embedding_weights"].shape, dtype=torch.float64)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(inputs["embedding_weights"]))
    out = embedding(torch.from_numpy(inputs["embedding_ids"]))
    out.backward(torch.from_numpy(inputs["embedding_grad_out"]))
    results = {"embedding_out": out.detach().numpy(), "embedding_weight_grad": embedding.weight.grad.numpy()}
    for case, (shape, _, _) in BATCHNORM_CASES.items():
        momentum, eps = inputs[f"{case}_settings"]
        module = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(
            shape[-1], eps=float(eps), momentum=float(momentum), dtype=torch.float64)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(inputs[f"{case}_gain"]))
            module.bias.copy_(torch.from_numpy(inputs[f"{case}_bias"]))
        steps: dict[str, list[np.ndarray]] = {}
        for mode in ("train", "eval"):
            getattr(module, mode)()
            xs, grads_out = inputs[f"{case}_{mode}_x"], inputs[f"{case}_{mode}_grad_out"]
            batches = zip(xs, grads_out) if mode == "train" else [(xs, grads_out)]
            for x, grad_out in batches:
                module.zero_grad()
                x = torch.from_numpy(np.moveaxis(x, -1, 1).copy()).requires_grad_()
                y = module(x)
                y.backward(torch.from_numpy(np.moveaxis(grad_out, -1, 1).copy()))
                found = {
                    "y": np.moveaxis(y.detach().numpy(), 1, -1), "dx": np.moveaxis(x.grad.numpy(), 1, -1),
                    "dgain": module.weight.grad.numpy(), "dbias": module.bias.grad.numpy(),
                    "running_mean": module.running_mean.numpy(), "running_var": module.running_var.numpy(),
                }
                for what, value in found.items():
                    steps.setdefault(f"{case}_{mode}_{what}", []).append(value.copy())
        results |= {key: np.stack(values) if "_train_" in key else values[0] for key, values in steps.items()}
    return results


main = writer(PATH, make_inputs, torch_results)


if __name__ == "__main__":
    main()
