"""Helpers of the outputs tests: a workspace with the bundled intel and inventory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cairn.context import bundled_inventory, load_files
from cairn.demo import BUNDLED_FEEDS, intel_dir
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.feeds import load_target
from cairn.intel.store import IntelStore
from cairn.lake.catalog import Catalog
from cairn.outputs.stream import StreamResult
from cairn.workspace import Workspace


@dataclass
class Enriched:
    ws: Workspace
    engine: DuckDBEngine
    stream: StreamResult


def prepare_workspace(root: Path) -> tuple[Workspace, DuckDBEngine]:
    """A workspace with the bundled intel slices and example inventory loaded (no events)."""
    ws = Workspace.open(root)
    engine = DuckDBEngine(ws.catalog_path)
    Catalog(engine, ws.lake)
    store = IntelStore(ws, engine)
    for name, file, fmt in BUNDLED_FEEDS:
        load_target(store, str(intel_dir() / file), name, fmt=fmt)
    load_files(ws, engine, bundled_inventory())
    return ws, engine
