"""The indicator store: one feed version per load, diffed against the previous one.

A load streams the parser's chunks into staged Parquet (bounded memory), normalises
them in SQL (:mod:`cairn.intel.normsql`), applies the sanity checks
(:mod:`cairn.intel.sanity`), merges rows with the same ``indicator_uid`` and writes
the version's indicators and rejects. One catalog transaction then lists the
files, makes the version *current* for its source, records its counts in
``_intel_feed_versions`` and refreshes the views; a load that dies leaves only
unlisted files, which the next writer sweeps. Identical content (same content hash
and load settings) is a no-op reported as ``unchanged``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
from cairn.errors import ConfigError
from cairn.intel import normsql
from cairn.intel.feed_tables import FEED_TABLES, INTEL_INDICATORS, INTEL_REJECTS, VERSIONS_DDL
from cairn.intel.formats import Format, ParseContext
from cairn.intel.inputs import FeedInput
from cairn.intel.model import PARSED_SCHEMA, REJECT_SCHEMA, Reject
from cairn.intel.normalize import Normalized
from cairn.intel.sanity import SanityPolicy, check_ip
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace

SOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class LoadSettings:
    """Per-source settings that shape a load (from ``[intel.feeds.NAME]`` or CLI options)."""

    internal: bool = False
    max_age_days: float = 0.0
    decay_half_life_days: float = 0.0
    confidence: int | None = None
    severity: str | None = None
    threat_type: str | None = None
    tlp: str | None = None
    max_prefix_v4: int = 8
    max_prefix_v6: int = 32


@dataclass
class LoadReport:
    """What one load did."""

    source: str
    status: str = "loaded"
    """loaded | unchanged (same content) | not-modified (HTTP 304)"""
    feed_version: str | None = None
    origin: str = ""
    format: str = ""
    content_hash: str | None = None
    parsed: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    unsupported: int = 0
    sanity_dropped: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    cidr_canonicalised: int = 0
    loaded_at: datetime | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    """``kind: reason`` -> count (most frequent first)."""
    meta: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _now() -> datetime:
    return datetime.now(UTC)


class IntelStore:
    """Feed versions in a workspace."""

    def __init__(self, ws: Workspace, engine: DuckDBEngine) -> None:
        self.ws = ws
        self.engine = engine
        engine.execute(VERSIONS_DDL)
        self.catalog = Catalog(engine, ws.lake)

    # -- queries ------------------------------------------------------------------

    def current(self, source: str) -> dict[str, Any] | None:
        """The current version row of ``source``."""
        rows = self.versions(source, current_only=True)
        return rows[0] if rows else None

    def versions(self, source: str | None = None, *, current_only: bool = False) -> list[dict[str, Any]]:
        """Version rows, newest first."""
        where, params = ["true"], []
        if source:
            where.append("source = ?")
            params.append(source)
        if current_only:
            where.append("is_current")
        t = self.engine.arrow(
            f"SELECT * FROM _intel_feed_versions WHERE {' AND '.join(where)} ORDER BY source, loaded_at DESC",
            params,
        )
        return t.to_pylist()

    def rejects(self, source: str | None = None, feed_version: str | None = None, limit: int = 1000) -> pa.Table:
        """Rows of ``intel_rejects`` (current versions unless ``feed_version`` is given)."""
        where, params = [], []
        if source:
            where.append("r.source = ?")
            params.append(source)
        if feed_version:
            where.append("r.feed_version = ?")
            params.append(feed_version)
        else:
            where.append("r.feed_version IN (SELECT feed_version FROM _intel_feed_versions WHERE is_current)")
        params.append(limit)
        return self.engine.arrow(
            f"SELECT r.source, r.feed_version, r.kind, r.locator, r.reason, r.raw FROM intel_rejects r "
            f"WHERE {' AND '.join(where)} ORDER BY r.source, r.kind, r.reason, r.locator LIMIT ?", params)

    def set_policy(self, source: str, s: LoadSettings) -> None:
        """Apply a source's lifecycle settings to its stored versions (config changed)."""
        self.engine.execute(
            "UPDATE _intel_feed_versions SET max_age_days = ?, decay_half_life_days = ? WHERE source = ? "
            "AND (max_age_days IS DISTINCT FROM ? OR decay_half_life_days IS DISTINCT FROM ?)",
            [s.max_age_days, s.decay_half_life_days, source, s.max_age_days, s.decay_half_life_days],
        )

    def mark_checked(self, source: str, etag: str | None = None, last_modified: str | None = None) -> None:
        """Record that the current version of ``source`` was found unchanged just now."""
        self.engine.execute(
            "UPDATE _intel_feed_versions SET checked_at = ?, etag = coalesce(?, etag), "
            "last_modified = coalesce(?, last_modified) WHERE source = ? AND is_current",
            [_now(), etag, last_modified, source],
        )

    # -- load ---------------------------------------------------------------------

    def load(
        self, inp: FeedInput, source: str, fmt: Format, ctx: ParseContext, settings: LoadSettings,
        *, etag: str | None = None, last_modified: str | None = None, progress: Progress | None = None,
    ) -> LoadReport:
        """Load ``inp`` as a new version of ``source`` (or report it unchanged)."""
        if not SOURCE_NAME.match(source):
            raise ConfigError(f"invalid source name {source!r}: letters, digits, '.', '_', '-'; "
                              "starting with a letter; at most 64 characters")
        started = time.monotonic()
        report = LoadReport(source=source, origin=inp.origin, format=fmt.name)
        with self.ws.writer_lock():
            self.catalog.sweep(self.ws.staging)
            report.content_hash = fmt.fingerprint(inp)
            settings_hash = _settings_hash(fmt, ctx, settings)
            cur = self.current(source)
            if cur and cur["content_hash"] == report.content_hash and cur["settings_hash"] == settings_hash:
                self.mark_checked(source, etag, last_modified)
                self.set_policy(source, settings)
                report.status, report.feed_version = "unchanged", cur["feed_version"]
                report.unchanged = report.loaded = int(cur["loaded"] or 0)
                report.seconds = round(time.monotonic() - started, 3)
                return report
            version = "v" + _now().strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
            report.feed_version = version
            run_dir = self.ws.staging / version
            run_dir.mkdir(parents=True)
            try:
                self._stage(inp, fmt, ctx, report, progress)
                self._normalise(run_dir, report, settings, source, version)
                self._diff(cur, report)
                report.meta = dict(ctx.meta)
                report.seconds = round(time.monotonic() - started, 3)
                self._commit(run_dir, report, settings, settings_hash, etag, last_modified)
            finally:
                shutil.rmtree(run_dir, ignore_errors=True)
                for t in ("_intel_norm", "_intel_final", "_intel_parsed", "_intel_prej"):
                    self.engine.execute(f"DROP TABLE IF EXISTS {t}")
        return report

    def _stage(self, inp: FeedInput, fmt: Format, ctx: ParseContext, report: LoadReport,
               progress: Progress | None) -> None:
        """Parser chunks -> engine temp tables (the engine spills to disk; Python holds one chunk)."""
        e = self.engine
        e.register("_intel_chunk", PARSED_SCHEMA.empty_table().append_column("_row", pa.array([], pa.int64())))
        e.execute("CREATE OR REPLACE TEMP TABLE _intel_parsed AS SELECT * FROM _intel_chunk")
        e.register("_intel_chunk_rej", REJECT_SCHEMA.empty_table())
        e.execute("CREATE OR REPLACE TEMP TABLE _intel_prej AS SELECT * FROM _intel_chunk_rej")
        row = 0
        try:
            for chunk in fmt.parse(inp, ctx):
                n = chunk.indicators.num_rows
                if n:
                    e.register("_intel_chunk", chunk.indicators.append_column(
                        "_row", pa.array(range(row, row + n), pa.int64())))
                    e.execute("INSERT INTO _intel_parsed SELECT * FROM _intel_chunk")
                row += n
                rej = [("parse", r) for r in chunk.rejects] + [("unsupported", r) for r in chunk.unsupported]
                if rej:
                    e.register("_intel_chunk_rej", _reject_table(rej))
                    e.execute("INSERT INTO _intel_prej SELECT * FROM _intel_chunk_rej")
                report.parsed += n
                report.rejected += len(chunk.rejects)
                report.unsupported += len(chunk.unsupported)
                if progress:
                    progress("parse", n + len(rej))
        finally:
            e.unregister("_intel_chunk")
            e.unregister("_intel_chunk_rej")

    def _normalise(self, run_dir: Path, report: LoadReport, s: LoadSettings, source: str, version: str) -> None:
        e = self.engine
        policy = SanityPolicy(s.internal, s.max_prefix_v4, s.max_prefix_v6)

        def hook(r: Normalized) -> str | None:
            return check_ip(r.ip_version or 4, r.prefix_len or 0, r.range_start or b"", r.range_end or b"", policy)

        normsql.normalize_table(e, "_intel_parsed", ip_hook=hook)
        e.execute("DROP TABLE IF EXISTS _intel_parsed")
        report.loaded_at = loaded_at = _now()
        e.execute(_MERGE_SQL, {"source": source, "loaded_at": loaded_at, "confidence": s.confidence,
                               "severity": s.severity, "threat_type": s.threat_type, "tlp": s.tlp})
        counts = e.rows(
            "SELECT count(*) FILTER (WHERE reason IS NOT NULL AND note IS DISTINCT FROM 'sanity'), "
            "count(*) FILTER (WHERE note = 'sanity'), count(*) FILTER (WHERE note = 'cidr_host_bits_cleared'), "
            "(SELECT count(*) FROM _intel_final) FROM _intel_norm")[0]
        report.rejected += counts[0]
        report.sanity_dropped, report.cidr_canonicalised, report.loaded = counts[1], counts[2], counts[3]
        report.duplicates = report.parsed - counts[0] - counts[1] - counts[3]
        part = f"source={source}/feed_version={version}"
        for spec in (INTEL_INDICATORS, INTEL_REJECTS):
            (run_dir / "lake" / spec.name / part).mkdir(parents=True)
        out = run_dir / "lake" / INTEL_INDICATORS.name / part / "part-0.parquet"
        cols = ", ".join(INTEL_INDICATORS.file_columns())
        e.execute(f"COPY (SELECT {cols} FROM _intel_final ORDER BY type, value, port) TO {_q(out)} "
                  f"(FORMAT parquet, COMPRESSION zstd)")
        parse_rej = " UNION ALL SELECT kind, locator, reason, raw FROM _intel_prej"
        e.execute(
            f"COPY (SELECT kind, locator, reason, raw, CAST(? AS TIMESTAMPTZ) AS rejected_at FROM ("
            f"SELECT CASE WHEN note = 'sanity' THEN 'sanity' ELSE 'normalize' END AS kind, locator, reason, "
            f"_raw AS raw FROM _intel_norm WHERE reason IS NOT NULL{parse_rej}) ORDER BY kind, locator) "
            f"TO {_q(run_dir / 'lake' / INTEL_REJECTS.name / part / 'part-0.parquet')} "
            f"(FORMAT parquet, COMPRESSION zstd)", [loaded_at])
        report.reasons = {
            f"{k}: {r}": int(n) for k, r, n in e.rows(
                f"SELECT kind, reason, count(*) FROM read_parquet({_q(run_dir / 'lake' / INTEL_REJECTS.name / part / 'part-0.parquet')}) "
                f"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 25")
        }

    def _diff(self, cur: dict[str, Any] | None, report: LoadReport) -> None:
        files = [] if cur is None else [
            str(self.ws.lake / r[0]) for r in self.engine.rows(
                "SELECT path FROM _cairn_files WHERE table_name = 'intel_indicators' AND run_id = ?",
                [cur["feed_version"]])
        ]
        old = (f"SELECT indicator_uid AS uid FROM read_parquet([{', '.join(_q(f) for f in files)}])"
               if files else "SELECT CAST(NULL AS VARCHAR) AS uid WHERE false")
        added, removed, same = self.engine.rows(
            f"SELECT count(*) FILTER (WHERE o.uid IS NULL), count(*) FILTER (WHERE n.uid IS NULL), "
            f"count(*) FILTER (WHERE n.uid IS NOT NULL AND o.uid IS NOT NULL) "
            f"FROM (SELECT indicator_uid AS uid FROM _intel_final) n FULL OUTER JOIN ({old}) o ON n.uid = o.uid")[0]
        report.added, report.removed, report.unchanged = int(added), int(removed), int(same)

    def _commit(self, run_dir: Path, r: LoadReport, s: LoadSettings, settings_hash: str,
                etag: str | None, last_modified: str | None) -> None:
        staged = sorted((run_dir / "lake").rglob("*.parquet"))
        with self.engine.transaction():
            for path in staged:
                rel = path.relative_to(run_dir / "lake")
                dest = self.ws.lake / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
                self.engine.execute(
                    "INSERT INTO _cairn_files (table_name, path, partition_value, rows, min_time, max_time, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [rel.parts[0], rel.as_posix(), "/".join(rel.parts[1:-1]), pq.read_metadata(dest).num_rows,
                     r.loaded_at, r.loaded_at, r.feed_version])
            self.engine.execute("UPDATE _intel_feed_versions SET is_current = false WHERE source = ? AND is_current",
                                [r.source])
            self.engine.execute(
                "INSERT INTO _intel_feed_versions VALUES (?, ?, true, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?)",
                [r.source, r.feed_version, r.loaded_at, r.loaded_at, r.origin, r.format, r.content_hash,
                 settings_hash, etag, last_modified, r.parsed, r.loaded, r.duplicates, r.rejected, r.unsupported,
                 r.sanity_dropped, r.added, r.removed, r.unchanged, s.internal, s.max_age_days,
                 s.decay_half_life_days, r.seconds, json.dumps({**r.meta, "reasons": r.reasons}, default=str)])
            self.set_policy(r.source, s)
            self.engine.execute(
                "INSERT INTO _cairn_runs VALUES (?, 'intel-load', ?, now(), 'committed', ?)",
                [r.feed_version, r.loaded_at, json.dumps(r.to_dict(), default=str)])
            self.catalog.refresh_views(list(FEED_TABLES))


_MERGE_SQL = """
CREATE OR REPLACE TEMP TABLE _intel_final AS
SELECT sha256(concat_ws(chr(31), $source, type, value, coalesce(CAST(port AS VARCHAR), ''))) AS indicator_uid,
  type, value, any_value(hash_type) AS hash_type, any_value(range_start) AS range_start,
  any_value(range_end) AS range_end, any_value(prefix_len) AS prefix_len, any_value(ip_version) AS ip_version,
  port, min(first_seen) AS first_seen, max(last_seen) AS last_seen, min(valid_from) AS valid_from,
  CASE WHEN bool_or(valid_until IS NULL) THEN NULL ELSE max(valid_until) END AS valid_until,
  coalesce(max(confidence), CAST($confidence AS INTEGER)) AS confidence,
  coalesce(arg_max(severity, CASE severity WHEN 'critical' THEN 5 WHEN 'high' THEN 4 WHEN 'medium' THEN 3
      WHEN 'low' THEN 2 WHEN 'informational' THEN 1 END) FILTER (WHERE severity IS NOT NULL), $severity) AS severity,
  coalesce(arg_min(threat_type, _row) FILTER (WHERE threat_type IS NOT NULL), $threat_type) AS threat_type,
  nullif(list_sort(list_distinct(flatten(list(malware_family) FILTER (WHERE malware_family IS NOT NULL)))), [])
      AS malware_family,
  nullif(list_sort(list_distinct(flatten(list(tags) FILTER (WHERE tags IS NOT NULL)))), []) AS tags,
  arg_min(reference, _row) FILTER (WHERE reference IS NOT NULL) AS reference,
  coalesce(arg_max(tlp, CASE tlp WHEN 'red' THEN 5 WHEN 'amber+strict' THEN 4 WHEN 'amber' THEN 3
      WHEN 'green' THEN 2 WHEN 'clear' THEN 1 END) FILTER (WHERE tlp IS NOT NULL), $tlp) AS tlp,
  bool_or(coalesce(detect, true)) AS detect,
  arg_min(locator, _row) AS locator,
  CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM _intel_norm WHERE reason IS NULL
GROUP BY type, value, port
"""


def _reject_table(rows: list[tuple[str, Reject]]) -> pa.Table:
    return pa.table({"kind": [k for k, _ in rows], "locator": [r.locator for _, r in rows],
                     "reason": [r.reason for _, r in rows], "raw": [r.raw for _, r in rows]}, schema=REJECT_SCHEMA)


def _settings_hash(fmt: Format, ctx: ParseContext, s: LoadSettings) -> str:
    shaping = {k: v for k, v in asdict(s).items() if k not in ("max_age_days", "decay_half_life_days")}
    text = json.dumps([fmt.name, dict(ctx.columns), dict(ctx.options), shaping], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _q(p: Path | str) -> str:
    """A SQL literal for a path cairn created itself."""
    return "'" + str(p).replace("'", "''") + "'"
