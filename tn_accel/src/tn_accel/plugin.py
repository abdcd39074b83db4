"""Registers tn-accel's fused optimizer kernels with tensornet."""

from __future__ import annotations

from typing import Any

from tn_core import kit


@kit.hookimpl
def tn_optimizer_kernels() -> dict[type, tuple[tuple[str, ...], Any]]:
    from tn_accel.kernels import KERNELS  # imports numba: only when a first optimizer step asks

    return KERNELS
