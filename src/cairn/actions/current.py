"""The alert as it is now: a delivery sends the ``alerts`` row at send time, not the copy enqueued.

``cairn detect`` updates alerts in place (``event_count``, ``last_seen``, ``ips``, ...). An item that
waits in the outbox (the destination was down, a retry is due later) must still send what
``cairn alerts show`` has, so :func:`current_alerts` reads the rows when items are claimed; the copy
stored at enqueue time is only used when the row is gone (or was never in the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine


def alerts_table_exists(engine: DuckDBEngine) -> bool:
    """Whether the catalog has the alerts storage table (``cairn detect`` creates it)."""
    return bool(engine.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_cairn_alerts' "
                              "AND database_name = current_database()"))


def current_alerts(engine: DuckDBEngine, alert_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """alert_id -> ``Alert.to_dict()`` of the rows in the alerts table now (ids without a row are absent)."""
    from cairn.detect.alerts import Alert

    if not alert_ids or not alerts_table_exists(engine):
        return {}
    engine.register("_outbox_ids", pa.table({"alert_id": pa.array(sorted(set(alert_ids)), pa.string())}))
    try:
        rows = engine.arrow("SELECT a.* FROM _cairn_alerts a JOIN _outbox_ids USING (alert_id)").to_pylist()
    finally:
        engine.unregister("_outbox_ids")
    return {str(r["alert_id"]): Alert.from_row(r).to_dict() for r in rows}
