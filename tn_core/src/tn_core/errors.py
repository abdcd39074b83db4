"""Exceptions raised by tensornet. Every message names the layer and the values involved."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TensornetError(Exception):
    """Base class of all tensornet errors."""


class ShapeError(TensornetError, ValueError):
    """An array or a wiring does not have the shape a layer expects."""


class ConfigError(TensornetError, ValueError):
    """A hyperparameter is out of range or of the wrong type."""


class UnknownNameError(TensornetError, KeyError):
    """A layer, activation, optimizer, loss or initializer name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownAttributeError(UnknownNameError, AttributeError):
    """``tn.<Name>`` for a name no plugin registered (an AttributeError, so hasattr works)."""


class MissingPluginError(UnknownNameError, AttributeError):
    """A model file names a type whose plugin distribution is missing, disabled or failed (says what to install)."""


class PluginError(TensornetError):
    """Plugins disagree (a name registered twice) or a hook returned nonsense."""


class NonFiniteError(TensornetError, FloatingPointError):
    """NaN or infinity in an input, a target or the loss."""


class WeightsFileError(TensornetError, ValueError):
    """A weights or model file is corrupt or does not match the network."""


def suggest(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
