"""Python API for notebooks: enrichment results as ``pyarrow.Table`` (``.to_pandas()`` / ``polars.from_arrow``
are the caller's choice; neither library is imported here).

    from cairn.enrich import api
    api.refresh(workspace="~/cairn-ws")
    api.enriched("cloudtrail", workspace="~/cairn-ws", since="24h", min_score=7)
    api.observables(workspace=..., type="ip", min_score=8)
    api.matches(workspace=..., since="2026-01-01")
    api.enrich_table(arrow_observables, workspace=...)      # any rows shaped like `observables`

Every function opens the workspace's catalog, refreshes the enrichment when it is stale (``refresh=False``
skips that) and closes it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.enrich.materialize import EnrichSummary, is_stale, prepare
from cairn.enrich.materialize import refresh as _refresh
from cairn.enrich.relation import enrich_relation
from cairn.enrich.tables import event_tables
from cairn.errors import CairnError
from cairn.lake.catalog import Catalog
from cairn.timeparse import parse_time
from cairn.workspace import Workspace

WorkspaceArg = Path | str | Workspace | None
def _workspace(workspace: WorkspaceArg, config: Path | None = None) -> Workspace:
    if isinstance(workspace, Workspace):
        return workspace
    return Workspace.open(Path(workspace).expanduser() if workspace else None, config)


@contextmanager
def _open(workspace: WorkspaceArg, config: Path | None, refresh: bool) -> Iterator[DuckDBEngine]:
    ws = _workspace(workspace, config)
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp") as engine:
        Catalog(engine, ws.lake)
        if refresh and is_stale(engine):
            _refresh(engine, ws)
        yield engine


def refresh(workspace: WorkspaceArg = None, *, config: Path | None = None, full: bool = False) -> EnrichSummary:
    """Bring the enrichment tables of the workspace up to date (``full``: recompute everything)."""
    ws = _workspace(workspace, config)
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp") as engine:
        return _refresh(engine, ws, full=full)


def _where(since: Any, until: Any, column: str = "event_time") -> tuple[list[str], dict[str, Any]]:
    where, params = [], {}
    if since is not None:
        where.append(f"{column} >= $since")
        params["since"] = parse_time(since, option="since")
    if until is not None:
        where.append(f"{column} < $until")
        params["until"] = parse_time(until, option="until")
    return where, params


def enriched(table: str, workspace: WorkspaceArg = None, *, since: Any = None, until: Any = None,
             min_score: int | None = None, limit: int | None = None, config: Path | None = None,
             refresh: bool = True) -> pa.Table:
    """Rows of ``<table>_enriched`` (the table's columns, ``max_score_id``, ``enrichment``), oldest first."""
    if table not in event_tables():
        raise CairnError(f"unknown event table {table!r}; choose one of {', '.join(event_tables())}")
    where, params = _where(since, until)
    if min_score is not None:
        where.append("max_score_id >= $min_score")
        params["min_score"] = int(min_score)
    return _select(f"{table}_enriched", where, params, "event_time, event_uid", limit, workspace, config, refresh)


def observables(workspace: WorkspaceArg = None, *, source: str | None = None, type: str | None = None,
                since: Any = None, until: Any = None, min_score: int | None = None, limit: int | None = None,
                config: Path | None = None, refresh: bool = True) -> pa.Table:
    """Rows of ``enriched_observables``, filtered."""
    where, params = _where(since, until)
    for col, val in (("source", source), ("type", type)):
        if val is not None:
            where.append(f"{col} = ${col}")
            params[col] = val
    if min_score is not None:
        where.append("score_id >= $min_score")
        params["min_score"] = int(min_score)
    return _select("enriched_observables", where, params, "event_time, source, event_uid, field", limit,
                   workspace, config, refresh)


def matches(workspace: WorkspaceArg = None, *, since: Any = None, until: Any = None, intel_source: str | None = None,
            most_specific_only: bool = False, limit: int | None = None, config: Path | None = None,
            refresh: bool = True) -> pa.Table:
    """Rows of ``intel_matches`` (one per observable and indicator valid at the event time)."""
    where, params = _where(since, until)
    if intel_source is not None:
        where.append("intel_source = $intel_source")
        params["intel_source"] = intel_source
    if most_specific_only:
        where.append("most_specific")
    return _select("intel_matches", where, params, "event_time, source, event_uid, field, intel_source, matched",
                   limit, workspace, config, refresh)


def _select(rel: str, where: list[str], params: dict[str, Any], order: str, limit: int | None,
            workspace: WorkspaceArg, config: Path | None, refresh: bool) -> pa.Table:
    sql = f"SELECT * FROM {rel}" + (f" WHERE {' AND '.join(where)}" if where else "") + f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT $limit"
        params["limit"] = int(limit)
    with _open(workspace, config, refresh) as engine:
        return engine.arrow(sql, params or None)


def enrich_table(rows: pa.Table, workspace: WorkspaceArg = None, *, config: Path | None = None
                 ) -> tuple[pa.Table, pa.Table]:
    """Enrich Arrow rows shaped like ``observables`` (event_uid, source, event_time, field, type, value,
    ip_bin) against the workspace's intel and context: ``(enriched observables, matches)``."""
    need = ["event_uid", "source", "event_time", "field", "type", "value", "ip_bin"]
    missing = [c for c in need if c not in rows.column_names]
    if missing:
        raise CairnError(f"rows lack the columns {', '.join(missing)} (shape of the observables table)")
    ws = _workspace(workspace, config)
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp") as engine:
        with ws.writer_lock():
            prepare(engine, ws)
        engine.register("_api_rows", rows.select(need))
        try:
            engine.execute("CREATE OR REPLACE TEMP VIEW _api_input AS SELECT event_uid, source, "
                           "CAST(event_time AS TIMESTAMPTZ) AS event_time, field, type, value, "
                           "CAST(ip_bin AS BLOB) AS ip_bin FROM _api_rows")
            enrich_relation(engine, "_api_input", "_api")
            return engine.arrow("SELECT * FROM _api_observables"), engine.arrow("SELECT * FROM _api_matches")
        finally:
            engine.unregister("_api_rows")
