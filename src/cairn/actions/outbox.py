"""The outbox: one durable row per (alert, action) in the workspace catalog, so nothing is lost.

``_cairn_outbox`` (exposed without the payload as the view ``outbox``) holds each alert to deliver
to each action, with its state:

The row keeps a copy of the alert as enqueued (``payload``), but a delivery sends the alert as the
``alerts`` table has it when the item is claimed (:mod:`cairn.actions.current`): ``cairn detect`` may
have updated it since; the copy is used only when the alert row is gone.

- ``pending``: due at ``next_attempt_at`` (claimed by pushing it one lease ahead and counting the
  attempt *before* sending, so a crash mid-send retries it after the lease);
- ``delivered``: done, with ``delivered_at`` and the destination's ``receipt``;
- ``failed``: refused for good (a 4xx, invalid input) or out of attempts; kept with ``last_error``
  (secrets scrubbed) until requeued with :func:`requeue`.

``(alert_id, action)`` is the primary key: enqueueing the same alert twice adds nothing, which makes
dispatch idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from cairn.actions.current import current_alerts
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import EngineError
from cairn.lake.schema import Column, TableSpec

STATUSES = ("pending", "delivered", "failed")
LEASE = timedelta(minutes=5)
"""How long a claimed item is hidden from other deliveries (a crash mid-send retries after it)."""

OUTBOX_COLUMNS = (
    Column("alert_id", "VARCHAR", "Alert delivered (alerts.alert_id)"),
    Column("action", "VARCHAR", "Action name ([actions.NAME] in cairn.toml)"),
    Column("destination", "VARCHAR", "Destination type: webhook, slack, sns, email, securityhub, file, stdout, triage"),
    Column("rule_id", "VARCHAR", "Rule of the alert"),
    Column("severity", "VARCHAR", "Severity of the alert"),
    Column("status", "VARCHAR", "pending, delivered or failed"),
    Column("attempts", "INTEGER", "Delivery attempts so far"),
    Column("next_attempt_at", "TIMESTAMPTZ", "When a pending item is due (exponential backoff with jitter)"),
    Column("last_attempt_at", "TIMESTAMPTZ", "When it was last tried"),
    Column("last_error", "VARCHAR", "Error of the last failed attempt (secrets scrubbed)"),
    Column("created_at", "TIMESTAMPTZ", "When it was enqueued"),
    Column("delivered_at", "TIMESTAMPTZ", "When it was delivered"),
    Column("receipt", "VARCHAR", "What the destination answered (message id, finding id, HTTP status)"),
)

OUTBOX_DDL = f"""
CREATE TABLE IF NOT EXISTS _cairn_outbox (
    {", ".join(f"{c.name} {c.type}" for c in OUTBOX_COLUMNS)},
    payload VARCHAR NOT NULL,
    PRIMARY KEY (alert_id, action)
)"""


def ensure_outbox(engine: DuckDBEngine) -> None:
    """Create the outbox table (idempotent)."""
    engine.execute(OUTBOX_DDL)


def outbox_view_sql(engine: DuckDBEngine) -> str:
    """Body of the ``outbox`` view."""
    ensure_outbox(engine)
    return f"SELECT {', '.join(c.name for c in OUTBOX_COLUMNS)} FROM _cairn_outbox"


OUTBOX = TableSpec(
    name="outbox",
    doc="Deliveries of alerts to actions (one row per alert and action): status, attempts, errors",
    columns=OUTBOX_COLUMNS,
    key_column="alert_id",
    time_column="created_at",
    partition_column="",
    view=lambda cat: outbox_view_sql(cat.engine),
)

_NEW = pa.schema([("alert_id", pa.string()), ("action", pa.string()), ("destination", pa.string()),
                  ("rule_id", pa.string()), ("severity", pa.string()), ("payload", pa.string())])


def enqueue(engine: DuckDBEngine, items: Sequence[tuple[Mapping[str, Any], str, str]],
            now: datetime) -> list[tuple[str, str]]:
    """Add ``(alert, action, destination type)`` items as pending and due now; items already in the
    outbox are left as they are. Returns the (alert_id, action) pairs added."""
    ensure_outbox(engine)
    if not items:
        return []
    rows = {
        "alert_id": [str(a["alert_id"]) for a, _, _ in items],
        "action": [n for _, n, _ in items],
        "destination": [t for _, _, t in items],
        "rule_id": [None if a.get("rule_id") is None else str(a.get("rule_id")) for a, _, _ in items],
        "severity": [None if a.get("severity") is None else str(a.get("severity")) for a, _, _ in items],
        "payload": [json.dumps(dict(a), default=str, ensure_ascii=False) for a, _, _ in items],
    }
    engine.register("_outbox_new", pa.table(rows, schema=_NEW))
    try:
        with engine.transaction():
            added = engine.rows(
                """INSERT INTO _cairn_outbox (alert_id, action, destination, rule_id, severity, status, attempts,
                       next_attempt_at, created_at, payload)
                   SELECT DISTINCT ON (alert_id, action) alert_id, action, destination, rule_id, severity,
                          'pending', 0, $now, $now, payload
                   FROM _outbox_new
                   ON CONFLICT DO NOTHING
                   RETURNING alert_id, action""",
                {"now": now},
            )
    finally:
        engine.unregister("_outbox_new")
    return [(str(a), str(n)) for a, n in added]


def claim(engine: DuckDBEngine, action: str, now: datetime, *, force: bool = False,
          limit: int | None = None) -> list[tuple[str, dict[str, Any], int]]:
    """Take the due pending items of ``action`` (all pending ones with ``force``): their attempt is
    counted and they are hidden for :data:`LEASE`. Returns (alert_id, alert, attempts): the alert as the
    alerts table has it now, or the copy stored by :func:`enqueue` when it has no such row."""
    ensure_outbox(engine)
    due = "" if force else "AND next_attempt_at <= $now"
    lim = f"LIMIT {int(limit)}" if limit else ""
    try:
        rows = _claim(engine, due, lim, action, now)
    except EngineError as exc:
        if "conflict" not in str(exc).lower():
            raise
        return []  # another deliverer claimed these rows at the same moment: they are theirs
    now_rows = current_alerts(engine, [str(r[0]) for r in rows])
    return sorted(((r[0], now_rows.get(str(r[0])) or json.loads(r[1]), int(r[2])) for r in rows),
                  key=lambda r: r[0])


def _claim(engine: DuckDBEngine, due: str, lim: str, action: str, now: datetime) -> list[tuple[Any, ...]]:
    return engine.rows(
        f"""UPDATE _cairn_outbox SET attempts = attempts + 1, last_attempt_at = $now, next_attempt_at = $lease
            WHERE status = 'pending' AND action = $action AND alert_id IN (
                SELECT alert_id FROM _cairn_outbox WHERE status = 'pending' AND action = $action {due}
                ORDER BY next_attempt_at, created_at, alert_id {lim})
            RETURNING alert_id, payload, attempts""",
        {"now": now, "lease": now + LEASE, "action": action},
    )


def mark_delivered(engine: DuckDBEngine, action: str, results: Sequence[tuple[str, str | None, datetime]]) -> None:
    """Record successful deliveries (alert_id, receipt, when it was delivered) in one statement."""
    if not results:
        return
    table = pa.table({"alert_id": [a for a, _, _ in results], "receipt": [r for _, r, _ in results],
                      "at": [t for _, _, t in results]},
                     schema=pa.schema([("alert_id", pa.string()), ("receipt", pa.string()),
                                       ("at", pa.timestamp("us", tz="UTC"))]))
    engine.register("_outbox_done", table)
    try:
        engine.execute(
            """UPDATE _cairn_outbox SET status = 'delivered', delivered_at = d.at, last_error = NULL,
                   receipt = d.receipt, next_attempt_at = NULL
               FROM _outbox_done d
               WHERE _cairn_outbox.alert_id = d.alert_id AND _cairn_outbox.action = $action""",
            {"action": action},
        )
    finally:
        engine.unregister("_outbox_done")


def mark_failed(engine: DuckDBEngine, action: str, alert_id: str, error: str, *, retry_at: datetime | None) -> None:
    """Record a failed attempt: pending again at ``retry_at``, or ``failed`` for good when it is None."""
    engine.execute(
        """UPDATE _cairn_outbox SET status = $status, last_error = $error, next_attempt_at = $retry
           WHERE alert_id = $id AND action = $action""",
        {"status": "pending" if retry_at else "failed", "error": error, "retry": retry_at, "id": alert_id,
         "action": action},
    )


def release(engine: DuckDBEngine, action: str, alert_ids: Sequence[str], retry_at: datetime, note: str) -> None:
    """Give claimed items back untried: the attempt is uncounted, due again at ``retry_at``."""
    engine.execute(
        """UPDATE _cairn_outbox SET attempts = attempts - 1, next_attempt_at = $retry, last_error = $note
           WHERE action = $action AND list_contains($ids, alert_id) AND status = 'pending'""",
        {"retry": retry_at, "note": note, "action": action, "ids": list(alert_ids)},
    )


def requeue(engine: DuckDBEngine, now: datetime, *, actions: Sequence[str] = (), alert_ids: Sequence[str] = ()) -> int:
    """Make ``failed`` items pending again, due now, with their attempts reset. Returns how many."""
    ensure_outbox(engine)
    where, params = ["status = 'failed'"], {}
    if actions:
        where.append("list_contains($actions, action)")
        params["actions"] = list(actions)
    if alert_ids:
        where.append("list_contains($ids, alert_id)")
        params["ids"] = list(alert_ids)
    cond = " AND ".join(where)
    done = engine.rows(f"UPDATE _cairn_outbox SET status = 'pending', attempts = 0, next_attempt_at = $now "
                       f"WHERE {cond} RETURNING alert_id", {**params, "now": now})
    return len(done)


def rows(engine: DuckDBEngine, *, status: Sequence[str] = (), actions: Sequence[str] = (),
         limit: int | None = 100) -> list[dict[str, Any]]:
    """Outbox rows (without payload), newest first."""
    ensure_outbox(engine)
    where, params = [], {}
    if status:
        where.append("list_contains($status, status)")
        params["status"] = list(status)
    if actions:
        where.append("list_contains($actions, action)")
        params["actions"] = list(actions)
    sql = outbox_view_sql(engine) + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY created_at DESC, alert_id, action" + (f" LIMIT {int(limit)}" if limit else "")
    return engine.arrow(sql, params or None).to_pylist()


def counts(engine: DuckDBEngine) -> dict[str, dict[str, int]]:
    """action -> status -> items, plus ``due`` (pending items due now)."""
    ensure_outbox(engine)
    out: dict[str, dict[str, int]] = {}
    for action, status, n, due in engine.rows(
        "SELECT action, status, count(*), count(*) FILTER (WHERE next_attempt_at <= now()) "
        "FROM _cairn_outbox GROUP BY ALL ORDER BY ALL"
    ):
        d = out.setdefault(action, {s: 0 for s in (*STATUSES, "due")})
        d[status] = int(n)
        if status == "pending":
            d["due"] = int(due)
    return out
