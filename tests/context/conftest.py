"""Workspaces and inventory files for the context tests."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.context.store import LoadReport, load_files
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "inventory"


class CtxWorkspace:
    """A workspace opened in-process, with helpers to write and load inventory files."""

    def __init__(self, root: Path, files: Path) -> None:
        self.ws = Workspace.open(root)
        self.engine = DuckDBEngine(self.ws.catalog_path)
        Catalog(self.engine, self.ws.lake)
        self.files = files
        files.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, text: str) -> Path:
        """Write an inventory file (dedented) and return its path."""
        path = self.files / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def load(self, *files: Path | str, **kw: Any) -> list[LoadReport]:
        return load_files(self.ws, self.engine, list(files), **kw)

    def dicts(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        return self.engine.arrow(sql, params).to_pylist()

    def scalar(self, sql: str, params: Any = None) -> Any:
        return self.engine.scalar(sql, params)


@pytest.fixture
def cws(tmp_path: Path) -> Iterator[CtxWorkspace]:
    w = CtxWorkspace(tmp_path / "ws", tmp_path / "inv")
    yield w
    w.engine.close()
