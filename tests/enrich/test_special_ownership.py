"""Enrichment reports no ASN / AS organisation / country for addresses in special ranges that hide
ownership (documentation, private, ...), in every place ownership ends up: ``enrich_relation``, the stored
``enriched_observables`` / ``<table>_enriched`` views, OCSF ``enrichments[]`` and triage's enrichment.
Public addresses keep theirs. Real bundled ownership data (its rows wrongly give 203.0.113.0/24 "AU")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from enrich_support import (  # noqa: F401
    EnrichWs,
    SampleLake,
    enrich_ws_fixture,
    observables_table,
    sample_lake_fixture,
    sample_template,
)

from cairn.enrich import enrich_relation, refresh
from cairn.outputs.ocsf import iter_events
from cairn.triage.enrichment import enrich_ips

T = datetime(2026, 3, 1, 12, tzinfo=UTC)
NONE3 = (None, None, None)
WANT = {
    "198.51.100.7": (NONE3, "documentation (TEST-NET-2)"),
    "203.0.113.5": (NONE3, "documentation (TEST-NET-3)"),
    "2001:db8::1": (NONE3, "documentation"),
    "10.1.2.3": (NONE3, "private"),
    "8.8.8.8": ((15169, "Google LLC", "US"), None),
    "54.247.0.5": ((16509, "Amazon.com, Inc.", "IE"), None),
}
DOC_SAMPLE, DOC6_SAMPLE, PUBLIC_SAMPLE = "203.0.113.12", "2001:db8:1234:a100:8d6e:3477:df66:f105", "52.95.128.179"
"""Addresses of the bundled VPC Flow Logs sample."""


def _own(r: dict[str, Any]) -> tuple[tuple[Any, Any, Any], Any]:
    return (r["asn"], r["as_org"], r["country"]), r["special_range"]


def test_enrich_relation_hides_ownership_in_special_ranges(enrich_ws: EnrichWs) -> None:
    enrich_ws.set_feeds([])
    obs = observables_table([{"type": "ip", "value": v, "event_time": T} for v in WANT])
    enrich_ws.engine.register("_so_obs", obs)
    try:
        enrich_relation(enrich_ws.engine, "_so_obs", "_so")
    finally:
        enrich_ws.engine.unregister("_so_obs")
    rows = enrich_ws.engine.arrow("SELECT * FROM _so_observables").to_pylist()
    assert {r["value"]: _own(r) for r in rows} == WANT
    ec2 = next(r for r in rows if r["value"] == "54.247.0.5")
    assert (ec2["cloud_provider"], ec2["cloud_service"], ec2["cloud_region"]) == ("aws", "EC2", "eu-west-1")


def test_triage_enrichment_has_no_country_for_special(enrich_ws: EnrichWs) -> None:
    got, method = enrich_ips(enrich_ws.engine, enrich_ws.ws, dict.fromkeys(WANT, T))
    assert method == "cairn.enrich"
    assert {ip: ((d["asn"], d["as_org"], d["country"]), d["special_range"]) for ip, d in got.items()} == WANT


def test_lake_views_and_ocsf_hide_ownership(sample_lake: SampleLake) -> None:
    refresh(sample_lake.engine, sample_lake.ws)
    stored = sample_lake.dicts(
        "SELECT DISTINCT value, asn, as_org, country, special_range FROM enriched_observables "
        "WHERE source = 'vpcflow' AND list_contains(?, value) ORDER BY value", [[DOC_SAMPLE, DOC6_SAMPLE,
                                                                                 PUBLIC_SAMPLE]])
    assert stored == [
        {"value": DOC6_SAMPLE, "asn": None, "as_org": None, "country": None, "special_range": "documentation"},
        {"value": DOC_SAMPLE, "asn": None, "as_org": None, "country": None,
         "special_range": "documentation (TEST-NET-3)"},
        {"value": PUBLIC_SAMPLE, "asn": 16509, "as_org": "Amazon.com, Inc.", "country": "AU", "special_range": None},
    ]
    view = sample_lake.dicts(
        "SELECT DISTINCT e.value, e.asn, e.country, e.special_range FROM "
        "(SELECT unnest(enrichment) AS e FROM vpcflow_enriched) WHERE list_contains(?, e.value) ORDER BY 1",
        [[DOC_SAMPLE, PUBLIC_SAMPLE]])
    assert view == [{"value": DOC_SAMPLE, "asn": None, "country": None, "special_range": "documentation (TEST-NET-3)"},
                    {"value": PUBLIC_SAMPLE, "asn": 16509, "country": "AU", "special_range": None}]
    own: dict[str, list[dict[str, Any]]] = {}
    for ev in iter_events(sample_lake.engine, "vpcflow", "vpcflow_enriched", "intel_matches"):
        for x in ev.get("enrichments", []):
            if x["type"] == "ownership" and x["value"] in (DOC_SAMPLE, PUBLIC_SAMPLE):
                own.setdefault(x["value"], []).append({k: v for k, v in x["data"].items() if k != "field"})
    assert own[DOC_SAMPLE] and all(d["special_range"] == "documentation (TEST-NET-3)"
                                   and not {"asn", "as_org", "country"} & set(d) for d in own[DOC_SAMPLE]), own
    assert own[PUBLIC_SAMPLE] and all(
        (d["asn"], d["as_org"], d["country"], d["cloud_provider"]) == (16509, "Amazon.com, Inc.", "AU", "aws")
        for d in own[PUBLIC_SAMPLE]), own[PUBLIC_SAMPLE]
