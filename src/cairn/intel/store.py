"""The indicator store: one feed version per load, diffed against the previous one.

A load streams the parser's chunks in batches of about :data:`BATCH_ROWS` rows: each
batch (Arrow tables scanned in place, no copy into the engine) is normalised in SQL
(:mod:`cairn.intel.normsql`) with the sanity checks (:mod:`cairn.intel.sanity`) and
written to a staged Parquet part, so memory is bounded by the batch, not the feed.
Then rows with the same ``(type, value, port)`` (the ``indicator_uid``) are merged:
only keys seen more than once (found by a 64-bit hash of the key; a collision only
sends a row through the merge) go through the aggregating merge, the others are
projected as they are. The version's indicators and rejects are written sorted; one
catalog transaction then lists the files, makes the version *current* for its
source, records its counts in ``_intel_feed_versions`` and refreshes the views; a load
that dies leaves only unlisted files, which the next writer sweeps. Identical content
(same content hash and load settings) is a no-op reported as ``unchanged``.

Loads run under the engine memory limit ``[intel] memory_limit`` (default
:data:`DEFAULT_MEMORY_LIMIT`; ``""`` keeps the engine's own), spilling to the
workspace's ``tmp/`` folder; the engine's setting is restored afterwards.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cairn.config import Config
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import ConfigError, EngineError, InputError
from cairn.intel import normsql
from cairn.intel.feed_tables import FEED_TABLES, INTEL_INDICATORS, INTEL_REJECTS, VERSIONS_DDL
from cairn.intel.formats import Format, ParseContext
from cairn.intel.formats.csv_mapped import SEVERITIES, TLPS, tlp_name
from cairn.intel.inputs import FeedInput
from cairn.intel.model import PARSED_SCHEMA, REJECT_SCHEMA, Reject
from cairn.intel.normalize import RULES_VERSION, Normalized
from cairn.intel.sanity import SanityPolicy, check_ip
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace

SOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
Progress = Callable[[str, int], None]

BATCH_ROWS = 400_000
"""Parsed rows normalised together (Python holds at most one batch of Arrow rows)."""
DEFAULT_MEMORY_LIMIT = "1GB"
"""Engine memory limit of feed loads when ``[intel] memory_limit`` is not set."""


def intel_memory_limit(cfg: Config) -> str:
    """``[intel] memory_limit``: the engine memory limit of feed loads (``""``: the engine's own)."""
    intel = cfg.extra.get("intel", {}) or {}
    value = intel.get("memory_limit", DEFAULT_MEMORY_LIMIT) if isinstance(intel, dict) else DEFAULT_MEMORY_LIMIT
    if not isinstance(value, str):
        raise ConfigError(f"[intel] memory_limit must be a string such as \"1GB\", got {value!r}")
    return value.strip()


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


SETTING_LIMITS = {"max_prefix_v4": 32, "max_prefix_v6": 128}


def check_settings(s: LoadSettings, name: Callable[[str], str] = str) -> LoadSettings:
    """``s`` with TLP and severity in canonical form (``TLP:WHITE`` -> ``clear``, ``High`` -> ``high``),
    or a :class:`ConfigError` naming the setting (``name(field)``: ``--confidence``, ``[intel.feeds.x]
    confidence``, ...) and why. Confidence 0-100; ages and half-lives finite and >= 0 (0: never);
    TLP 2.0 names (``white`` is read as ``clear``); severity one of :data:`SEVERITIES`."""
    if s.confidence is not None and not 0 <= s.confidence <= 100:
        raise ConfigError(f"{name('confidence')} must be 0-100, got {s.confidence}")
    for key in ("max_age_days", "decay_half_life_days"):
        v = getattr(s, key)
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"{name(key)} must be a number of days >= 0 (0: never), got {v}")
    for key, top in SETTING_LIMITS.items():
        v = getattr(s, key)
        if not 0 <= v <= top:
            raise ConfigError(f"{name(key)} must be 0-{top}, got {v}")
    tlp = tlp_name(s.tlp) if s.tlp else None
    if s.tlp and tlp is None:
        raise ConfigError(f"{name('tlp')} must be one of {', '.join(TLPS)} (TLP 2.0; white = clear), got {s.tlp!r}")
    severity = s.severity.strip().lower() if s.severity else None
    if severity and severity not in SEVERITIES:
        raise ConfigError(f"{name('severity')} must be one of {', '.join(SEVERITIES)}, got {s.severity!r}")
    threat_type = s.threat_type.strip() if s.threat_type else None
    return replace(s, tlp=tlp, severity=severity or None, threat_type=threat_type or None)


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
    """Entries the parser read as indicators: rows it produced plus entries it could not read.
    ``parsed = loaded + duplicates + rejected + sanity_dropped``; ``unsupported`` is counted apart
    (an entry can give rows and unsupported parts at once, e.g. a STIX pattern)."""
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    """Entries the parser could not read plus values the normaliser refused."""
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

    def __init__(self, ws: Workspace, engine: DuckDBEngine, *, memory_limit: str | None = None) -> None:
        self.ws = ws
        self.engine = engine
        self.memory_limit = intel_memory_limit(ws.config) if memory_limit is None else memory_limit
        """Engine memory limit while loading (``""``: leave the engine's setting alone)."""
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
        settings = check_settings(settings)
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
                with self._load_settings():
                    parts = self._stage(inp, fmt, ctx, report, settings, run_dir, progress)
                    self._refuse_non_feed(inp, fmt, report, run_dir)
                    self._merge(parts, run_dir, report, settings, source, version)
                    self._diff(cur, report, run_dir)
                report.meta = dict(ctx.meta)
                report.seconds = round(time.monotonic() - started, 3)
                self._commit(run_dir, report, settings, settings_hash, etag, last_modified)
            finally:
                shutil.rmtree(run_dir, ignore_errors=True)
                for t in ("_intel_norm", "_intel_dups"):
                    self.engine.execute(f"DROP TABLE IF EXISTS {t}")
                self.engine.execute("DROP VIEW IF EXISTS _intel_normed")
        return report

    def _refuse_non_feed(self, inp: FeedInput, fmt: Format, report: LoadReport, run_dir: Path) -> None:
        """Fail when the input holds entries but none of them is an indicator of ``fmt`` (every entry
        rejected, nothing unsupported or refused by sanity checks): such a load would replace the
        current version by an empty one."""
        valid = report.parsed - report.rejected - report.sanity_dropped
        if valid or not report.rejected or report.unsupported or report.sanity_dropped:
            return
        parts = sorted((run_dir / "parts").glob("rej-*.parquet"))
        first = self.engine.rows(
            f"SELECT locator, reason FROM read_parquet([{', '.join(_q(p) for p in parts)}]) "
            f"ORDER BY locator LIMIT 3") if parts else []
        examples = "; ".join(f"{loc}: {reason}" for loc, reason in first)
        n = report.rejected
        raise InputError(
            f"not a {fmt.name} feed: {'its only entry was' if n == 1 else f'all {n:,} entries were'} "
            f"rejected ({examples}); "
            f"nothing was stored and the current version of {report.source} is kept; check the input or "
            f"pass --format",
            origin=inp.origin)

    @contextmanager
    def _load_settings(self) -> Iterator[None]:
        """The intel memory limit, spilling to the workspace's tmp/, no insertion order; restored after."""
        e = self.engine
        saved = {k: str(e.scalar(f"SELECT current_setting('{k}')"))
                 for k in ("memory_limit", "preserve_insertion_order", "temp_directory")}
        if self.memory_limit:
            try:
                e.execute(f"SET memory_limit = {normsql.lit(self.memory_limit)}")
            except EngineError as exc:
                raise ConfigError(f"[intel] memory_limit {self.memory_limit!r} is not a memory size: {exc}") from exc
        tmp = self.ws.root / "tmp"
        if saved["temp_directory"] != str(tmp):
            try:  # the engine refuses to move a temp folder it already uses: then that one is kept
                tmp.mkdir(parents=True, exist_ok=True)
                e.execute(f"SET temp_directory = {_q(tmp)}")
            except EngineError:
                pass
        e.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            e.execute(f"SET preserve_insertion_order = {saved['preserve_insertion_order']}")
            if saved["temp_directory"] != str(tmp):
                try:
                    e.execute(f"SET temp_directory = {_q(saved['temp_directory'])}")
                except EngineError:
                    pass
            self._restore_memory_limit(saved["memory_limit"])

    def _restore_memory_limit(self, before: str) -> None:
        """Put back the limit the engine showed as ``before``. The engine shows limits cut to one
        decimal, so the exact values it may have come from are tried first (the engine default,
        ``[ingest] memory_limit``), else the middle of the shown interval (stable over many loads)."""
        e = self.engine

        def shown() -> str:
            return str(e.scalar("SELECT current_setting('memory_limit')"))

        e.execute("RESET memory_limit")
        if shown() == before:
            return
        candidates = [self.ws.config.ingest.memory_limit] if self.ws.config.ingest.memory_limit else []
        m = re.fullmatch(r"([0-9.]+) ?([A-Za-z]+)", before.strip())
        if m:
            candidates.append(f"{float(m[1]) + 0.05:.2f} {m[2]}" if "." in m[1] else before)
        for candidate in candidates:
            try:
                e.execute(f"SET memory_limit = {normsql.lit(candidate)}")
            except EngineError:
                continue
            if shown() == before:
                return

    def _stage(self, inp: FeedInput, fmt: Format, ctx: ParseContext, report: LoadReport, s: LoadSettings,
               run_dir: Path, progress: Progress | None) -> list[Path]:
        """Parser chunks -> normalised Parquet parts, one per batch of about BATCH_ROWS rows.

        Returns the parts of valid rows; rejects go to ``rej-*.parquet`` parts next to them."""
        policy = SanityPolicy(s.internal, s.max_prefix_v4, s.max_prefix_v6)

        def hook(r: Normalized) -> str | None:
            return check_ip(r.ip_version or 4, r.prefix_len or 0, r.range_start or b"", r.range_end or b"", policy)

        parts_dir = run_dir / "parts"
        parts_dir.mkdir()
        parts: list[Path] = []
        pending: list[pa.Table] = []
        pending_rows = row = 0
        rej_writer: pq.ParquetWriter | None = None
        try:
            for chunk in fmt.parse(inp, ctx):
                n = chunk.indicators.num_rows
                if n:
                    pending.append(chunk.indicators.append_column(
                        "_row", pa.array(range(row, row + n), pa.int64())))
                    pending_rows += n
                row += n
                rej = [("parse", r) for r in chunk.rejects] + [("unsupported", r) for r in chunk.unsupported]
                if rej:
                    if rej_writer is None:
                        rej_writer = pq.ParquetWriter(parts_dir / "rej-parse.parquet", REJECT_SCHEMA)
                    rej_writer.write_table(_reject_table(rej))
                report.parsed += n + len(chunk.rejects)
                report.rejected += len(chunk.rejects)
                report.unsupported += len(chunk.unsupported)
                if progress:
                    progress("parse", n + len(rej))
                if pending_rows >= BATCH_ROWS:
                    parts.append(self._normalise_batch(pending, len(parts), parts_dir, report, hook))
                    pending, pending_rows = [], 0
            if pending or not parts:
                parts.append(self._normalise_batch(pending, len(parts), parts_dir, report, hook))
        finally:
            if rej_writer is not None:
                rej_writer.close()
        return parts

    def _normalise_batch(self, tables: list[pa.Table], idx: int, parts_dir: Path, report: LoadReport,
                         hook: Callable[[Normalized], str | None]) -> Path:
        """Normalise one batch of parsed rows; write its valid rows and its rejects as Parquet parts."""
        e = self.engine
        batch = pa.concat_tables(tables) if tables else _PARSED_ROWS.empty_table()
        tables.clear()
        e.register("_intel_batch", batch)
        try:
            normsql.normalize_table(e, "_intel_batch", ip_hook=hook)
        finally:
            e.unregister("_intel_batch")
            del batch
        rejected, sanity, cidr = e.rows(
            "SELECT count(*) FILTER (WHERE reason IS NOT NULL AND note IS DISTINCT FROM 'sanity'), "
            "count(*) FILTER (WHERE note = 'sanity'), count(*) FILTER (WHERE note = 'cidr_host_bits_cleared') "
            "FROM _intel_norm")[0]
        report.rejected += rejected
        report.sanity_dropped += sanity
        report.cidr_canonicalised += cidr
        part = parts_dir / f"norm-{idx:05d}.parquet"
        e.execute(f"COPY (SELECT {_NORM_COLUMNS}, hash(type, value, port) AS _h FROM _intel_norm "
                  f"WHERE reason IS NULL) TO {_q(part)} (FORMAT parquet, COMPRESSION lz4_raw)")
        if rejected or sanity:
            e.execute(
                f"COPY (SELECT CASE WHEN note = 'sanity' THEN 'sanity' ELSE 'normalize' END AS kind, locator, "
                f"reason, _raw AS raw FROM _intel_norm WHERE reason IS NOT NULL) "
                f"TO {_q(parts_dir / f'rej-{idx:05d}.parquet')} (FORMAT parquet, COMPRESSION lz4_raw)")
        e.execute("DROP TABLE IF EXISTS _intel_norm")
        return part

    def _merge(self, parts: list[Path], run_dir: Path, report: LoadReport, s: LoadSettings, source: str,
               version: str) -> None:
        """Merge rows of the same indicator across all parts; write the version's two files."""
        e = self.engine
        listing = ", ".join(_q(p) for p in parts)
        e.execute(f"CREATE OR REPLACE TEMP VIEW _intel_normed AS SELECT * FROM read_parquet([{listing}])")
        e.execute("CREATE OR REPLACE TEMP TABLE _intel_dups AS "
                  "SELECT _h FROM _intel_normed GROUP BY _h HAVING count(*) > 1")
        report.loaded_at = loaded_at = _now()
        params = {"source": source, "loaded_at": loaded_at, "confidence": s.confidence,
                  "severity": s.severity, "threat_type": s.threat_type, "tlp": s.tlp}
        part = f"source={source}/feed_version={version}"
        for spec in (INTEL_INDICATORS, INTEL_REJECTS):
            (run_dir / "lake" / spec.name / part).mkdir(parents=True)
        out = run_dir / "lake" / INTEL_INDICATORS.name / part / "part-0.parquet"
        cols = ", ".join(INTEL_INDICATORS.file_columns())
        report.loaded = int(e.scalar(
            f"COPY (SELECT {cols} FROM ({_SINGLE_SQL} UNION ALL {_MERGE_SQL}) ORDER BY type, value, port) "
            f"TO {_q(out)} (FORMAT parquet, COMPRESSION zstd)", params) or 0)
        # parsed counts every row and every parse reject, rejected the parse and normalise rejects: what
        # is left is the valid rows, of which those not loaded were merged into another.
        report.duplicates = report.parsed - report.rejected - report.sanity_dropped - report.loaded
        if report.duplicates < 0:
            raise EngineError(f"load accounting is off: parsed {report.parsed} < loaded {report.loaded} + rejected "
                              f"{report.rejected} + sanity {report.sanity_dropped}")
        rej_parts = sorted((run_dir / "parts").glob("rej-*.parquet"))
        rej_out = run_dir / "lake" / INTEL_REJECTS.name / part / "part-0.parquet"
        rejects = (f"SELECT kind, locator, reason, raw FROM read_parquet([{', '.join(_q(p) for p in rej_parts)}])"
                   if rej_parts else "SELECT kind, locator, reason, raw FROM (VALUES ('', '', '', '')) "
                                     "t(kind, locator, reason, raw) WHERE false")
        e.execute(f"COPY (SELECT kind, locator, reason, raw, CAST(? AS TIMESTAMPTZ) AS rejected_at FROM ({rejects}) "
                  f"ORDER BY kind, locator) TO {_q(rej_out)} (FORMAT parquet, COMPRESSION zstd)", [loaded_at])
        report.reasons = {
            f"{k}: {r}": int(n) for k, r, n in e.rows(
                f"SELECT kind, reason, count(*) FROM read_parquet({_q(rej_out)}) "
                f"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 25")
        }
        e.execute("DROP TABLE IF EXISTS _intel_dups")
        e.execute("DROP VIEW IF EXISTS _intel_normed")

    def _diff(self, cur: dict[str, Any] | None, report: LoadReport, run_dir: Path) -> None:
        files = [] if cur is None else [
            str(self.ws.lake / r[0]) for r in self.engine.rows(
                "SELECT path FROM _cairn_files WHERE table_name = 'intel_indicators' AND run_id = ?",
                [cur["feed_version"]])
        ]
        new = sorted((run_dir / "lake" / INTEL_INDICATORS.name).rglob("*.parquet"))
        old = (f"SELECT indicator_uid AS uid FROM read_parquet([{', '.join(_q(f) for f in files)}])"
               if files else "SELECT CAST(NULL AS VARCHAR) AS uid WHERE false")
        added, removed, same = self.engine.rows(
            f"SELECT count(*) FILTER (WHERE o.uid IS NULL), count(*) FILTER (WHERE n.uid IS NULL), "
            f"count(*) FILTER (WHERE n.uid IS NOT NULL AND o.uid IS NOT NULL) "
            f"FROM (SELECT indicator_uid AS uid FROM read_parquet([{', '.join(_q(f) for f in new)}])) n "
            f"FULL OUTER JOIN ({old}) o ON n.uid = o.uid")[0]
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


_PARSED_ROWS = PARSED_SCHEMA.append(pa.field("_row", pa.int64()))
_NORM_COLUMNS = (
    "type, value, hash_type, range_start, range_end, prefix_len, ip_version, port, first_seen, last_seen, "
    "valid_from, valid_until, confidence, severity, threat_type, malware_family, tags, reference, tlp, detect, "
    "locator, _row"
)
_UID = "sha256(concat_ws(chr(31), $source, type, value, coalesce(CAST(port AS VARCHAR), '')))"
_SEVERITY_RANK = ("CASE severity WHEN 'critical' THEN 5 WHEN 'high' THEN 4 WHEN 'medium' THEN 3 "
                  "WHEN 'low' THEN 2 WHEN 'informational' THEN 1 END")
_TLP_RANK = "CASE tlp WHEN 'red' THEN 5 WHEN 'amber+strict' THEN 4 WHEN 'amber' THEN 3 WHEN 'green' THEN 2 WHEN 'clear' THEN 1 END"

# Rows with the same (type, value, port) in one load are merged (docs/intel.md): earliest first_seen /
# valid_from, latest last_seen, no valid_until if any row has none, highest confidence / severity, most
# restrictive TLP, union of families and tags, first threat type / reference / locator in feed order,
# detect if any row detects. Only keys whose hash occurs more than once (_intel_dups) are aggregated.
_MERGE_SQL = f"""
SELECT {_UID} AS indicator_uid,
  type, value, any_value(hash_type) AS hash_type, any_value(range_start) AS range_start,
  any_value(range_end) AS range_end, any_value(prefix_len) AS prefix_len, any_value(ip_version) AS ip_version,
  port, min(first_seen) AS first_seen, max(last_seen) AS last_seen, min(valid_from) AS valid_from,
  CASE WHEN bool_or(valid_until IS NULL) THEN NULL ELSE max(valid_until) END AS valid_until,
  coalesce(max(confidence), CAST($confidence AS INTEGER)) AS confidence,
  coalesce(arg_max(severity, {_SEVERITY_RANK}) FILTER (WHERE severity IS NOT NULL), $severity) AS severity,
  coalesce(arg_min(threat_type, _row) FILTER (WHERE threat_type IS NOT NULL), $threat_type) AS threat_type,
  nullif(list_sort(list_distinct(flatten(list(malware_family) FILTER (WHERE malware_family IS NOT NULL)))), [])
      AS malware_family,
  nullif(list_sort(list_distinct(flatten(list(tags) FILTER (WHERE tags IS NOT NULL)))), []) AS tags,
  arg_min(reference, _row) FILTER (WHERE reference IS NOT NULL) AS reference,
  coalesce(arg_max(tlp, {_TLP_RANK}) FILTER (WHERE tlp IS NOT NULL), $tlp) AS tlp,
  bool_or(coalesce(detect, true)) AS detect,
  arg_min(locator, _row) AS locator,
  CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM _intel_normed SEMI JOIN _intel_dups USING (_h)
GROUP BY type, value, port
"""

def _one_list(col: str) -> str:
    """``nullif(list_sort(list_distinct(col)), [])`` of one row, skipping the per-row sort for the usual
    list of one non-null element (list_sort sets up a sort per row: 1 s per 1.5M rows)."""
    return (f"CASE WHEN len({col}) = 1 AND {col}[1] IS NOT NULL THEN {col} "
            f"ELSE nullif(list_sort(list_distinct({col})), []) END")


# The same for a key seen once: what the aggregates above give for a group of one row.
_SINGLE_SQL = f"""
SELECT {_UID} AS indicator_uid,
  type, value, hash_type, range_start, range_end, prefix_len, ip_version, port, first_seen, last_seen, valid_from,
  valid_until, coalesce(confidence, CAST($confidence AS INTEGER)) AS confidence,
  coalesce(CASE WHEN {_SEVERITY_RANK} IS NOT NULL THEN severity END, $severity) AS severity,
  coalesce(threat_type, $threat_type) AS threat_type,
  {_one_list("malware_family")} AS malware_family,
  {_one_list("tags")} AS tags,
  reference,
  coalesce(CASE WHEN {_TLP_RANK} IS NOT NULL THEN tlp END, $tlp) AS tlp,
  coalesce(detect, true) AS detect,
  locator,
  CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM _intel_normed ANTI JOIN _intel_dups USING (_h)
"""


def _reject_table(rows: list[tuple[str, Reject]]) -> pa.Table:
    return pa.table({"kind": [k for k, _ in rows], "locator": [r.locator for _, r in rows],
                     "reason": [r.reason for _, r in rows], "raw": [r.raw for _, r in rows]}, schema=REJECT_SCHEMA)


def settings_hash(fmt: Format, ctx: ParseContext, s: LoadSettings) -> str:
    """The hash of what shapes a load's rows (format, columns, options, settings other than the
    lifecycle policy, normalisation rules): a version with the same content and this hash is the same."""
    return _settings_hash(fmt, ctx, check_settings(s))


def _settings_hash(fmt: Format, ctx: ParseContext, s: LoadSettings) -> str:
    shaping = {k: v for k, v in asdict(s).items() if k not in ("max_age_days", "decay_half_life_days")}
    text = json.dumps([fmt.name, dict(ctx.columns), dict(ctx.options), shaping, RULES_VERSION], sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _q(p: Path | str) -> str:
    """A SQL literal for a path cairn created itself."""
    return "'" + str(p).replace("'", "''") + "'"
