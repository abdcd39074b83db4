"""tensornet plugin: Dense, Pointwise, Residual, Dropout, LayerNorm and the standard activations."""

from tn_layers_dense.activations import Linear, ReLU, Sigmoid, Tanh
from tn_layers_dense.dense import Dense

__all__ = ["Dense", "Linear", "ReLU", "Sigmoid", "Tanh"]
