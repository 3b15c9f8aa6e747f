"""Related alerts and findings: GuardDuty, Security Hub and cairn alerts touching the same identity,
resource or source address in the period triage looked at (baseline start to window end)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import CairnError

_GD = """
SELECT finding_id, event_time AS updated_at, type, title, severity_label AS severity, access_key_id,
       user_name, remote_ip, instance_id
FROM guardduty_findings
WHERE event_time BETWEEN $start AND $end
  AND (list_contains($keys, access_key_id) OR list_contains($names, user_name)
       OR list_contains($ids, principal_id) OR list_contains($res, instance_id)
       OR list_has_any($res, bucket_names) OR list_contains($ips, remote_ip))
  AND coalesce(finding_id, '') <> $self
ORDER BY event_time DESC LIMIT 50
"""
_SH = """
SELECT finding_id, event_time AS updated_at, product_name, title, severity_label AS severity, remote_ip, src_ip,
       resource_ids
FROM securityhub_findings
WHERE event_time BETWEEN $start AND $end
  AND (list_has_any($all, resource_ids) OR list_contains($ips, remote_ip) OR list_contains($ips, src_ip)
       OR EXISTS (SELECT 1 FROM unnest($keys) k(v) WHERE contains(CAST(resources AS VARCHAR), k.v)))
  AND coalesce(finding_id, '') <> $self
ORDER BY event_time DESC LIMIT 50
"""
_AL = """
SELECT alert_id, rule_id, title, severity, first_seen, last_seen, identity, resource, ips, status
FROM alerts
WHERE last_seen >= $start AND first_seen <= $end
  AND (list_contains($all, identity) OR list_contains($all, resource) OR list_has_any($ips, ips))
  AND alert_id <> $self
ORDER BY last_seen DESC LIMIT 50
"""


def _exists(engine: DuckDBEngine, name: str) -> bool:
    return bool(engine.scalar("SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal", [name])
                or engine.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]))


def related(engine: DuckDBEngine, *, start: datetime, end: datetime, keys: list[str], names: list[str],
            principal_ids: list[str], arns: list[str], resources: list[str], ips: list[str],
            self_id: str | None) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Related items per kind, and notes on what could not be searched."""
    p = {"start": start, "end": end, "keys": keys, "names": names, "ids": principal_ids, "res": resources,
         "ips": ips, "self": self_id or "", "all": [*keys, *names, *arns, *resources]}
    out: dict[str, list[dict[str, Any]]] = {"alerts": [], "guardduty_findings": [], "securityhub_findings": []}
    notes: list[str] = []
    for kind, sql, params in (
        ("guardduty_findings", _GD, ("start", "end", "keys", "names", "ids", "res", "ips", "self")),
        ("securityhub_findings", _SH, ("start", "end", "all", "ips", "keys", "self")),
        ("alerts", _AL, ("start", "end", "all", "ips", "self")),
    ):
        if not _exists(engine, kind):
            notes.append(f"no {kind} table in this workspace: related {kind.replace('_', ' ')} not searched")
            continue
        try:
            out[kind] = engine.arrow(sql, {k: p[k] for k in params}).to_pylist()
        except CairnError as exc:
            notes.append(f"related {kind} not searched: {str(exc).splitlines()[0][:200]}")
    return out, notes
