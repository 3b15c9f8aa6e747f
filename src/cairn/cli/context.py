"""Shared CLI state: workspace, engine, console, output mode."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.outputs.tables import dumps
from cairn.workspace import Workspace

PIPE_WIDTH = 120
"""Columns of tables written to a file or pipe (a terminal's own width is used when there is one;
``COLUMNS`` overrides both). Rich's default for pipes, 80, folds most of cairn's tables."""


def make_console(*, stderr: bool = False) -> Console:
    """A Rich console: the terminal's width, or :data:`PIPE_WIDTH` when output is not a terminal."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=PIPE_WIDTH)
    return console


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

    def emit_json(self, data: Any) -> None:
        """Print machine-readable output."""
        sys.stdout.write(dumps(data) + "\n")

    def close(self) -> None:
        """Release the engine."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
