"""Registers the conv and pooling layers with tensornet (the convention of docs/writing-a-plugin.md)."""

from __future__ import annotations

from typing import Any

from tn_core import kit
from tn_layers_conv import (
    AvgPool,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    Conv,
    Conv1D,
    Conv2D,
    Conv3D,
    GlobalAvgPool,
    MaxPool,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
)

STRUCTURES = [
    Conv, Conv1D, Conv2D, Conv3D, MaxPool, MaxPool1D, MaxPool2D, MaxPool3D, AvgPool, AvgPool1D, AvgPool2D, AvgPool3D,
    GlobalAvgPool,
]


@kit.hookimpl
def tn_register_structures() -> list[type]:
    return list(STRUCTURES)


@kit.hookimpl
def tn_structure_examples() -> list[tuple[Any, list[tuple[int, ...]]]]:
    # the N-d layers get tuple kernels: the fuzz tests wire examples onto other shapes, where an int would warn
    return [
        (Conv((3, 2), out_shape=(2,), stride=(2, 1), pad=True, activation="tanh"), [(5, 4, 3)]),
        (Conv1D(3, dilation=2, pad=((1, 0),)), [(7, 2)]),
        (Conv2D(2, out_shape=(2, 2), activation="sigmoid"), [(4, 5)]),
        (Conv3D((2, 1, 2), out_shape=(3,), stride=2, pad=1), [(3, 4, 3, 2)]),
        (MaxPool((2, 2), pad="same"), [(5, 4, 2)]),
        (MaxPool1D(3, stride=2, pad="same"), [(7, 2)]),
        (MaxPool2D(2), [(5, 4, 3)]),
        (MaxPool3D(2, stride=1, pad=((1, 0), 0, 1)), [(3, 3, 2, 2)]),
        (AvgPool((3,), stride=2, pad=((1, 1),)), [(6, 3)]),
        (AvgPool1D(2, pad="valid"), [(5,)]),
        (AvgPool2D(3, stride=2, pad=1), [(5, 6, 2)]),
        (AvgPool3D((2, 1, 2), pad="same"), [(3, 2, 3)]),
        (GlobalAvgPool(), [(4, 3, 2)]),
    ]
