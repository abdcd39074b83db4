"""The correlation Conv computes and its two gradients, written plainly: the definition the fast paths equal.

For x (n, *spatial, C) on its padded grid xp (``Window.place``), weights
W (O, *kernel, C), stride s and dilation d, output positions p and kernel
offsets q (each a multi-index over the sliding axes), and g = dE/dz::

    z[n, p, o]   = sum_{q, c} xp[n, p s + q d, c] W[o, q, c]                   (forward)
    dW[o, q, c]  = sum_{n, p} g[n, p, o] xp[n, p s + q d, c]                   (weights' gradient)
    dxp[n, m, c] = sum_{p, q with p s + q d = m} sum_o g[n, p, o] W[o, q, c]   (input's gradient)

and dx is dxp without its padding. ``Window.windows`` views xp[n, p s + q d, c]
for every p and q at once, so z and dW are each one contraction of that view
(NumPy copies it into im2col columns and runs one matmul); dx adds, for each
kernel offset q, g W[:, q] onto the positions q read. These functions work on
whole arrays, with no threads and no reused buffers; :mod:`tn_layers_conv.paths`
computes the same numbers faster and picks the cheapest way per shape.
"""

from __future__ import annotations

import numpy as np

from tn_layers_conv.window import Window


def correlate(geo: Window, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """z (n, *out, O) from x (n, *spatial, C) and W (O, *kernel, C)."""
    view = geo.windows(geo.place(x))  # (n, *out, *kernel, C)
    rank = len(geo.kernel)
    return np.tensordot(view, w, axes=(tuple(range(1 + rank, view.ndim)), tuple(range(1, w.ndim))))


def weight_gradient(geo: Window, x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dW (O, *kernel, C) from x (n, *spatial, C) and g (n, *out, O)."""
    view = geo.windows(geo.place(x))
    positions = tuple(range(1 + len(geo.kernel)))  # the batch and output axes
    return np.tensordot(g, view, axes=(positions, positions))


def input_gradient(geo: Window, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dx (n, *spatial, C) from g (n, *out, O) and W (O, *kernel, C)."""
    dxp = np.zeros((g.shape[0], *geo.padded, geo.channels), dtype=np.result_type(g, w))
    for q, reads in zip(np.ndindex(*geo.kernel), geo.offsets()):
        dxp[reads] += g @ w[(slice(None), *q)]  # offset q read xp[reads]: (n, *out, C)
    return dxp[geo.interior()]
