"""The summary of an activity relation (``_tri_act``): SQL only, one statement per section."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.triage.sensitive import DETAIL_SQL, sensitive_table

ACT = "_tri_act"
#: Events listed one by one in the report (the counts cover all of them).
EVENT_LIMIT = 500


def _dicts(engine: DuckDBEngine, sql: str, params: Any = None) -> list[dict[str, Any]]:
    return engine.arrow(sql, params).to_pylist()


def counts(engine: DuckDBEngine) -> dict[str, Any]:
    """Totals of the activity."""
    r = _dicts(engine, f"""
        SELECT count(*) AS events,
               count(*) FILTER (WHERE matched_by = 'identity') AS identity_events,
               count(*) FILTER (WHERE matched_by = 'child_session') AS child_session_events,
               count(*) FILTER (WHERE matched_by = 'resource') AS resource_only_events,
               count(*) FILTER (WHERE m_res) AS resource_events,
               count(*) FILTER (WHERE error_code IS NOT NULL) AS errors,
               count(DISTINCT coalesce(src_ip, source_ip_address)) AS distinct_sources,
               count(DISTINCT event_name) AS distinct_apis,
               count(DISTINCT principal_arn) AS distinct_principals,
               min(event_time) AS first_event, max(event_time) AS last_event
        FROM {ACT}""")
    return r[0]


def by_api(engine: DuckDBEngine) -> list[dict[str, Any]]:
    """Counts by eventSource and eventName."""
    return _dicts(engine, f"""
        SELECT event_source, event_name, count(*) AS count,
               count(*) FILTER (WHERE error_code IS NOT NULL) AS errors,
               min(event_time) AS first, max(event_time) AS last,
               list(DISTINCT matched_by ORDER BY matched_by) AS matched_by
        FROM {ACT} GROUP BY ALL ORDER BY count DESC, event_source, event_name""")


def sources(engine: DuckDBEngine) -> list[dict[str, Any]]:
    """Each distinct sourceIPAddress with counts and APIs (enrichment is added by the caller)."""
    return _dicts(engine, f"""
        SELECT coalesce(src_ip, source_ip_address) AS source, any_value(src_ip) AS ip,
               any_value(src_ip_kind) AS kind, count(*) AS count,
               count(*) FILTER (WHERE error_code IS NOT NULL) AS errors,
               min(event_time) AS first, max(event_time) AS last,
               list(DISTINCT event_name ORDER BY event_name)[1:20] AS apis,
               list(DISTINCT principal_arn ORDER BY principal_arn)[1:5] AS principals
        FROM {ACT} WHERE coalesce(src_ip, source_ip_address) IS NOT NULL
        GROUP BY 1 ORDER BY count DESC, source""")


def user_agents(engine: DuckDBEngine) -> list[dict[str, Any]]:
    """Distinct userAgents."""
    return _dicts(engine, f"""
        SELECT user_agent, count(*) AS count, min(event_time) AS first, max(event_time) AS last
        FROM {ACT} WHERE user_agent IS NOT NULL GROUP BY ALL ORDER BY count DESC, user_agent""")


def errors(engine: DuckDBEngine) -> list[dict[str, Any]]:
    """Errors (AccessDenied and friends) by code and API; the example message is the earliest one
    (ties: the smallest text), whatever order the events are stored in."""
    return _dicts(engine, f"""
        SELECT error_code, event_source, event_name, count(*) AS count,
               arg_min(error_message, (error_message IS NULL, event_time, error_message)) AS example_message,
               min(event_time) AS first, max(event_time) AS last
        FROM {ACT} WHERE error_code IS NOT NULL GROUP BY ALL ORDER BY count DESC, error_code, event_name""")


def regions(engine: DuckDBEngine) -> list[dict[str, Any]]:
    """Regions used."""
    return _dicts(engine, f"""
        SELECT aws_region AS region, count(*) AS count FROM {ACT} WHERE aws_region IS NOT NULL
        GROUP BY ALL ORDER BY count DESC, region""")


def sensitive(engine: DuckDBEngine) -> list[dict[str, Any]]:
    """Sensitive actions by category (see :mod:`cairn.triage.sensitive`)."""
    engine.register("_tri_sensitive", sensitive_table())
    try:
        return _dicts(engine, f"""
            SELECT s.category, a.event_source, a.event_name, count(*) AS count,
                   count(*) FILTER (WHERE a.error_code IS NOT NULL) AS errors,
                   min(a.event_time) AS first, max(a.event_time) AS last,
                   list(DISTINCT a.detail) FILTER (WHERE a.detail IS NOT NULL) AS details
            FROM (SELECT *, {DETAIL_SQL} AS detail FROM {ACT}) a
            JOIN _tri_sensitive s ON s.event_source = a.event_source AND s.event_name = a.event_name
            GROUP BY ALL ORDER BY s.category, first""")
    finally:
        engine.unregister("_tri_sensitive")


def timeline(engine: DuckDBEngine, start: datetime, end: datetime, buckets: int = 60) -> dict[str, Any]:
    """Events per time bucket over the window, and the events themselves (first :data:`EVENT_LIMIT`)."""
    span = max((end - start).total_seconds(), 1.0)
    width = max(1, int(-(-span // buckets)))
    engine.register("_tri_sensitive", sensitive_table())
    try:
        rows = _dicts(engine, f"""
            SELECT to_timestamp(epoch($start) + b * $w) AS start, count(*) AS events,
                   count(*) FILTER (WHERE error_code IS NOT NULL) AS errors,
                   count(*) FILTER (WHERE sens) AS sensitive
            FROM (SELECT CAST(floor((epoch(event_time) - epoch($start)) / $w) AS BIGINT) AS b, error_code,
                         EXISTS (SELECT 1 FROM _tri_sensitive s WHERE s.event_source = a.event_source
                                 AND s.event_name = a.event_name) AS sens
                  FROM {ACT} a)
            GROUP BY b ORDER BY b""", {"start": start, "w": width})
        events = _dicts(engine, f"""
            SELECT event_time, event_source, event_name, coalesce(src_ip, source_ip_address) AS source,
                   aws_region AS region, error_code, matched_by, principal_arn, identity_arn, access_key_id,
                   user_agent, event_uid,
                   EXISTS (SELECT 1 FROM _tri_sensitive s WHERE s.event_source = a.event_source
                           AND s.event_name = a.event_name) AS sensitive
            FROM {ACT} a ORDER BY event_time, event_uid LIMIT {EVENT_LIMIT}""")
    finally:
        engine.unregister("_tri_sensitive")
    total = engine.scalar(f"SELECT count(*) FROM {ACT}")
    return {"bucket_seconds": width, "start": start, "end": end, "buckets": rows, "events": events,
            "events_truncated": total > len(events)}


def window_sets(engine: DuckDBEngine) -> dict[str, list[str]]:
    """Distinct IPs, user agents, APIs and regions of the identity's own activity (not resource-only)."""
    r = _dicts(engine, f"""
        SELECT list(DISTINCT src_ip) FILTER (WHERE src_ip IS NOT NULL) AS ips,
               list(DISTINCT user_agent) FILTER (WHERE user_agent IS NOT NULL) AS user_agents,
               list(DISTINCT event_source || ':' || event_name) AS apis,
               list(DISTINCT aws_region) FILTER (WHERE aws_region IS NOT NULL) AS regions
        FROM {ACT} WHERE matched_by <> 'resource'""")[0]
    return {k: sorted(v or []) for k, v in r.items()}
