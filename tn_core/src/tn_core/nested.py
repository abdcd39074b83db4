"""Layers that run other layers inside them (ResWrap's cell, Bidirectional's two copies).

The owner keeps each sub-layer's parameters in its own params dict, under
``"<name>/<key>"``, so they are saved, loaded and optimized with the owner's;
its ``build`` and ``backward`` wrap the sub-layer's dicts, its ``forward``
and ``backward`` unwrap them before calling the sub-layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class Nested:
    """The parameters (or parameter gradients) of the sub-layer ``name`` inside its owner's dict."""

    name: str

    def wrap(self, own: Mapping[str, Any]) -> dict[str, Any]:
        """The sub-layer's ``{key: value}`` as the owner's ``{"<name>/<key>": value}``."""
        return {f"{self.name}/{key}": value for key, value in own.items()}

    def unwrap(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The sub-layer's own ``{key: value}`` out of the owner's dict (the same arrays, not copies)."""
        prefix = f"{self.name}/"
        return {key[len(prefix):]: value for key, value in params.items() if key.startswith(prefix)}
