"""tensornet plugin: N-dimensional convolution and pooling."""

from tn_layers_conv.conv import Conv, Conv1D, Conv2D, Conv3D
from tn_layers_conv.pooling import AvgPool, GlobalAvgPool, MaxPool

__all__ = ["AvgPool", "Conv", "Conv1D", "Conv2D", "Conv3D", "GlobalAvgPool", "MaxPool"]
