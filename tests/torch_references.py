"""One pattern for every comparison with PyTorch, so that it also runs where torch is absent.

A reference script (``tests/<folder>/make_*_references.py``) defines ``PATH``, ``make_inputs()`` (seeded
inputs) and ``torch_results(inputs)`` (PyTorch's outputs and gradients), and ``main = writer(...)``;
``python -m tests.<folder>.<script>`` (numpy and torch only) rewrites the committed .npz of plain numeric
arrays. Tests take ``reference = reference_fixture(script)``: the committed file always, live PyTorch when
it imports; and ``inputs_match(script)`` checks that the file was made from the script's inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest


def reference_fixture(script: ModuleType) -> Any:
    """A pytest fixture giving PyTorch's results: from the committed file, or computed now when torch imports."""

    @pytest.fixture(params=["committed", "live"])
    def reference(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
        if request.param == "committed":
            return dict(np.load(script.PATH, allow_pickle=False))
        pytest.importorskip("torch")
        inputs = script.make_inputs()
        return inputs | script.torch_results(inputs)

    return reference


def inputs_match(script: ModuleType) -> None:
    """Assert that the committed file holds exactly the inputs the script's seeded generator makes."""
    committed = np.load(script.PATH, allow_pickle=False)
    for key, value in script.make_inputs().items():
        np.testing.assert_array_equal(committed[key], value, err_msg=key)


def writer(path: Any, make_inputs: Callable[[], dict], torch_results: Callable[[dict], dict]) -> Callable[[], None]:
    """A script's ``main``: compute the inputs and PyTorch's results, and write them to ``path``."""

    def main() -> None:
        inputs = make_inputs()
        np.savez(path, **inputs, **torch_results(inputs))
        print(f"wrote {path}")

    return main
