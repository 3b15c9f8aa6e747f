"""The triage index: a slim, time-ordered copy of CloudTrail activity plus a per-identity digest.

The lake's CloudTrail files are written per ingest batch, so every file spans most of its day
partition and a time window cannot skip files. Triage reads its own layout instead:

- ``<workspace>/index/triage/part-*.parquet``: the columns triage shows (no ``raw``), sorted by
  ``event_time`` in row groups of :data:`ROW_GROUP` rows; Parquet min/max statistics let a window
  read one or two row groups per part. ``_triage_parts`` lists each part's time range, so parts
  outside a window are not opened at all.
- ``_triage_digest`` (catalog table): one row per principal, day, API, region, source address and
  user agent with counts: the baseline ("never seen before") is answered from it without
  reading weeks of events.
- ``_triage_indexed``: which lake files the index covers; :func:`update_index` adds the lake
  files not covered yet (incremental) and rebuilds when a covered file left the catalog.

All statements run through the engine; file paths come from the catalog, never from users.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import WorkspaceError
from cairn.sources.cloudtrail import signin_failed_sql
from cairn.workspace import Workspace

ROW_GROUP = 16384
#: Row groups per index part file (about 500k events): small footers, and windows open one or two parts.
GROUPS_PER_PART = 32

_DDL = (
    "CREATE TABLE IF NOT EXISTS _triage_indexed (path VARCHAR NOT NULL, part VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _triage_parts (part VARCHAR NOT NULL, rows BIGINT NOT NULL, "
    "min_time TIMESTAMPTZ, max_time TIMESTAMPTZ, built_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)",
    "CREATE TABLE IF NOT EXISTS _triage_format (format INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _triage_digest (principal_arn VARCHAR, day DATE, event_source VARCHAR, "
    "event_name VARCHAR, aws_region VARCHAR, src VARCHAR, src_ip VARCHAR, src_ip_bin BLOB, user_agent VARCHAR, "
    "n BIGINT, first_time TIMESTAMPTZ, last_time TIMESTAMPTZ, part VARCHAR)",
)

INDEX_FORMAT = 2
"""Version of :data:`PROJECTION` (2: a failed sign-in, with no errorCode, counts as an error); parts built
by another version are rebuilt on the next update."""

#: Columns of the index (and of every activity relation triage summarises), from a CloudTrail relation.
PROJECTION = """
SELECT event_uid, event_time, event_source, event_name, event_type, aws_region,
    source_ip_address, src_ip, src_ip_bin, src_ip_kind, user_agent,
    coalesce(error_code, CASE WHEN {signin_failed} THEN 'Failure' END) AS error_code,
    left(error_message, 300) AS error_message, read_only,
    identity_type, principal_id, identity_arn, principal_arn, account_id, access_key_id, user_name,
    invoked_by, session_issuer_arn, session_name, source_identity, identity_store_user_id,
    recipient_account_id, resource_arns,
    CASE WHEN event_source = 'sts.amazonaws.com'
         THEN json_extract_string(response_elements, '$.credentials.accessKeyId') END AS issued_key,
    CASE WHEN event_source = 'sts.amazonaws.com'
         THEN coalesce(json_extract_string(response_elements, '$.assumedRoleUser.arn'),
                       json_extract_string(response_elements, '$.federatedUser.arn')) END AS issued_arn,
    CASE WHEN event_source = 'sts.amazonaws.com'
         THEN json_extract_string(request_parameters, '$.roleArn') END AS issued_role_arn,
    CASE WHEN event_source = 'sts.amazonaws.com'
         THEN coalesce(json_extract_string(request_parameters, '$.roleSessionName'),
                       json_extract_string(request_parameters, '$.name')) END AS issued_session_name,
    CASE WHEN event_source = 'sts.amazonaws.com'
         THEN json_extract_string(request_parameters, '$.sourceIdentity') END AS issued_source_identity,
    list_distinct(list_concat(coalesce(resource_arns, []),
        regexp_extract_all(CAST(request_parameters AS VARCHAR), '":\\s*"([^"]{{2,256}})"', 1))) AS res,
    left(CAST(request_parameters AS VARCHAR), 2000) AS request_parameters
FROM {source}
""".replace("{signin_failed}", signin_failed_sql("event_source", "response_elements"))

INDEX_COLUMNS = (
    "event_uid", "event_time", "event_source", "event_name", "event_type", "aws_region", "source_ip_address",
    "src_ip", "src_ip_bin", "src_ip_kind", "user_agent", "error_code", "error_message", "read_only",
    "identity_type", "principal_id", "identity_arn", "principal_arn", "account_id", "access_key_id", "user_name",
    "invoked_by", "session_issuer_arn", "session_name", "source_identity", "identity_store_user_id",
    "recipient_account_id", "resource_arns", "issued_key", "issued_arn", "issued_role_arn", "issued_session_name",
    "issued_source_identity", "res", "request_parameters",
)

_DIGEST = """
SELECT principal_arn, CAST(event_time AS DATE) AS day, event_source, event_name, aws_region,
       coalesce(src_ip, source_ip_address) AS src, src_ip, src_ip_bin, user_agent,
       count(*) AS n, min(event_time) AS first_time, max(event_time) AS last_time, ? AS part
FROM read_parquet({path})
WHERE principal_arn IS NOT NULL
GROUP BY ALL
"""


def _q(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


@dataclass
class IndexUpdate:
    """What :func:`update_index` did."""

    files_added: int = 0
    rows_added: int = 0
    rebuilt: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {"files_added": self.files_added, "rows_added": self.rows_added, "rebuilt": self.rebuilt,
                "seconds": round(self.seconds, 3)}


def index_dir(ws: Workspace) -> Path:
    """Folder of the index parts."""
    return ws.root / "index" / "triage"


def ensure_tables(engine: DuckDBEngine) -> None:
    """Create the index bookkeeping tables if missing."""
    for stmt in _DDL:
        engine.execute(stmt)


def missing_files(engine: DuckDBEngine) -> tuple[list[str], bool]:
    """Lake CloudTrail files not indexed yet, and whether an indexed file left the catalog."""
    ensure_tables(engine)
    new = [r[0] for r in engine.rows(
        "SELECT path FROM _cairn_files WHERE table_name = 'cloudtrail' "
        "AND path NOT IN (SELECT path FROM _triage_indexed) ORDER BY path")]
    gone = engine.scalar(
        "SELECT count(*) FROM _triage_indexed WHERE path NOT IN "
        "(SELECT path FROM _cairn_files WHERE table_name = 'cloudtrail')")
    return new, bool(gone)


def is_current(engine: DuckDBEngine) -> bool:
    """True when every lake CloudTrail file is indexed, nothing indexed is gone and the parts are of this
    :data:`INDEX_FORMAT`."""
    new, gone = missing_files(engine)
    return not new and not gone and engine.scalar("SELECT max(format) FROM _triage_format") == INDEX_FORMAT


def update_index(engine: DuckDBEngine, ws: Workspace, *, lock: bool = True) -> IndexUpdate:
    """Index the lake CloudTrail files not indexed yet (one new part); rebuild if files were removed."""
    t0 = time.perf_counter()
    out = IndexUpdate()
    if lock:
        with ws.writer_lock():
            _update(engine, ws, out)
    else:
        _update(engine, ws, out)
    out.seconds = time.perf_counter() - t0
    return out


def _update(engine: DuckDBEngine, ws: Workspace, out: IndexUpdate) -> None:
    new, gone = missing_files(engine)
    folder = index_dir(ws)
    stale = engine.scalar("SELECT max(format) FROM _triage_format") != INDEX_FORMAT
    if stale:  # parts built by another projection: rebuild them all
        engine.execute("DELETE FROM _triage_format")
        engine.execute("INSERT INTO _triage_format VALUES (?)", [INDEX_FORMAT])
    if gone or (stale and engine.scalar("SELECT count(*) FROM _triage_indexed")):
        engine.execute("DELETE FROM _triage_indexed")
        engine.execute("DELETE FROM _triage_parts")
        engine.execute("DELETE FROM _triage_digest")
        if folder.exists():
            for p in folder.glob("part-*.parquet"):
                p.unlink()
            for d in folder.glob(".tmp-*"):
                for p in d.glob("*"):
                    p.unlink()
                d.rmdir()
        new, _ = missing_files(engine)
        out.rebuilt = True
    if not new:
        return
    folder.mkdir(parents=True, exist_ok=True)
    run = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    tmp = folder / f".tmp-{run}"
    lake = ws.lake
    groups = engine.rows(
        "SELECT coalesce(partition_value, ''), list(path ORDER BY path) FROM _cairn_files "
        "WHERE table_name = 'cloudtrail' AND list_contains(?::VARCHAR[], path) GROUP BY 1 ORDER BY 1", [new])
    # One sort per lake partition (a day): memory stays that of one day's events, and since days do
    # not overlap, the parts are in time order as a whole.
    for g, (partition, paths) in enumerate(groups):
        listing = ", ".join(_q(lake / p) for p in paths)
        source = f"read_parquet([{listing}], hive_partitioning = true, union_by_name = true)"
        tag = "".join(c for c in partition.split("=")[-1] if c.isalnum() or c == "-") or f"g{g}"
        engine.execute(
            f"COPY ({PROJECTION.format(source=source)} ORDER BY event_time, principal_arn) TO {_q(tmp)} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP}, ROW_GROUPS_PER_FILE {GROUPS_PER_PART}, "
            f"FILENAME_PATTERN 'part-{run}-{tag}-{{i}}', OVERWRITE_OR_IGNORE true)"
        )
    if not tmp.exists() or not any(tmp.glob("*.parquet")):  # the new files hold no events
        if tmp.exists():
            tmp.rmdir()
        engine.execute("INSERT INTO _triage_indexed SELECT unnest(?::VARCHAR[]), ?", [new, run])
        out.files_added = len(new)
        return
    stats = engine.rows(f"SELECT parse_filename(filename), count(*), min(event_time), max(event_time) "
                        f"FROM read_parquet({_q(tmp / '*.parquet')}, filename = true) GROUP BY 1 ORDER BY 1")
    names = [r[0] for r in stats]
    for n in names:
        (tmp / n).rename(folder / n)
    tmp.rmdir()
    try:
        with engine.transaction():
            for n, rows, lo, hi in stats:
                engine.execute("INSERT INTO _triage_parts (part, rows, min_time, max_time) VALUES (?, ?, ?, ?)",
                               [n, rows, lo, hi])
            engine.execute("INSERT INTO _triage_indexed SELECT unnest(?::VARCHAR[]), ?", [new, run])
            parts = ", ".join(_q(folder / n) for n in names)
            engine.execute("INSERT INTO _triage_digest " + _DIGEST.format(path=f"[{parts}]"), [run])
    except Exception:
        for n in names:
            (folder / n).unlink(missing_ok=True)
        raise
    rows = sum(r[1] for r in stats)
    out.files_added = len(new)
    out.rows_added = int(rows)


def parts_overlapping(engine: DuckDBEngine, ws: Workspace, start: datetime, end: datetime) -> list[str]:
    """Absolute paths of the index parts whose time range meets [start, end]."""
    ensure_tables(engine)
    folder = index_dir(ws)
    return [str(folder / r[0]) for r in engine.rows(
        "SELECT part FROM _triage_parts WHERE max_time >= ? AND min_time <= ? ORDER BY part", [start, end])]


def activity_source(engine: DuckDBEngine, ws: Workspace, start: datetime, end: datetime,
                    *, use_index: bool) -> str:
    """A FROM-clause relation with :data:`INDEX_COLUMNS` covering [start, end]: index parts or the lake."""
    if use_index:
        parts = parts_overlapping(engine, ws, start, end)
        if not parts:
            return _empty()
        return f"read_parquet([{', '.join(_q(p) for p in parts)}])"
    return f"({PROJECTION.format(source='cloudtrail')})"


def _empty() -> str:
    return f"({PROJECTION.format(source='cloudtrail')} LIMIT 0)"


def prepare_index(engine: DuckDBEngine, ws: Workspace, *, auto: bool = True) -> tuple[bool, str | None]:
    """Make the index usable: update it when stale (``auto``). Returns (use_index, note).

    Also keeps Parquet footers cached in the connection: an index part's footer (hundreds of row
    groups x 35 columns of statistics) would otherwise be parsed again by every query of a triage."""
    engine.execute("SET parquet_metadata_cache = true")
    ensure_tables(engine)
    if is_current(engine):
        return True, None
    if not auto:
        return False, "the triage index is out of date (run 'cairn triage index'); read the lake directly"
    try:
        update_index(engine, ws)
    except WorkspaceError as exc:
        return False, f"triage index not updated ({exc}); read the lake directly"
    return True, None
