"""Exceptions raised by tensornet (every message names the layer and the values involved), and the warning
for names tensornet renamed."""

from __future__ import annotations

import contextlib
import difflib
import warnings
from collections.abc import Iterable, Iterator


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


@contextlib.contextmanager
def prefixed(
    owner: str,
    catch: type[Exception] | tuple[type[Exception], ...] = TensornetError,
    raise_as: type[Exception] | None = None,
) -> Iterator[None]:
    """Re-raise the ``catch`` errors of the block with ``owner: `` in front, as ``raise_as`` (default: their type).

    The one way an error learns whose it is: a field's class (``fields.labelled``), a layer's build
    (``Dense :: [(3,)]: ...``), a layer validating several hyperparameters at once.
    """
    try:
        yield
    except catch as exc:
        raise (raise_as or type(exc))(f"{owner}: {exc}") from None


def warn_renamed(old: str, new: str, stacklevel: int = 2) -> None:
    """DeprecationWarning: ``old`` is renamed ``new`` (kept one release, until tn-core 0.3).

    ``stacklevel`` counts from the caller of this function (2: its caller's caller, the user's line).
    """
    warnings.warn(f"{old} is renamed {new}; the old name goes in tn-core 0.3", DeprecationWarning,
                  stacklevel=stacklevel + 1)
