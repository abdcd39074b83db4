"""The ```python blocks of docs/*.md run, in order, one namespace per page.

Markers on a block's first lines:
    # requires: Conv, LSTM         skip the block unless these names are registered (plugins installed)
    # file: src/pkg/module.py      write the block to that path under the page's folder instead of running it
                                   (the page's src/ is importable, so later blocks can import it)
    # doc: no-run                  show only
Each page runs in a temporary folder; plugins a page registers are unregistered afterwards.
hooks.md is generated and checked by test_hooks_reference.py.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from tn_core.errors import UnknownNameError
from tn_core.plugins import get_plugins

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
MARKER = re.compile(r"^# (requires|file|doc): *(.*)$")


@attrs.define
class Block:
    page: Path
    line: int  # of the block's first code line in the page
    code: str
    markers: dict[str, str]

    def missing(self) -> list[str]:
        names = [n.strip() for n in self.markers.get("requires", "").split(",") if n.strip()]
        return [n for n in names if not _registered(n)]


def _registered(name: str) -> bool:
    try:
        get_plugins().find(name)
    except UnknownNameError:
        return False
    return True


def page_blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        code = match.group(1)
        markers = {}
        for line in code.splitlines():
            found = MARKER.match(line)
            if not found:
                break
            markers[found.group(1)] = found.group(2).strip()
        blocks.append(Block(page, text.count("\n", 0, match.start(1)) + 1, code, markers))
    return blocks


class PageRun:
    """Runs one page's blocks in order in a shared namespace, each at most once."""

    def __init__(self, page: Path, folder: Path) -> None:
        self.blocks = page_blocks(page)
        self.folder = folder
        self.namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
        self.done = 0
        (folder / "src").mkdir()
        sys.path.insert(0, str(folder / "src"))

    def run_through(self, index: int) -> str | None:
        """Run blocks up to ``index``; the reason block ``index`` was skipped, or None."""
        reason = None
        while self.done <= index:
            block = self.blocks[self.done]
            self.done += 1  # a failed block fails its own test; later blocks still run
            reason = self.run(block)
        return reason

    def run(self, block: Block) -> str | None:
        if block.markers.get("doc") == "no-run":
            return "marked # doc: no-run"
        missing = block.missing()
        if missing:
            return f"needs {', '.join(missing)} (plugin not installed)"
        if "file" in block.markers:
            path = self.folder / block.markers["file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code, encoding="utf-8")
            return None
        padded = "\n" * (block.line - 1) + block.code  # tracebacks point at the page's lines
        exec(compile(padded, str(block.page), "exec"), self.namespace)
        return None


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, PageRun]]:
    plugins_before = {name for name, _ in get_plugins().pm.list_name_plugin()}
    modules_before = set(sys.modules)
    runs: dict[Path, PageRun] = {}
    yield runs
    for name, _ in get_plugins().pm.list_name_plugin():
        if name not in plugins_before:
            get_plugins().unregister(name)
    for run in runs.values():
        sys.path.remove(str(run.folder / "src"))
    for name in set(sys.modules) - modules_before:
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(tmp_path_factory.getbasetemp())):
            del sys.modules[name]


CASES = [
    pytest.param(page, k, id=f"{page.stem}:{block.line}")
    for page in sorted(DOCS.glob("*.md")) if page.name != "hooks.md"
    for k, block in enumerate(page_blocks(page))
]


def test_docs_have_code_blocks() -> None:
    assert {p.values[0].name for p in CASES} >= {"quickstart.md", "networks.md", "writing-a-plugin.md"}


@pytest.mark.parametrize(("page", "index"), CASES)
def test_doc_block_runs(
    page: Path, index: int, pages: dict[Path, PageRun], tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if page not in pages:
        pages[page] = PageRun(page, tmp_path_factory.mktemp(page.stem))
    monkeypatch.chdir(pages[page].folder)
    reason = pages[page].run_through(index)
    if reason is not None:
        pytest.skip(reason)
