"""tests/core's test plugin (tests/core/layers.py), registered around each test of this folder only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.core import layers
from tn_core.plugins import get_plugins


@pytest.fixture(autouse=True)
def registered_test_plugin() -> Iterator[None]:
    """Affine, Shift, Apply and the test activations, by name (and in model files) for the test's duration."""
    plugins = get_plugins()
    plugins.register(layers, layers.NAME)
    yield
    plugins.unregister(layers.NAME)
