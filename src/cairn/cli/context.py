"""Shared CLI state: workspace, engine, console, output mode."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from duckdb.sqltypes import DuckDBPyType
from rich.console import Console

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import EngineError
from cairn.lake.catalog import Catalog
from cairn.outputs.json_text import mark_json_columns
from cairn.outputs.tables import dumps
from cairn.workspace import Workspace

PIPE_WIDTH = 120
"""Columns of tables written to a file or pipe (a terminal's own width is used when there is one;
``COLUMNS`` overrides both). Rich's default for pipes, 80, folds most of cairn's tables."""


def make_console(*, stderr: bool = False) -> Console:
    """A Rich console: the terminal's width, or :data:`PIPE_WIDTH` when output is not a terminal.
    Emoji codes are not replaced: ``:b:`` in an IPv6 address or ``:x:`` in a file stays as written."""
    console = Console(stderr=stderr, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=PIPE_WIDTH, emoji=False)
    return console


_TEXT_TYPES = frozenset({"bit", "time with time zone"})
"""DuckDB types Arrow carries wrongly (BIT as its internal bytes, TIMETZ without its offset)."""


def _as_text(t: DuckDBPyType) -> bool:
    """Is ``t`` (or a type nested in it) one of :data:`_TEXT_TYPES`?"""
    if t.id in _TEXT_TYPES:
        return True
    if t.id not in ("struct", "list", "array", "map", "union"):
        return False
    return any(isinstance(c, DuckDBPyType) and _as_text(c) for _, c in t.children)


@dataclass
class AppState:
    """Options given before the command, and lazily opened resources."""

    workspace_path: Path | None = None
    config_path: Path | None = None
    json: bool = False
    quiet: bool = False
    console: Console = field(default_factory=make_console)
    err: Console = field(default_factory=lambda: make_console(stderr=True))
    _ws: Workspace | None = None
    _engine: DuckDBEngine | None = None

    @property
    def workspace(self) -> Workspace:
        """The workspace (opened and created on first use)."""
        if self._ws is None:
            self._ws = Workspace.open(self.workspace_path, self.config_path)
        return self._ws

    @property
    def engine(self) -> DuckDBEngine:
        """The catalog engine of the workspace."""
        if self._engine is None:
            ws = self.workspace
            cfg = ws.config.ingest
            self._engine = DuckDBEngine(
                ws.catalog_path,
                threads=cfg.threads or None,
                memory_limit=cfg.memory_limit or None,
                temp_directory=ws.root / "tmp",
            )
            Catalog(self._engine, ws.lake)
        return self._engine

    def query_table(self, sql: str) -> pa.Table:
        """The rows of the last statement of ``sql`` (user SQL), with columns of types Arrow would carry
        wrongly (:data:`_TEXT_TYPES`, also nested) as DuckDB's text of them. SQL without a statement
        that returns rows (empty, only comments) is an :class:`EngineError`."""
        try:
            rel = self.engine.con.sql(sql)
            if rel is None:
                raise EngineError("empty query: the SQL has no statement that returns rows")
            as_text = [_as_text(t) for t in rel.types]
            if any(as_text):
                rel = rel.select(*[
                    duckdb.SQLExpression(f"CAST(#{i} AS VARCHAR)" if text else f"#{i}").alias(name)
                    for i, (name, text) in enumerate(zip(rel.columns, as_text, strict=True), 1)])
            return mark_json_columns(rel.to_arrow_table(), [str(t) == "JSON" for t in rel.types])
        except duckdb.Error as exc:
            head = " ".join(sql.split())[:200]
            raise EngineError(f"{type(exc).__name__}: {exc} (while running: {head})") from exc

    def emit_json(self, data: Any) -> None:
        """Print machine-readable output."""
        sys.stdout.write(dumps(data) + "\n")

    def close(self) -> None:
        """Release the engine."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
