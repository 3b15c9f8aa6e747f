"""The catalog: which Parquet files make up each table, runs, and dedup keys.

The catalog is the single source of truth. A table's view reads exactly the
files listed for it; a run adds its files, keys and summary in one transaction,
so an interrupted run leaves nothing visible, and the files it had written are
swept away by the next writer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.schema import OBSERVABLES, QUARANTINE, TableSpec

_DDL = """
CREATE TABLE IF NOT EXISTS _cairn_files (
    table_name VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    partition_value VARCHAR,
    rows BIGINT NOT NULL,
    min_time TIMESTAMPTZ,
    max_time TIMESTAMPTZ,
    run_id VARCHAR NOT NULL,
    added_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS _cairn_keys (
    table_name VARCHAR NOT NULL,
    key_hash UHUGEINT NOT NULL
);
CREATE TABLE IF NOT EXISTS _cairn_runs (
    run_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    summary JSON
);
"""


def all_specs() -> dict[str, TableSpec]:
    """Every table the catalog knows: source tables, observables, quarantine, intel and context tables."""
    from cairn.sources import SOURCES

    specs: dict[str, TableSpec] = {}
    for s in SOURCES.values():
        for t in s.tables:
            specs[t.name] = t
    specs[OBSERVABLES.name] = OBSERVABLES
    specs[QUARANTINE.name] = QUARANTINE
    from cairn.intel.feed_tables import FEED_TABLES
    from cairn.intel.tables import intel_specs

    specs.update(intel_specs())
    specs.update(FEED_TABLES)
    from cairn.context.tables import CONTEXT_TABLES

    specs.update(CONTEXT_TABLES)
    from cairn.enrich.tables import ENRICH_TABLES

    specs.update(ENRICH_TABLES)
    from cairn.detect.alerts import ALERTS

    specs[ALERTS.name] = ALERTS
    from cairn.actions.outbox import OUTBOX

    specs[OUTBOX.name] = OUTBOX
    return specs


class Catalog:
    """Access to the catalog database of a workspace."""

    def __init__(self, engine: DuckDBEngine, lake_root: Path) -> None:
        self.engine = engine
        self.lake_root = lake_root
        for stmt in _DDL.split(";"):
            if stmt.strip():
                engine.execute(stmt)
        self.ensure_views()

    def ensure_views(self) -> None:
        """Create the (empty) view of every known table that has none yet, so that every
        table can be queried from the start, e.g. ``quarantine`` before anything was
        quarantined, or the tables of a source added since the workspace was made."""
        have = {
            r[0]
            for r in self.engine.rows(
                "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND NOT internal"
            )
        }
        missing = [name for name in all_specs() if name not in have]
        if missing:
            self.refresh_views(missing)

    def files(self, table: str) -> list[str]:
        """Absolute paths of the files of ``table``."""
        rows = self.engine.rows(
            "SELECT path FROM _cairn_files WHERE table_name = ? ORDER BY path", [table]
        )
        return [str(self.lake_root / r[0]) for r in rows]

    def refresh_views(self, tables: Iterable[str] | None = None) -> None:
        """(Re)create the view of each table over exactly its catalogued files."""
        specs = all_specs()
        for name in tables or specs:
            spec = specs[name]
            files = [] if spec.view else self.files(name)
            if spec.view:
                body = spec.view(self)
            elif files:
                cols = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in spec.columns)
                listing = ", ".join(_quote(f) for f in files)
                body = (
                    f"SELECT {cols} FROM read_parquet([{listing}], hive_partitioning = true, "
                    f"union_by_name = true)"
                )
            else:
                body = spec.empty_select()
            self.engine.execute(f"CREATE OR REPLACE VIEW {name} AS {body}")

    def sweep(self, staging: Path) -> int:
        """Remove files no committed run owns: staging leftovers and orphans in the lake."""
        removed = 0
        if staging.exists():
            for child in staging.iterdir():
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
        known = {r[0] for r in self.engine.rows("SELECT path FROM _cairn_files")}
        if self.lake_root.exists():
            for p in self.lake_root.rglob("*.parquet"):
                rel = p.relative_to(self.lake_root).as_posix()
                if rel not in known:
                    p.unlink()
                    removed += 1
        return removed

    def table_stats(self) -> list[tuple[str, int, int, object, object]]:
        """(table, files, rows, min_time, max_time) for every known table."""
        specs = all_specs()
        got = {
            r[0]: r[1:]
            for r in self.engine.rows(
                "SELECT table_name, count(*), sum(rows), min(min_time), max(max_time) "
                "FROM _cairn_files GROUP BY table_name"
            )
        }
        out = []
        for name in specs:
            files, rows, lo, hi = got.get(name, (0, 0, None, None))
            if specs[name].view:  # derived view: count its rows
                count = specs[name].view_rows
                rows = count(self.engine) if count else self.engine.scalar(f"SELECT count(*) FROM {name}")
            out.append((name, int(files), int(rows or 0), lo, hi))
        return out


def _quote(text: str) -> str:
    """A SQL string literal (for file paths the catalog itself wrote)."""
    return "'" + text.replace("'", "''") + "'"
