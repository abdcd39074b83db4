"""PyTorch's conv and pooling outputs and gradients on seeded inputs, saved to torch_references.npz.

    python -m tests.conv.make_torch_references     # from the repository root; needs numpy and torch only

test_against_torch.py compares tensornet with the committed file always, and with live PyTorch (these
same functions) when it imports. The file holds plain float64 arrays in tensornet's layout (channels last,
weights (out, *kernel, in)), keyed ``<case>_<what>``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tests.conv.references import resolve_pads
from tests.torch_references import writer

PATH = Path(__file__).with_name("torch_references.npz")
BATCH = 3

#: Conv cases: name -> (per-sample input shape, the Conv settings). Padding True is "same" (the odd element
#: after), the input's axes after the sliding ones are channels (none, one or two).
CONV_CASES: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {
    "conv1d_same": ((8, 3), {"kernel_shape": (3,), "stride": (2,), "dilation": (2,), "pad": True,
                             "out_shape": (2,)}),
    "conv1d_explicit": ((7,), {"kernel_shape": (2,), "stride": (3,), "dilation": (1,), "pad": ((2, 1),),
                               "out_shape": ()}),
    "conv2d_same": ((6, 5, 2), {"kernel_shape": (3, 2), "stride": (2, 1), "dilation": (2, 1), "pad": True,
                                "out_shape": (2, 2)}),
    "conv2d_explicit": ((5, 7, 2, 2), {"kernel_shape": (2, 3), "stride": (1, 3), "dilation": (2, 1),
                                       "pad": ((1, 0), (2, 2)), "out_shape": (3,)}),
    "conv2d_valid": ((4, 4, 3), {"kernel_shape": (1, 3), "stride": (2, 2), "dilation": (1, 1), "pad": False,
                                 "out_shape": (2,)}),
    "conv3d_same": ((4, 5, 3, 2), {"kernel_shape": (2, 3, 2), "stride": (1, 2, 2), "dilation": (2, 1, 1),
                                   "pad": True, "out_shape": (2,)}),
    "conv3d_explicit": ((3, 4, 4), {"kernel_shape": (2, 2, 3), "stride": (2, 1, 1), "dilation": (1, 2, 1),
                                    "pad": ((0, 1), (1, 0), (1, 1)), "out_shape": (2,)}),
}

#: Pooling cases: name -> ("max" or "avg", per-sample input shape, the MaxPool/AvgPool settings). AvgPool's
#: padding is symmetric (PyTorch's avg_pool pads both sides alike); max2d_ties draws small integers.
POOL_CASES: dict[str, tuple[str, tuple[int, ...], dict[str, Any]]] = {
    "max1d": ("max", (9, 2), {"window": (3,), "stride": (2,), "pad": False}),
    "max2d": ("max", (7, 6, 3), {"window": (3, 2), "stride": (2, 1), "pad": False}),
    "max2d_ties": ("max", (6, 6, 2), {"window": (2, 3), "stride": (1, 1), "pad": ((1, 1), (1, 1))}),
    "max2d_explicit": ("max", (5, 5, 2, 3), {"window": (2, 2), "stride": (1, 2), "pad": ((0, 1), (1, 0))}),
    "max3d_same": ("max", (5, 4, 3, 2), {"window": (2, 2, 2), "stride": None, "pad": True}),
    "avg1d": ("avg", (10, 2), {"window": (4,), "stride": (3,), "pad": ((2, 2),)}),
    "avg2d": ("avg", (7, 6, 3), {"window": (2, 3), "stride": (2, 2), "pad": ((1, 1), (1, 1))}),
    "avg3d": ("avg", (4, 5, 4, 2), {"window": (2, 3, 2), "stride": (1, 2, 2), "pad": ((1, 1), (1, 1), (0, 0))}),
}

#: The 1-d, 2-d and 3-d classes spelled as Keras and PyTorch users spell them (an int kernel meaning every axis,
#: pad words) against PyTorch's functional call spelled its own way: name -> (per-sample input shape, our class,
#: its settings, PyTorch's function, its keyword arguments, the per-sample output shape both must give).
SPELLED_CASES: dict[str, tuple[tuple[int, ...], str, dict[str, Any], str, dict[str, Any], tuple[int, ...]]] = {
    "spelled_conv1d": ((9, 3), "Conv1D", {"kernel_shape": 4, "out_shape": 2, "stride": 2, "pad": "valid"},
                       "conv1d", {"stride": 2, "padding": "valid"}, (3, 2)),
    "spelled_conv2d_even": ((6, 7, 2), "Conv2D", {"kernel_shape": 2, "out_shape": 4, "pad": "same"},
                            "conv2d", {"padding": "same"}, (6, 7, 4)),
    "spelled_conv2d": ((5, 6), "Conv2D", {"kernel_shape": 3, "out_shape": 2, "pad": "same"},
                       "conv2d", {"padding": "same"}, (5, 6, 2)),
    "spelled_conv3d": ((4, 5, 4, 2), "Conv3D", {"kernel_shape": 2, "out_shape": 3, "dilation": 2, "pad": "same"},
                       "conv3d", {"dilation": 2, "padding": "same"}, (4, 5, 4, 3)),
    "spelled_max1d": ((9, 2), "MaxPool1D", {"window": 3, "stride": 2, "pad": 1},
                      "max_pool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, (5, 2)),
    "spelled_max2d": ((8, 7, 3), "MaxPool2D", {"window": 2}, "max_pool2d", {"kernel_size": 2}, (4, 3, 3)),
    "spelled_max3d": ((4, 5, 4, 2), "MaxPool3D", {"window": 2, "stride": 1, "pad": "valid"},
                      "max_pool3d", {"kernel_size": 2, "stride": 1}, (3, 4, 3, 2)),
    "spelled_avg1d": ((10,), "AvgPool1D", {"window": 4, "stride": 3}, "avg_pool1d", {"kernel_size": 4, "stride": 3},
                      (3,)),
    "spelled_avg2d": ((7, 6, 2), "AvgPool2D", {"window": 3, "stride": 2, "pad": 1},
                      "avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
                      (4, 3, 2)),
    "spelled_avg3d": ((4, 6, 5, 2), "AvgPool3D", {"window": 2}, "avg_pool3d", {"kernel_size": 2}, (2, 3, 2, 2)),
}


def spelled_rank(function: str) -> int:
    """The rank of a PyTorch function named like conv2d or max_pool3d."""
    return int(function[-2])


def conv_geometry(shape: tuple[int, ...], settings: dict[str, Any]) -> tuple[list, tuple[int, ...]]:
    """A Conv case's (before, after) padding and output spatial shape."""
    kernel, stride = settings["kernel_shape"], settings["stride"]
    spatial = shape[:len(kernel)]
    extent = tuple((k - 1) * d + 1 for k, d in zip(kernel, settings["dilation"]))
    pads = resolve_pads(settings["pad"], spatial, extent, stride)
    out = tuple((n + sum(p) - e) // s + 1 for n, p, e, s in zip(spatial, pads, extent, stride))
    return pads, out


def pool_geometry(shape: tuple[int, ...], settings: dict[str, Any]) -> tuple[list, tuple[int, ...], tuple[int, ...]]:
    """A pooling case's (before, after) padding, stride and output spatial shape."""
    window = settings["window"]
    stride = settings["stride"] or window
    spatial = shape[:len(window)]
    pads = resolve_pads(settings["pad"], spatial, window, stride)
    out = tuple((n + sum(p) - k) // s + 1 for n, p, k, s in zip(spatial, pads, window, stride))
    return pads, stride, out


def make_inputs(seed: int = 2025) -> dict[str, np.ndarray]:
    """The seeded inputs, weights, biases and upstream gradients of every case."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for case, (shape, settings) in CONV_CASES.items():
        kernel, out_shape = settings["kernel_shape"], settings["out_shape"]
        channels = math.prod(shape[len(kernel):])
        inputs |= {
            f"{case}_x": rng.normal(size=(BATCH, *shape)),
            f"{case}_weights": rng.normal(scale=0.5, size=(math.prod(out_shape), *kernel, channels)),
            f"{case}_biases": rng.normal(size=math.prod(out_shape)),
            f"{case}_grad_out": rng.normal(size=(BATCH, *conv_geometry(shape, settings)[1], *out_shape)),
        }
    for case, (_, shape, settings) in POOL_CASES.items():
        ties = case.endswith("_ties")
        x = rng.integers(0, 3, size=(BATCH, *shape)).astype(float) if ties else rng.normal(size=(BATCH, *shape))
        out = pool_geometry(shape, settings)[2]
        inputs |= {f"{case}_x": x, f"{case}_grad_out": rng.normal(size=(BATCH, *out, *shape[len(out):]))}
    for case, (shape, _, settings, function, _, out) in SPELLED_CASES.items():
        inputs[f"{case}_x"] = rng.normal(size=(BATCH, *shape))
        if function.startswith("conv"):
            rank = spelled_rank(function)
            kernel, channels = (settings["kernel_shape"],) * rank, math.prod(shape[rank:])
            inputs |= {
                f"{case}_weights": rng.normal(scale=0.5, size=(settings["out_shape"], *kernel, channels)),
                f"{case}_biases": rng.normal(size=settings["out_shape"]),
            }
        inputs[f"{case}_grad_out"] = rng.normal(size=(BATCH, *out))
    return inputs


def torch_results(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyTorch's outputs and gradients for ``inputs``, in float64, in tensornet's layout."""
    import torch

    functional = torch.nn.functional

    def channels_first(a: np.ndarray, rank: int) -> torch.Tensor:
        """(n, *spatial, *channels) -> (n, C, *spatial), channel axes flattened."""
        return torch.from_numpy(np.moveaxis(a.reshape(*a.shape[:1 + rank], -1), -1, 1).copy())

    def flat_pads(pads: list) -> list[int]:
        """Per-axis (before, after) pairs as functional.pad wants them: last axis first."""
        return [p for pair in reversed(pads) for p in pair]

    def conv_weights(case: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A case's weights (out, C, *kernel) and biases, requiring gradients."""
        weights = torch.from_numpy(np.moveaxis(inputs[f"{case}_weights"], -1, 1).copy()).requires_grad_()
        return weights, torch.from_numpy(inputs[f"{case}_biases"]).requires_grad_()

    def backward(case: str, rank: int, xt: torch.Tensor, y: torch.Tensor, *params: torch.Tensor) -> dict:
        """Backpropagate the case's grad_out through y: y and dE/dx (and the conv's dE/dparams) in our layout."""
        y.backward(channels_first(inputs[f"{case}_grad_out"], rank))
        found = {
            f"{case}_y": np.moveaxis(y.detach().numpy(), 1, -1).reshape(inputs[f"{case}_grad_out"].shape),
            f"{case}_dx": np.moveaxis(xt.grad.numpy(), 1, -1).reshape(inputs[f"{case}_x"].shape),
        }
        if params:
            weights, biases = params
            found |= {f"{case}_dweights": np.moveaxis(weights.grad.numpy(), 1, -1),
                      f"{case}_dbiases": biases.grad.numpy()}
        return found

    results = {}
    for case, (shape, settings) in CONV_CASES.items():
        rank = len(settings["kernel_shape"])
        pads, _ = conv_geometry(shape, settings)
        xt = channels_first(inputs[f"{case}_x"], rank).requires_grad_()
        weights, biases = conv_weights(case)
        conv = (functional.conv1d, functional.conv2d, functional.conv3d)[rank - 1]
        y = conv(functional.pad(xt, flat_pads(pads)), weights, biases, stride=settings["stride"],
                 dilation=settings["dilation"])
        results |= backward(case, rank, xt, y, weights, biases)
    for case, (kind, shape, settings) in POOL_CASES.items():
        rank = len(settings["window"])
        pads, stride, _ = pool_geometry(shape, settings)
        xt = channels_first(inputs[f"{case}_x"], rank).requires_grad_()
        if kind == "max":  # padding -inf never wins
            pool = (functional.max_pool1d, functional.max_pool2d, functional.max_pool3d)[rank - 1]
            y = pool(functional.pad(xt, flat_pads(pads), value=-math.inf), settings["window"], stride)
        else:
            assert all(before == after for before, after in pads), case
            pool = (functional.avg_pool1d, functional.avg_pool2d, functional.avg_pool3d)[rank - 1]
            padding = tuple(before for before, _ in pads)
            y = pool(xt, settings["window"], stride, padding=padding, count_include_pad=False)
        results |= backward(case, rank, xt, y)
    for case, (_, _, _, function, torch_kwargs, _) in SPELLED_CASES.items():
        rank = spelled_rank(function)
        xt = channels_first(inputs[f"{case}_x"], rank).requires_grad_()
        params = conv_weights(case) if function.startswith("conv") else ()
        y = getattr(functional, function)(xt, *params, **torch_kwargs)
        results |= backward(case, rank, xt, y, *params)
    return results


main = writer(PATH, make_inputs, torch_results)


if __name__ == "__main__":
    main()
