"""Keep ``enriched_observables`` and ``intel_matches`` up to date with the lake, intel and context.

Incremental unit: the ``observables`` Parquet files of the catalog (immutable, one set per ingest run).
A refresh enriches the files not enriched yet; when anything enrichment depends on changed (current
feed versions or their lifecycle policies, ownership/warninglist tables, context loads, cached provider
results, the enrichment format) or a file enriched before is gone, everything is recomputed.
Results are staged as Parquet, then one catalog transaction lists them (replacing the old files on a
full recompute), records the inputs and the fingerprint and refreshes the views: an interrupted
refresh leaves the previous state visible, and the next writer sweeps the unlisted files.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.enrich.indicators import ensure_indicators, intel_fingerprint
from cairn.enrich.relation import MATCH_COLUMNS, drop_work, enrich_relation
from cairn.enrich.tables import (
    ENRICH_FILE_TABLES,
    ENRICH_TABLES,
    ENRICHED_VALUES,
    ENRICHED_VERDICTS,
    FLAGGED_OBSERVABLES,
    INTEL_MATCHES,
    ensure_enriched_views,
)
from cairn.intel.lookup import ensure_index
from cairn.intel.ownership import ensure_tables
from cairn.intel.settings import intel_settings
from cairn.intel.tables import fingerprint, table_exists
from cairn.intel.verdict import INTEL_CACHE_DDL
from cairn.lake.catalog import Catalog
from cairn.lake.schema import OBSERVABLES
from cairn.workspace import Workspace

FORMAT = 5
"""Layout/rules version of the enrichment files; a change forces a full recompute."""
Progress = Callable[[str, int], None]

_STATE_DDL = """
CREATE TABLE IF NOT EXISTS _cairn_enrich_state (fingerprint VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
                                                updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS _cairn_enrich_inputs (path VARCHAR NOT NULL, run_id VARCHAR NOT NULL)
"""
_REF_TABLES = ("own_asn", "own_cloud", "own_tor", "own_special", "own_public_suffixes", "warninglists",
               "warninglist_entries")


@dataclass
class EnrichSummary:
    """What one refresh did."""

    run_id: str | None = None
    mode: str = "up-to-date"
    """up-to-date | incremental | full"""
    reason: str = ""
    input_files: int = 0
    observables: int = 0
    matches: int = 0
    matched_observables: int = 0
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _q(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def inputs_fingerprint(engine: DuckDBEngine) -> str:
    """Fingerprint of everything enrichment results depend on besides the observables themselves."""
    ref = engine.rows(
        f"SELECT table_name, run_id FROM _cairn_files WHERE table_name IN ({', '.join(_q(t) for t in _REF_TABLES)}) "
        "OR table_name LIKE 'ctx\\_%' ESCAPE '\\' ORDER BY 1, 2")
    cache = engine.rows("SELECT count(*), max(fetched_at), max(expires_at) FROM intel_cache") if table_exists(
        engine, "intel_cache") else []
    return fingerprint(FORMAT, intel_fingerprint(engine), ref, cache)


def _ensure_state(engine: DuckDBEngine) -> None:
    for stmt in _STATE_DDL.split(";"):
        engine.execute(stmt)


def prepare(engine: DuckDBEngine, ws: Workspace) -> None:
    """Build what enrichment reads (reference tables, their IP index, the time-aware indicator table and
    its index); caller holds the lock."""
    Catalog(engine, ws.lake)
    engine.execute(INTEL_CACHE_DDL)
    ensure_tables(engine, ws.root, ws.lake, intel_settings(ws.config))
    ensure_index(engine)
    ensure_indicators(engine, str(ws.lake))


def plan(engine: DuckDBEngine, *, full: bool = False) -> tuple[str, str, list[str], str]:
    """``(mode, reason, files to enrich, fingerprint)`` against the stored state."""
    _ensure_state(engine)
    fp = inputs_fingerprint(engine)
    current = [r[0] for r in engine.rows("SELECT path FROM _cairn_files WHERE table_name = 'observables' ORDER BY 1")]
    done = {r[0] for r in engine.rows("SELECT path FROM _cairn_enrich_inputs")}
    stored = engine.scalar("SELECT max(fingerprint) FROM _cairn_enrich_state")
    if full:
        return "full", "requested", current, fp
    if stored is None:
        return ("full", "first refresh", current, fp) if current else ("up-to-date", "lake empty", [], fp)
    if stored != fp:
        return "full", "intel, ownership or context changed", current, fp
    if not done <= set(current):
        return "full", "observables removed from the lake", current, fp
    todo = [p for p in current if p not in done]
    return ("incremental", f"{len(todo)} new observables files", todo, fp) if todo else ("up-to-date", "", [], fp)


def is_stale(engine: DuckDBEngine) -> bool:
    """Would :func:`refresh` do any work? (reference tables built as they are now)."""
    if not table_exists(engine, "_cairn_enrich_state"):
        return bool(engine.scalar("SELECT count(*) FROM _cairn_files WHERE table_name = 'observables'"))
    return plan(engine)[0] != "up-to-date"


def refresh(engine: DuckDBEngine, workspace: Workspace, *, progress: Progress | None = None,
            full: bool = False) -> EnrichSummary:
    """Bring ``enriched_observables`` / ``intel_matches`` up to date (see the module docstring)."""
    ws = workspace
    started = time.monotonic()
    summary = EnrichSummary()
    with ws.writer_lock():
        cat = Catalog(engine, ws.lake)
        cat.sweep(ws.staging)
        t = time.monotonic()
        prepare(engine, ws)
        ensure_enriched_views(engine)
        summary.details["prepare_seconds"] = round(time.monotonic() - t, 3)
        mode, reason, files, fp = plan(engine, full=full)
        summary.mode, summary.reason, summary.input_files = mode, reason, len(files)
        if mode == "up-to-date":
            summary.seconds = round(time.monotonic() - started, 3)
            return summary
        run_id = "enrich-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        summary.run_id = run_id
        run_dir = ws.staging / run_id
        try:
            _enrich_files(engine, ws, files, run_dir, summary, progress)
            _commit(engine, cat, ws, run_dir, run_id, files, fp, summary, started)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
            engine.execute("DROP VIEW IF EXISTS _enr_observables")
            engine.execute("DROP TABLE IF EXISTS _enr_matches")
            drop_work(engine, "_enr")
            engine.execute("DROP VIEW IF EXISTS _enr_input")
    return summary


def _enrich_files(engine: DuckDBEngine, ws: Workspace, files: list[str], run_dir: Path, summary: EnrichSummary,
                  progress: Progress | None) -> None:
    cols = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in OBSERVABLES.columns if c.name != "event_date")
    if files:
        listing = ", ".join(_q(ws.lake / f) for f in files)
        body = f"SELECT {cols} FROM read_parquet([{listing}], hive_partitioning = true, union_by_name = true)"
    else:
        body = "SELECT * FROM (" + OBSERVABLES.empty_select() + ")"
    engine.execute(f"CREATE OR REPLACE TEMP VIEW _enr_input AS {body}")
    if progress:
        progress("enrich", 0)
    t = time.monotonic()
    enrich_relation(engine, "_enr_input", "_enr", materialize=False)
    summary.details["match_seconds"] = round(time.monotonic() - t, 3)
    t = time.monotonic()
    # The catalog holds each file's row count: no scan of the observables for it.
    summary.observables = int(engine.scalar(
        "SELECT sum(rows) FROM _cairn_files WHERE table_name = 'observables' AND list_contains(?, path)",
        [files]) or 0)
    summary.matches = int(engine.scalar("SELECT count(*) FROM _enr_matches") or 0)
    summary.matched_observables = int(engine.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT event_uid, source, field, value FROM _enr_matches)") or 0)
    if progress:
        progress("enrich", summary.observables)
    incremental = summary.mode == "incremental"
    # Per value and per (matched value, time): only what the lake does not hold yet (the inputs of
    # earlier runs are unchanged, or this is a full recompute). Per observable: matches and flags only.
    values = "SELECT type, value, score_id, sources AS verdict_sources, why, warninglists, asn, as_org, country, " \
             "cloud_provider, cloud_service, cloud_region, tor AS is_tor, special_range, registrable_domain, " \
             "account_id, account_name, account_environment, ou_path, account_owner, network_zone, network_name, " \
             "identity_person, identity_team, asset_owner, asset_criticality FROM _enr_vals n"
    verdicts = "SELECT type, value, event_time, score_id, sources AS verdict_sources, why FROM _enr_k_verdicts n"
    if incremental:
        values += " WHERE NOT EXISTS (SELECT 1 FROM enriched_values x WHERE x.type = n.type AND x.value = n.value)"
        verdicts += (" WHERE NOT EXISTS (SELECT 1 FROM enriched_verdicts x WHERE x.type = n.type AND "
                     "x.value = n.value AND x.event_time IS NOT DISTINCT FROM n.event_time)")
    # Flagged rows without a second pass joining every input row: rows with a timed verdict are exactly
    # the matched rows (their score is the timed one); the others take their value's score.
    flagged = """
        SELECT m.event_uid, m.source, m.event_time, m.field, m.type, m.value, any_value(kv.score_id) AS score_id
        FROM _enr_matches m
        JOIN _enr_k_verdicts kv ON kv.type = m.type AND kv.value = m.value
                               AND kv.event_time IS NOT DISTINCT FROM m.event_time
        WHERE kv.score_id > 0
        GROUP BY m.event_uid, m.source, m.event_time, m.field, m.type, m.value
        UNION ALL
        SELECT r.event_uid, r.source, r.event_time, r.field, r.type, r.value, v.score_id
        FROM _enr_input r JOIN (SELECT type, value, score_id FROM _enr_vals WHERE score_id > 0) v
          ON v.type = r.type AND v.value = r.value
        WHERE NOT EXISTS (SELECT 1 FROM _enr_k_verdicts kv WHERE kv.type = r.type AND kv.value = r.value
                          AND kv.event_time IS NOT DISTINCT FROM r.event_time)"""
    written: dict[str, int] = {}
    for spec, query in ((ENRICHED_VALUES, values), (ENRICHED_VERDICTS, verdicts),
                        (INTEL_MATCHES, f"SELECT {', '.join(MATCH_COLUMNS)} FROM _enr_matches"),
                        (FLAGGED_OBSERVABLES, flagged)):
        target = run_dir / "lake" / spec.name
        target.mkdir(parents=True, exist_ok=True)
        engine.execute(f"CREATE OR REPLACE TEMP TABLE _enr_out AS {query}")
        n = int(engine.scalar("SELECT count(*) FROM _enr_out") or 0)
        written[spec.name] = n
        if n:
            engine.execute(
                f"COPY _enr_out TO {_q(target)} (FORMAT parquet, PARTITION_BY ({spec.partition_column}), "
                f"FILENAME_PATTERN 'part-{{i}}', COMPRESSION zstd, OVERWRITE_OR_IGNORE true)")
        engine.execute("DROP TABLE _enr_out")
        if progress:
            progress("write", n)
    summary.details["rows_written"] = written
    summary.details["join_write_seconds"] = round(time.monotonic() - t, 3)


def _commit(engine: DuckDBEngine, cat: Catalog, ws: Workspace, run_dir: Path, run_id: str, files: list[str],
            fp: str, summary: EnrichSummary, started: float) -> None:
    staged_root = run_dir / "lake"
    staged = sorted(staged_root.rglob("*.parquet")) if staged_root.exists() else []
    old: list[str] = []
    with engine.transaction():
        if summary.mode == "full":
            # enriched_observables held files before it became a view (FORMAT < 3): removed here too
            tables = ", ".join(_q(n) for n in (*ENRICH_FILE_TABLES, "enriched_observables"))
            old = [r[0] for r in engine.rows(f"SELECT path FROM _cairn_files WHERE table_name IN ({tables})")]
            engine.execute(f"DELETE FROM _cairn_files WHERE table_name IN ({tables})")
            engine.execute("DELETE FROM _cairn_enrich_inputs")
        for path in staged:
            rel = path.relative_to(staged_root)
            final = rel.with_name(f"{run_id}-{rel.name}")
            dest = ws.lake / final
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            md = pq.read_metadata(dest)
            engine.execute(
                "INSERT INTO _cairn_files (table_name, path, partition_value, rows, run_id) VALUES (?, ?, ?, ?, ?)",
                [rel.parts[0], final.as_posix(), "/".join(rel.parts[1:-1]), md.num_rows, run_id])
        if files:
            engine.register("_enr_done", _paths_table(files, run_id))
            engine.execute("INSERT INTO _cairn_enrich_inputs SELECT path, run_id FROM _enr_done")
            engine.unregister("_enr_done")
        engine.execute("DELETE FROM _cairn_enrich_state")
        engine.execute("INSERT INTO _cairn_enrich_state VALUES (?, ?, now())", [fp, run_id])
        summary.seconds = round(time.monotonic() - started, 3)
        engine.execute("INSERT INTO _cairn_runs VALUES (?, 'enrich', now() - to_microseconds(?::BIGINT), now(), "
                       "'committed', ?)",
                       [run_id, int(summary.seconds * 1e6), json.dumps(summary.to_dict(), default=str)])
        cat.refresh_views(list(ENRICH_TABLES))
    for o in old:
        (ws.lake / o).unlink(missing_ok=True)


def _paths_table(files: list[str], run_id: str) -> pa.Table:
    return pa.table({"path": pa.array(files, pa.string()), "run_id": pa.array([run_id] * len(files), pa.string())})
