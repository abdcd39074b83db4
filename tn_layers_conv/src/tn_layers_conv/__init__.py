"""tensornet plugin: N-dimensional convolution and pooling, and their 1-d, 2-d and 3-d forms."""

from tn_layers_conv.conv import Conv, Conv1D, Conv2D, Conv3D
from tn_layers_conv.pooling import (
    AvgPool,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAvgPool,
    MaxPool,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
)

__all__ = [
    "AvgPool",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "Conv",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "GlobalAvgPool",
    "MaxPool",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
]
