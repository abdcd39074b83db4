"""Registers DataParallel with tensornet and answers ``tn_parallel`` for the Systems attached to one."""

from __future__ import annotations

from typing import Any

from tn_core import kit
from tn_distributed.data_parallel import DataParallel, attached_to


@kit.hookimpl
def tn_register_callbacks() -> list[type]:
    return [DataParallel]


@kit.hookimpl
def tn_parallel(system: Any) -> DataParallel | None:
    return attached_to(system)
