"""Weight files: .npz archives with named checkpoints.

Keys are ``checkpoint/layer/param``, for the trainable parameters and the
buffers (running statistics) alike. Files are read with ``allow_pickle=False``,
written atomically (temporary file, then rename), and checked against the
network (names, shapes, finiteness) before any parameter changes.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tn_core.errors import ConfigError, WeightsFileError

if TYPE_CHECKING:
    from tn_core.system import System


def read_npz(path: Any) -> dict[str, np.ndarray]:
    """Every array of an .npz file; WeightsFileError for anything unreadable or pickled."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise WeightsFileError(f"{path}: not an .npz archive")
            return {key: archive[key] for key in archive.files}
    except WeightsFileError:
        raise
    except FileNotFoundError:
        raise WeightsFileError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise WeightsFileError(f"{path}: not a readable .npz archive ({exc})") from None


def write_npz_atomic(path: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _check_checkpoint_name(checkpoint: str) -> None:
    if not isinstance(checkpoint, str) or not checkpoint or "/" in checkpoint:
        raise ConfigError(f"checkpoint must be a non-empty name without '/', got {checkpoint!r}")


def checkpoints(path: Any) -> list[str]:
    """Names of the checkpoints stored in a weights file."""
    return sorted({key.split("/", 1)[0] for key in read_npz(path)})


def stored_arrays(system: System) -> list[tuple[str, str, np.ndarray]]:
    """(layer, name, array) of everything a weights file holds: parameters, then buffers."""
    return [*system.parameters(), *system.buffers()]


def save_weights(system: System, path: Any, checkpoint: str = "default") -> None:
    """Store the System's parameters as ``checkpoint``, keeping the file's other checkpoints."""
    _check_checkpoint_name(checkpoint)
    kept = read_npz(path) if Path(path).exists() else {}
    arrays = {key: value for key, value in kept.items() if not key.startswith(checkpoint + "/")}
    for layer, name, array in stored_arrays(system):
        arrays[f"{checkpoint}/{layer}/{name}"] = array
    write_npz_atomic(path, arrays)


def load_weights(system: System, path: Any, checkpoint: str = "default") -> None:
    """Copy ``checkpoint`` into the System's parameters after checking all of it."""
    _check_checkpoint_name(checkpoint)
    data = read_npz(path)
    prefix = checkpoint + "/"
    stored = {key[len(prefix):]: value for key, value in data.items() if key.startswith(prefix)}
    if not stored:
        raise WeightsFileError(f"{path} has no checkpoint {checkpoint!r} (it has {checkpoints(path)})")
    expected = {f"{layer}/{name}": array for layer, name, array in stored_arrays(system)}
    problems = [f"missing {key} {array.shape}" for key, array in expected.items() if key not in stored]
    problems += [f"unexpected {key} {stored[key].shape}" for key in stored if key not in expected]
    for key, array in expected.items():
        if key in stored:
            value = stored[key]
            if value.shape != array.shape:
                problems.append(f"{key}: the network has shape {array.shape}, the file {value.shape}")
            elif value.dtype.kind not in "fiu":
                problems.append(f"{key}: stored as {value.dtype}, expected numbers")
            elif not np.isfinite(value).all():
                problems.append(f"{key}: holds NaN or infinite values")
    if problems:
        shown = "; ".join(problems[:6]) + ("; ..." if len(problems) > 6 else "")
        raise WeightsFileError(
            f"{path} checkpoint {checkpoint!r} does not match this network ({len(problems)} problems): {shown}"
        )
    for key, array in expected.items():
        array[...] = stored[key]
