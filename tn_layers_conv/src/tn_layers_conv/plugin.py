"""Registers the conv layers with tensornet."""

from __future__ import annotations

import tn_core as tn


@tn.hookimpl
def tn_register_structures() -> list[type]:
    return []
