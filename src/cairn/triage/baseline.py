"""The identity's baseline: what it did before the window, to tell what is new.

From the triage index's digest (one row per principal, day, API, region, address, user agent)
when the index is current; otherwise from the lake, with the same grouping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cairn.engines.duckdb_engine import DuckDBEngine

_SETS = """
SELECT list(DISTINCT src_ip) FILTER (WHERE src_ip IS NOT NULL) AS ips,
       list(DISTINCT user_agent) FILTER (WHERE user_agent IS NOT NULL) AS user_agents,
       list(DISTINCT event_source || ':' || event_name) AS apis,
       list(DISTINCT aws_region) FILTER (WHERE aws_region IS NOT NULL) AS regions,
       {n} AS events, min({first}) AS first, max({last}) AS last
FROM {src}
WHERE list_contains($principals, principal_arn) AND {time}
"""


def baseline_sets(engine: DuckDBEngine, principals: list[str], start: datetime, end: datetime,
                  *, use_index: bool) -> dict[str, Any]:
    """Distinct IPs, user agents, APIs and regions of ``principals`` in [start, end)."""
    if not principals:
        return {"ips": [], "user_agents": [], "apis": [], "regions": [], "events": 0, "first": None, "last": None}
    if use_index:
        sql = _SETS.format(n="coalesce(sum(n), 0)", first="first_time", last="last_time", src="_triage_digest",
                           time="day BETWEEN CAST($start AS DATE) AND CAST($end AS DATE) "
                                "AND last_time >= $start AND first_time < $end")
    else:
        sql = _SETS.format(n="count(*)", first="event_time", last="event_time", src="cloudtrail",
                           time="event_time >= $start AND event_time < $end")
    r = engine.arrow(sql, {"principals": principals, "start": start, "end": end}).to_pylist()[0]
    for k in ("ips", "user_agents", "apis", "regions"):
        r[k] = sorted(r[k] or [])
    r["events"] = int(r["events"] or 0)
    return r
