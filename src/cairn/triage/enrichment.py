"""Full enrichment of the source addresses triage found.

Preferred path: :func:`cairn.enrich.enrich_relation` (verdict time-aware at the address's last use,
ownership, warninglists, organisational context with the network zone). When the enrichment engine
cannot run here (its tables cannot be built, e.g. another process holds the writer lock), the intel
lookup (:func:`cairn.intel.api.lookup_relation`) and the context network match are used instead;
the report notes which path ran.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import CairnError
from cairn.lake.addresses import ip_to_bin, parse_ip
from cairn.workspace import Workspace

FIELDS = ("score_id", "score", "sources", "why", "warninglist_hit", "warninglists", "asn", "as_org", "country",
          "cloud_provider", "cloud_service", "cloud_region", "is_tor", "special_range", "network_zone",
          "network_name", "account_id", "account_name")

_OBS_SCHEMA = pa.schema([("event_uid", pa.string()), ("source", pa.string()), ("event_time", pa.timestamp("us", "UTC")),
                         ("field", pa.string()), ("type", pa.string()), ("value", pa.string()),
                         ("ip_bin", pa.binary())])


def _relation(ips: dict[str, datetime | None]) -> pa.Table:
    rows = []
    for ip, t in ips.items():
        a = parse_ip(ip)
        if a is None:
            continue
        rows.append({"event_uid": ip, "source": "triage", "event_time": t, "field": "sourceIPAddress",
                     "type": "ip", "value": ip, "ip_bin": ip_to_bin(a)})
    return pa.Table.from_pylist(rows, schema=_OBS_SCHEMA)


def enrich_ips(engine: DuckDBEngine, ws: Workspace, ips: dict[str, datetime | None]) -> tuple[dict[str, dict[str, Any]], str]:
    """Enrichment per address (``ips``: address -> time of its last use). Returns (by address, method)."""
    if not ips:
        return {}, "none"
    rel = _relation(ips)
    engine.register("_tri_ips", rel)
    try:
        try:
            return _via_enrich(engine, ws), "cairn.enrich"
        except (ImportError, CairnError):
            return _via_lookup(engine, ws), "cairn.intel.lookup + cairn.context"
    finally:
        engine.unregister("_tri_ips")


def _via_enrich(engine: DuckDBEngine, ws: Workspace) -> dict[str, dict[str, Any]]:
    from cairn.enrich import enrich_relation
    from cairn.enrich.indicators import IND_TABLE
    from cairn.enrich.materialize import prepare
    from cairn.intel.tables import table_exists

    if not table_exists(engine, IND_TABLE) or not table_exists(engine, "own_asn"):
        with ws.writer_lock():
            prepare(engine, ws)
    enrich_relation(engine, "_tri_ips", "_tri_en")
    out: dict[str, dict[str, Any]] = {}
    for r in engine.arrow("SELECT * FROM _tri_en_observables").to_pylist():
        d = {k: r.get(k) for k in FIELDS}
        d["sources"] = r.get("verdict_sources") or []
        out[r["value"]] = d
    return out


def _via_lookup(engine: DuckDBEngine, ws: Workspace) -> dict[str, dict[str, Any]]:
    from cairn.context import match_sql
    from cairn.intel.api import ensure, lookup_relation

    ensure(engine, ws)
    res = lookup_relation(engine, "_tri_ips", "_tri_lk")
    out: dict[str, dict[str, Any]] = {}
    for r in res.to_pylist():
        out[r["value"]] = {
            "score_id": r.get("score_id"), "score": r.get("score"), "sources": r.get("sources") or [],
            "why": r.get("why"), "warninglist_hit": bool(r.get("warninglists")),
            "warninglists": r.get("warninglists") or [], "asn": r.get("asn"), "as_org": r.get("as_org"),
            "country": r.get("country"), "cloud_provider": r.get("cloud_provider"),
            "cloud_service": r.get("cloud_service"), "cloud_region": r.get("cloud_region"),
            "is_tor": r.get("tor"), "special_range": (r.get("special_ranges") or [None])[0],
            "network_zone": None, "network_name": None, "account_id": None, "account_name": None,
        }
    try:
        nets = engine.arrow(f"SELECT value, zone, name FROM ({match_sql('networks', '_tri_ips')}) WHERE best")
    except CairnError:
        nets = None
    for r in (nets.to_pylist() if nets is not None else []):
        if r["value"] in out:
            out[r["value"]]["network_zone"] = r["zone"]
            out[r["value"]]["network_name"] = r["name"]
    return out
