"""Small networks and data shared by the training tests."""

from __future__ import annotations

import numpy as np

import tn_core as tn


def classifier(seed: int = 0, dtype: type = np.float64, inputs: int = 6, classes: int = 3) -> tn.System:
    """Input (inputs,) -> Dense 8 tanh -> Dense classes sigmoid, initialized from ``seed``."""
    rng = np.random.default_rng(seed)
    x = tn.Input((inputs,))()
    h = tn.Dense(8, activation="tanh")(x, rng=rng)
    y = tn.Dense(classes, activation="sigmoid")(h, rng=rng)
    return tn.System([x], [y], dtype=dtype)


def blobs(n: int, seed: int = 0, inputs: int = 6, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Separable classes: Gaussian blobs around random centres; one-hot targets."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 2, (classes, inputs))
    labels = np.arange(n) % classes
    x = centres[labels] + rng.normal(0, 0.5, (n, inputs))
    return x, np.eye(classes)[labels]


def params(system: tn.System) -> list[np.ndarray]:
    return [array.copy() for _, _, array in system.parameters()]


class Recorder(tn.Callback):
    """Records per-update learning rates, losses and parameters at each epoch end."""

    def __init__(self) -> None:
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.epoch_params: list[list[np.ndarray]] = []
        self.update_params: list[list[np.ndarray]] = []

    def after_update(self, grads: dict, optimizer: object, step: int, loss: float) -> None:
        self.lrs.append(optimizer.lr)  # type: ignore[attr-defined]
        self.losses.append(loss)
        self.update_params.append(params(self.system))

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epoch_params.append(params(self.system))
