"""Fixtures for every test folder."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator of its own for each test, seeded alike: a test's data never depends on which tests ran before."""
    return np.random.default_rng(0)
