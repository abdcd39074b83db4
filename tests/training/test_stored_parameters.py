"""Stored parameters: weights files (load_weights) and model files (tn.load) take the same arrays.

Both check a stored parameter with weights.stored_problem: the right shape, and numbers (any float or
integer dtype, cast to the System's, as PyTorch's load_state_dict and Keras's set_weights cast).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tn_core as tn

from .helpers import classifier, params


def rewrite(path: Path, change: Callable[[str, np.ndarray], np.ndarray]) -> None:
    """Rewrite the .npz at ``path`` with ``change(key, array)`` applied to every member."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: change(key, archive[key]) for key in archive.files}
    with open(path, "wb") as out:
        np.savez(out, **arrays)


def integral(key: str, array: np.ndarray) -> np.ndarray:
    """Parameters as whole numbers in int16 (other members unchanged)."""
    return np.round(array * 100).astype(np.int16) if array.dtype.kind == "f" else array


def as_bools(key: str, array: np.ndarray) -> np.ndarray:
    return array > 0 if array.dtype.kind == "f" else array


def save_weights(system: tn.System, path: Path) -> None:
    system.save_weights(path)


def loaded_weights(path: Path) -> list[np.ndarray]:
    target = classifier(seed=1, dtype=np.float32)
    target.load_weights(path)
    return params(target)


def loaded_model(path: Path) -> list[np.ndarray]:
    return params(tn.load(path))


PATHS = [
    pytest.param(save_weights, loaded_weights, "weights.npz", "dense_1/weights", id="weights file"),
    pytest.param(tn.save, loaded_model, "model.tn", "params/0/weights", id="model file"),
]


def stored(write, name: str, tmp_path: Path, change: Callable[[str, np.ndarray], np.ndarray]) -> tuple:  # type: ignore[no-untyped-def]
    """(the float32 System written, the path of its file rewritten by ``change``)."""
    source = classifier(seed=0, dtype=np.float32)
    path = tmp_path / name
    write(source, path)
    rewrite(path, change)
    return source, path


@pytest.mark.parametrize("write, read, name, part", PATHS)
def test_integer_parameters_are_cast_to_the_systems_dtype(write, read, name, part, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source, path = stored(write, name, tmp_path, integral)
    for before, after in zip(params(source), read(path)):
        assert after.dtype == np.float32
        np.testing.assert_array_equal(after, np.round(before * 100))


@pytest.mark.parametrize("write, read, name, part", PATHS)
def test_parameters_that_are_not_numbers_are_refused_naming_the_part(write, read, name, part, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, path = stored(write, name, tmp_path, as_bools)
    with pytest.raises(tn.WeightsFileError, match=rf"{part}: stored as bool, expected numbers"):
        read(path)


@pytest.mark.parametrize("write, read, name, part", PATHS)
def test_parameters_of_another_shape_are_refused_naming_both_shapes(write, read, name, part, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, path = stored(write, name, tmp_path, lambda key, array: array[:, :-1] if key.endswith(part) else array)
    with pytest.raises(tn.WeightsFileError, match=rf"{part}: the network has shape \(8, 6\), the file \(8, 5\)"):
        read(path)
