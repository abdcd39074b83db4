"""tensornet plugin: Dense, Pointwise, Residual, Dropout, LayerNorm, BatchNorm, Embedding and the standard
activations.

Everything here is also reachable as ``tn.<Name>`` and by its lower-case name once installed.
"""

from tn_core.kit import Linear
from tn_layers_dense.activations import (
    ELU,
    GELU,
    HardTanh,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Swish,
    Tanh,
)
from tn_layers_dense.batchnorm import BatchNorm
from tn_layers_dense.dense import Dense
from tn_layers_dense.embedding import Embedding
from tn_layers_dense.pointwise import Activate, Add, Bias, Gain, Mul, Pointwise, Sub
from tn_layers_dense.regularization import Dropout, LayerNorm
from tn_layers_dense.residual import Residual, ResWrap

__all__ = [
    "ELU",
    "GELU",
    "Activate",
    "Add",
    "BatchNorm",
    "Bias",
    "Dense",
    "Dropout",
    "Embedding",
    "Gain",
    "HardTanh",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "Mul",
    "Pointwise",
    "ReLU",
    "ResWrap",
    "Residual",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sub",
    "Swish",
    "Tanh",
]
