"""docs/hooks.md is what docs/gen_hooks.py generates from the hookspec docstrings today."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_hooks", DOCS / "gen_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hooks_md_matches_the_hookspecs() -> None:
    generator = load_generator()
    assert (DOCS / "hooks.md").read_text(encoding="utf-8") == generator.render(), (
        "docs/hooks.md is out of date: run python docs/gen_hooks.py"
    )


def test_every_hookspec_is_documented() -> None:
    from tn_core import hookspecs

    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    names = [name for name, f in vars(hookspecs).items() if hasattr(f, "tensornet_spec")]
    assert len(names) >= 10
    for name in names:
        assert f"\n## {name}\n" in text and (getattr(hookspecs, name).__doc__ or "").strip(), name


def test_check_mode_reports_a_stale_reference(tmp_path: Path) -> None:
    generator = load_generator()
    stale = tmp_path / "hooks.md"
    stale.write_text(generator.render().replace("tn_after_update", "tn_after_step"), encoding="utf-8")
    generator.TARGET = stale
    assert generator.main(["--check"]) == 1
    generator.main([])
    assert generator.main(["--check"]) == 0
    script = subprocess.run([sys.executable, DOCS / "gen_hooks.py", "--check"], capture_output=True, text=True)
    assert script.returncode == 0, script.stderr
