"""The workspace: a folder holding the catalog, the lake, the quarantine and settings.

Layout::

    <workspace>/
      cairn.toml            settings (optional)
      catalog.duckdb        DuckDB catalog: views over the lake, file list, runs, dedup keys
      lake/<table>/event_date=YYYY-MM-DD/*.parquet
      lake/observables/source=<table>/event_date=.../*.parquet
      lake/quarantine/event_date=.../*.parquet
      staging/<run-id>/     files of a run in progress (removed at commit or next start)

The default location is ``$CAIRN_WORKSPACE`` or the user's data folder.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from cairn.config import CONFIG_FILE, DEFAULT_CONFIG_TEXT, Config, load_config
from cairn.errors import WorkspaceError

ENV_WORKSPACE = "CAIRN_WORKSPACE"


def default_workspace() -> Path:
    """``$CAIRN_WORKSPACE`` or ``<user data dir>/cairn/workspace``."""
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("cairn")) / "workspace"


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace and its settings."""

    root: Path
    config: Config

    @classmethod
    def open(cls, root: Path | None = None, config_path: Path | None = None, *, create: bool = True) -> Workspace:
        """Open (and by default create) a workspace."""
        root = (root or default_workspace()).expanduser().resolve()
        if not root.exists():
            if not create:
                raise WorkspaceError(f"no workspace at {root}; run 'cairn ingest' or 'cairn init' first")
            root.mkdir(parents=True)
        elif not root.is_dir():
            raise WorkspaceError(f"{root} is not a folder")
        cfg_path = config_path or root / CONFIG_FILE
        if config_path is not None and not config_path.exists():
            raise WorkspaceError(f"config file {config_path} does not exist")
        ws = cls(root=root, config=load_config(cfg_path))
        for d in (ws.lake, ws.staging):
            d.mkdir(parents=True, exist_ok=True)
        if create and not (root / CONFIG_FILE).exists() and config_path is None:
            (root / CONFIG_FILE).write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
        return ws

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog file."""
        return self.root / "catalog.duckdb"

    @property
    def lake(self) -> Path:
        """Root of the Parquet lake."""
        return self.root / "lake"

    @property
    def staging(self) -> Path:
        """Where runs stage their files before commit."""
        return self.root / "staging"

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the workspace's writer lock (one writer at a time)."""
        path = self.root / ".lock"
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkspaceError(
                    f"another cairn process is writing to {self.root}; try again when it ends"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
