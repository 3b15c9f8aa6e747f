"""The alert model and the ``alerts`` table.

An alert is what a rule raises for one dedup key in one window. Storage (in the catalog database,
so that updates and status changes are transactional):

- ``_cairn_alerts``: one row per alert, exposed as the view ``alerts`` (columns :data:`ALERT_COLUMNS`);
- ``_cairn_alert_events``: the hit ledger, one row per (rule, event) ever matched, with the alert it
  belongs to. ``(rule_id, event_uid)`` is unique (``cairn detect`` inserts only pairs not there
  yet; alert rows are replaced by id in one transaction): an event is counted by a rule at most once,
  whatever is re-read, which is what makes ``cairn detect`` never alert twice.

Python: :class:`Alert` (``to_dict()`` is what actions receive), :func:`list_alerts`,
:func:`resolve_alert` / :func:`get_alert`, :func:`alert_events`, :func:`set_status`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import ConfigError, InputError
from cairn.lake.schema import Column, TableSpec

SEVERITIES = ("informational", "low", "medium", "high", "critical")
"""Alert severities; ``severity_id`` is the OCSF id (1 informational ... 5 critical)."""
SEVERITY_ID = {s: i + 1 for i, s in enumerate(SEVERITIES)}
STATUSES = ("new", "delivered")
"""Statuses cairn sets: ``new`` when created, ``delivered`` by actions (:func:`set_status` may set others)."""
MIN_PREFIX = 6
"""Shortest alert id prefix :func:`resolve_alert` accepts (``cairn alerts`` shows 12 characters)."""

ALERT_COLUMNS = (
    Column("alert_id", "VARCHAR", "Stable hash of rule_id, dedup key and window"),
    Column("rule_id", "VARCHAR", "Rule that raised it (Sigma id, native rule id, or cairn.intel_match)"),
    Column("rule_title", "VARCHAR", "Title of the rule"),
    Column("title", "VARCHAR", "The rule's title template rendered for the alert's first event"),
    Column("severity", "VARCHAR", "informational, low, medium, high or critical"),
    Column("severity_id", "INTEGER", "OCSF severity id 1-5"),
    Column("first_seen", "TIMESTAMPTZ", "Time of the first matching event"),
    Column("last_seen", "TIMESTAMPTZ", "Time of the last matching event"),
    Column("event_count", "BIGINT", "Matching events counted into the alert"),
    Column("event_uids", "VARCHAR[]", "event_uid of the matching events (the first 100 by time)"),
    Column("source", "VARCHAR", "Lake table of the events"),
    Column("identity", "VARCHAR", "Who acted (principal ARN for CloudTrail)"),
    Column("resource", "VARCHAR", "What was acted on"),
    Column("ips", "VARCHAR[]", "IP addresses involved"),
    Column("account_id", "VARCHAR", "AWS account"),
    Column("dedup_key", "VARCHAR", "Values of the rule's dedup fields, joined with '|'"),
    Column("max_score_id", "INTEGER", "Highest intel verdict (OCSF 0-10) of the events' observables"),
    Column("enrichment_summary", "VARCHAR", "JSON: verdicts, owners and context of the events' observables"),
    Column("created_at", "TIMESTAMPTZ", "When the alert was raised"),
    Column("updated_at", "TIMESTAMPTZ", "When it last changed"),
    Column("status", "VARCHAR", "new, delivered, ... (set by actions)"),
    Column("tags", "VARCHAR[]", "The rule's tags (ATT&CK tactics and techniques, e.g. attack.persistence)"),
)

ALERTS = TableSpec(
    name="alerts",
    doc="Alerts raised by `cairn detect` (Sigma, native and intel-match rules), one row per `alert_id`. "
        "A view over the catalog table `_cairn_alerts` (alerts are updated in place: last_seen, event_count, "
        "status); every matched event is in `_cairn_alert_events`. See docs/detection.md.",
    columns=ALERT_COLUMNS,
    key_column="",
    time_column="first_seen",
    view=lambda cat: alerts_view_sql(cat.engine),
)

_COLS_DDL = ",\n    ".join(f"{c.name} {c.type}" for c in ALERT_COLUMNS)
ALERTS_DDL = f"""
CREATE TABLE IF NOT EXISTS _cairn_alerts (
    {_COLS_DDL}
);
CREATE TABLE IF NOT EXISTS _cairn_alert_events (
    rule_id VARCHAR NOT NULL,
    event_uid VARCHAR NOT NULL,
    source VARCHAR,
    event_time TIMESTAMPTZ,
    alert_id VARCHAR NOT NULL,
    title VARCHAR,
    identity VARCHAR,
    resource VARCHAR,
    ips VARCHAR[],
    account_id VARCHAR,
    dedup_key VARCHAR,
    run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS _cairn_detect_checkpoints (
    rule_id VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
)
"""


def ensure_alert_tables(engine: DuckDBEngine) -> None:
    """Create the alert tables (idempotent)."""
    for stmt in ALERTS_DDL.split(";"):
        if stmt.strip():
            engine.execute(stmt)
    # added after the first release: catalogs created before get the column (last, as in ALERT_COLUMNS)
    engine.execute("ALTER TABLE _cairn_alerts ADD COLUMN IF NOT EXISTS tags VARCHAR[]")


def alerts_view_sql(engine: DuckDBEngine) -> str:
    """Body of the ``alerts`` view (creates the storage tables first)."""
    ensure_alert_tables(engine)
    return f"SELECT {', '.join(c.name for c in ALERT_COLUMNS)} FROM _cairn_alerts"


@dataclass
class Alert:
    """One alert (the fields of the ``alerts`` table)."""

    alert_id: str
    rule_id: str
    rule_title: str
    title: str
    severity: str
    severity_id: int
    first_seen: datetime | None
    last_seen: datetime | None
    event_count: int
    event_uids: list[str] = field(default_factory=list)
    source: str | None = None
    identity: str | None = None
    resource: str | None = None
    ips: list[str] = field(default_factory=list)
    account_id: str | None = None
    dedup_key: str | None = None
    max_score_id: int | None = None
    enrichment_summary: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status: str = "new"
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (times as ISO 8601 strings, lists as lists)."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        return out

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Alert:
        """Build from a mapping with the table's columns (ISO strings accepted for times)."""
        names = {f.name for f in fields(cls)}
        values = {k: row[k] for k in names if k in row}
        for k in ("first_seen", "last_seen", "created_at", "updated_at"):
            if isinstance(values.get(k), str):
                values[k] = datetime.fromisoformat(values[k])
        for k in ("event_uids", "ips", "tags"):
            values[k] = list(values.get(k) or [])
        values["event_count"] = int(values.get("event_count") or 0)
        return cls(**values)

    def enrichment(self) -> dict[str, Any]:
        """``enrichment_summary`` parsed (empty when none)."""
        return json.loads(self.enrichment_summary) if self.enrichment_summary else {}


def _dicts(engine: DuckDBEngine, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    table = engine.arrow(sql, list(params) if params else None)
    return table.to_pylist()


def list_alerts(engine: DuckDBEngine, *, severity: Sequence[str] = (), rules: Sequence[str] = (),
                since: str | datetime | None = None, status: Sequence[str] = (),
                limit: int | None = None) -> list[Alert]:
    """Alerts, newest ``last_seen`` first, filtered by exact ``severity`` names (see
    :func:`severities_at_least` for a floor), rule ids and status; ``since`` (a time, or text for
    :func:`cairn.enrich.api.parse_time`) bounds ``last_seen``; ``limit`` 0 or None means all."""
    from cairn.timeparse import parse_time

    since = parse_time(since, option="--since")
    if limit is not None and limit < 0:
        raise ConfigError(f"--limit: must be 0 (all) or more, got {limit}")
    ensure_alert_tables(engine)
    where, params = [], []
    if status:
        allowed = [*STATUSES, *sorted({r[0] for r in engine.rows("SELECT DISTINCT status FROM _cairn_alerts "
                                                                  "WHERE status IS NOT NULL")} - set(STATUSES))]
        bad_status = [v for v in status if v not in allowed]
        if bad_status:
            raise ConfigError(f"--status: unknown status {bad_status[0]!r}; use one of {', '.join(allowed)}")
    for col, values in (("severity", severity), ("rule_id", rules), ("status", status)):
        if values:
            bad = [v for v in values if col == "severity" and v not in SEVERITIES]
            if bad:
                raise ConfigError(f"unknown severity {bad[0]!r}; use one of {', '.join(SEVERITIES)}")
            where.append(f"{col} IN ({', '.join('?' for _ in values)})")
            params += list(values)
    if since is not None:
        where.append("last_seen >= CAST(? AS TIMESTAMPTZ)")
        params.append(since)
    sql = "SELECT * FROM _cairn_alerts" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY last_seen DESC, alert_id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [Alert.from_row(r) for r in _dicts(engine, sql, params)]


def severities_at_least(name: str) -> list[str]:
    """Severity names at or above ``name``."""
    if name not in SEVERITIES:
        raise ConfigError(f"unknown severity {name!r}; use one of {', '.join(SEVERITIES)}")
    return list(SEVERITIES[SEVERITIES.index(name):])


def resolve_alert_id(engine: DuckDBEngine, alert_id: str, *, relation: str = "_cairn_alerts") -> str:
    """The full id of the alert in ``relation`` (a trusted table/view name) with this id, or with this unique
    prefix of at least :data:`MIN_PREFIX` characters (``cairn alerts`` shows 12); :class:`InputError` saying
    why otherwise (unknown, too short, ambiguous)."""
    text = alert_id.strip()
    if engine.scalar(f"SELECT count(*) FROM {relation} WHERE alert_id = ?", [text]):
        return text
    hint = "list them with: cairn alerts"
    if len(text) < MIN_PREFIX:
        raise InputError(f"no alert {text!r}: give the full id or a prefix of at least {MIN_PREFIX} "
                         f"characters ({hint})")
    ids = [r[0] for r in engine.rows(f"SELECT DISTINCT alert_id FROM {relation} WHERE starts_with(alert_id, ?) "
                                     "ORDER BY alert_id LIMIT 6", [text])]
    if not ids:
        raise InputError(f"no alert {text!r}: no alert id is or starts with it ({hint})")
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise InputError(f"alert id prefix {text!r} is ambiguous: it matches {shown}; give more characters")
    return ids[0]


def resolve_alert(engine: DuckDBEngine, alert_id: str) -> Alert:
    """The alert with this id or unique id prefix (see :func:`resolve_alert_id`)."""
    ensure_alert_tables(engine)
    full_id = resolve_alert_id(engine, alert_id)
    return Alert.from_row(_dicts(engine, "SELECT * FROM _cairn_alerts WHERE alert_id = ?", [full_id])[0])


def get_alert(engine: DuckDBEngine, alert_id: str) -> Alert | None:
    """One alert by id or unique prefix (see :func:`resolve_alert`); None when there is no such alert."""
    try:
        return resolve_alert(engine, alert_id)
    except InputError:
        return None


def alert_events(engine: DuckDBEngine, alert: Alert, *, limit: int = 100) -> list[dict[str, Any]]:
    """The alert's events from the ledger (first ``limit`` by time); ``details`` holds the key columns of
    the event's lake row (event name, source, user agent, ... from the table's Sigma profile)."""
    ensure_alert_tables(engine)
    rows = _dicts(engine, "SELECT event_uid, source, event_time, title, identity, resource, ips, account_id "
                          "FROM _cairn_alert_events WHERE alert_id = ? ORDER BY event_time, event_uid LIMIT ?",
                  [alert.alert_id, limit])
    details = _event_details(engine, alert.source, [r["event_uid"] for r in rows])
    for r in rows:
        r["details"] = details.get(r["event_uid"])
    return rows


def _event_details(engine: DuckDBEngine, source: str | None, uids: list[str]) -> dict[str, dict[str, Any]]:
    from cairn.detect.sigma.profiles import PROFILES

    profile = PROFILES.get(source or "")
    if profile is None or not uids:
        return {}
    cols = ", ".join(f'"{c}"' for c in profile.entity_columns if c != "event_uid")
    engine.register("_alert_uids", pa.table({"event_uid": pa.array(uids, pa.string())}))
    try:
        got = engine.arrow(f'SELECT event_uid, {cols} FROM "{profile.table}" '
                           "WHERE event_uid IN (SELECT event_uid FROM _alert_uids)").to_pylist()
    finally:
        engine.unregister("_alert_uids")
    return {r.pop("event_uid"): r for r in got}


def set_status(engine: DuckDBEngine, alert_ids: Sequence[str], status: str) -> int:
    """Set ``status`` (and ``updated_at``) of alerts; returns how many exist."""
    ensure_alert_tables(engine)
    if not alert_ids:
        return 0
    marks = ", ".join("?" for _ in alert_ids)
    n = engine.scalar(f"SELECT count(*) FROM _cairn_alerts WHERE alert_id IN ({marks})", list(alert_ids))
    engine.execute(f"UPDATE _cairn_alerts SET status = ?, updated_at = now() WHERE alert_id IN ({marks})",
                   [status, *alert_ids])
    return int(n or 0)
