from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging.venvs import make_deps_env


@pytest.fixture(scope="session")
def deps_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-packages of a session-wide venv with numpy, scipy, pluggy, attrs, setuptools and pytest."""
    return make_deps_env(tmp_path_factory.mktemp("deps") / "venv")
