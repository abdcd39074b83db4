"""Registers the dense layers and the standard activations with tensornet.

One list per registration hook, named after its kind, each hook returning a copy; then the
conformance examples (the convention of docs/writing-a-plugin.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tn_core import kit
from tn_layers_dense import activations as act
from tn_layers_dense.batchnorm import BatchNorm
from tn_layers_dense.dense import Dense
from tn_layers_dense.embedding import Embedding
from tn_layers_dense.pointwise import Activate, Add, Bias, Gain, Mul, Pointwise, Sub
from tn_layers_dense.regularization import Dropout, LayerNorm
from tn_layers_dense.residual import Residual, ResWrap

STRUCTURES = [
    Dense, Pointwise, Add, Sub, Mul, Activate, Gain, Bias, ResWrap, Residual, Dropout, LayerNorm, Embedding, BatchNorm,
]
ACTIVATIONS = [
    act.Sigmoid, act.Tanh, act.ReLU, act.LeakyReLU, act.ELU, act.GELU, act.Softplus, act.SiLU, act.Swish, act.Softsign,
    act.HardTanh, act.Softmax,
]


@kit.hookimpl
def tn_register_structures() -> list[type]:
    return list(STRUCTURES)


@kit.hookimpl
def tn_register_activations() -> list[type]:
    return list(ACTIVATIONS)


@kit.hookimpl
def tn_structure_examples() -> list[tuple[Any, ...]]:
    """(structure, input shapes) pairs, plus example inputs (ids) for Embedding. BatchNorm in training
    couples the samples of a batch through its statistics, by design."""
    return [
        (Dense((15, 15), activation="tanh"), [(32, 32)]),
        (Dense(4, activation="sigmoid", init="lecun"), [(3, 2)]),
        (Dense((2, 3), activation="relu"), [(5,)]),
        (Pointwise("max"), [(2, 3), (2, 3), (2, 3)]),
        (Pointwise("min"), [(4,), (4,)]),
        (Add(), [(2, 3), (2, 3), (2, 3)]),
        (Sub(), [(4,), (4,), (4,)]),
        (Mul(), [(2, 2), (2, 2), (2, 2)]),
        (Activate("softmax"), [(3, 4)]),
        (Activate("gelu"), [(5,)]),
        (Gain(), [(2, 3)]),
        (Bias(), [(2, 3)]),
        (ResWrap(Dense(6, activation="tanh")), [(2, 2)]),
        (Residual(LayerNorm(), activation="relu"), [(5,)]),
        (Dropout(0.3), [(4, 3)]),
        (LayerNorm(), [(3, 4)]),
        (Embedding(6, 4), [(5,)], [np.array([[0, 5, 2, 2, 0], [3, 3, 3, 1, 4], [5, 0, 1, 2, 5]])]),
        (Embedding(9, 3), [(2, 3)], [np.array([[[8, 0, 8], [1, 8, 2]], [[0, 0, 4], [7, 6, 8]]])]),
        (BatchNorm(), [(4,)]),
        (BatchNorm(momentum=0.3, eps=1e-3), [(3, 3, 2)]),
    ]
