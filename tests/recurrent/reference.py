"""Step-by-step reference cells, written from the formulas in the layers' docstrings.

Each takes x (N, T, F), weights W = [W_h | W_x], biases b and the initial
carries, loops over time, and returns (states (N, T, H), *final carries).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def rnn(x, w, b, h, activation=np.tanh):  # type: ignore[no-untyped-def]
    states = []
    for t in range(x.shape[1]):
        h = activation(np.concatenate([h, x[:, t]], axis=1) @ w.T + b)
        states.append(h)
    return np.stack(states, axis=1), h


def lstm(x, w, b, h, c):  # type: ignore[no-untyped-def]
    size = h.shape[1]
    states = []
    for t in range(x.shape[1]):
        z = np.concatenate([h, x[:, t]], axis=1) @ w.T + b
        f, i, g, o = (z[:, k * size : (k + 1) * size] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        states.append(h)
    return np.stack(states, axis=1), h, c


def gru(x, w, b, h):  # type: ignore[no-untyped-def]
    size = h.shape[1]
    w_h, w_x = w[:, :size], w[:, size:]
    states = []
    for t in range(x.shape[1]):
        from_x, from_h = x[:, t] @ w_x.T + b, h @ w_h.T
        u = sigmoid(from_x[:, :size] + from_h[:, :size])
        r = sigmoid(from_x[:, size : 2 * size] + from_h[:, size : 2 * size])
        n = np.tanh(from_x[:, 2 * size :] + r * from_h[:, 2 * size :])
        h = (1 - u) * n + u * h
        states.append(h)
    return np.stack(states, axis=1), h
