"""tests/core tests the core with tn-core alone installed: every test not marked ``plugins`` passes in a fresh
environment holding tn-core and its dependencies only (no plugin to import or load)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.packaging.venvs import DISTS, REPO, make_venv

pytestmark = pytest.mark.slow


def test_tests_core_pass_with_tn_core_alone(tmp_path: Path, deps_site: Path) -> None:
    bin_dir = make_venv(tmp_path / "venv", deps_site, DISTS["tn_core"])
    done = subprocess.run(
        [bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not plugins and not slow",
         "tests/core"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1] and " deselected" in done.stdout.splitlines()[-1], done.stdout
