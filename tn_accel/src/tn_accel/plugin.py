"""Registers tn-accel's fused optimizer kernels and array kernels with tensornet."""

from __future__ import annotations

from typing import Any

from tn_core import kit


@kit.hookimpl
def tn_optimizer_kernels() -> dict[type, tuple[tuple[str, ...], Any]]:
    from tn_accel.kernels import KERNELS  # imports numba: only when a first optimizer step asks

    return KERNELS


@kit.hookimpl
def tn_array_kernels() -> dict[str, Any]:
    from tn_accel.kernels import ARRAY_KERNELS  # imports numba: only when a primitive is first used

    return ARRAY_KERNELS
