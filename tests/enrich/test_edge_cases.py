"""Edge cases of enrich_relation: IPv6, IPv4-mapped IPv6, nested CIDRs (all and the most specific), service
names in address fields, values with quotes, context-only indicators, organisational context columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from enrich_support import EnrichWs, enrich_ws_fixture, observables_table  # noqa: F401
from reference import Ind

from cairn.enrich import enrich_relation
from cairn.enrich.relation import MATCH_COLUMNS, OBSERVABLE_COLUMNS
from cairn.errors import CairnError

T = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _run(ew: EnrichWs, obs: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    ew.engine.register("_e_obs", observables_table([{"event_time": T, **o} for o in obs]))
    try:
        enrich_relation(ew.engine, "_e_obs", "_e")
    finally:
        ew.engine.unregister("_e_obs")
    rows = ew.engine.arrow("SELECT * FROM _e_observables ORDER BY event_uid").to_pylist()
    matches = ew.engine.arrow("SELECT * FROM _e_matches ORDER BY event_uid, matched").to_pylist()
    return rows, matches


def test_columns_are_the_contract(enrich_ws: EnrichWs) -> None:
    enrich_ws.set_feeds([Ind("f", "ip", "45.60.1.1", threat_type="c2", confidence=90)])
    rows, matches = _run(enrich_ws, [{"type": "ip", "value": "45.60.1.1"}])
    assert tuple(rows[0]) == OBSERVABLE_COLUMNS
    assert tuple(matches[0]) == MATCH_COLUMNS
    assert rows[0]["score_id"] == 10 and rows[0]["score"] == "Malicious" and rows[0]["verdict_sources"] == ["f"]


def test_nested_cidrs_all_matches_and_most_specific(enrich_ws: EnrichWs) -> None:
    enrich_ws.set_feeds([Ind("a", "ip", "45.60.0.0/16", threat_type="scanner"),
                         Ind("b", "ip", "45.60.7.0/24", threat_type="malware"),
                         Ind("c", "ip", "45.60.7.0/24", threat_type="c2"),
                         Ind("a", "ip", "45.60.7.9"),
                         Ind("b", "ip", "45.60.7.0/25")])
    _, matches = _run(enrich_ws, [{"type": "ip", "value": "45.60.7.9"}, {"type": "ip", "value": "45.60.7.200"}])
    first = [(m["matched"], m["intel_source"], m["match_kind"], m["most_specific"]) for m in matches
             if m["event_uid"] == "e0"]
    assert sorted(first) == [("45.60.0.0/16", "a", "cidr", False), ("45.60.7.0/24", "b", "cidr", False),
                             ("45.60.7.0/24", "c", "cidr", False), ("45.60.7.0/25", "b", "cidr", False),
                             ("45.60.7.9", "a", "exact", True)]
    second = {(m["matched"], m["intel_source"]): m["most_specific"] for m in matches if m["event_uid"] == "e1"}
    assert second == {("45.60.0.0/16", "a"): False, ("45.60.7.0/24", "b"): True, ("45.60.7.0/24", "c"): True}


def test_ipv6_and_ipv4_mapped(enrich_ws: EnrichWs) -> None:
    enrich_ws.set_feeds([Ind("f", "ip", "2a02:6b8:77::/48", threat_type="malware", confidence=90),
                         Ind("f", "ip", "2a02:6b8:77:1::5"),
                         Ind("f", "ip", "45.60.9.0/24", threat_type="malware", confidence=75)])
    rows, matches = _run(enrich_ws, [
        {"type": "ip", "value": "2a02:6b8:77:1::5"},
        {"type": "ip", "value": "2a02:6b8:78::1"},          # just outside the /48
        {"type": "ip", "value": "::ffff:45.60.9.3"},         # IPv4-mapped IPv6 of an address in the /24
        {"type": "ip", "value": "::2d3c:903"},               # IPv4-compatible (deprecated) form: an IPv6 address
    ])
    got = {(m["event_uid"], m["matched"], m["most_specific"]) for m in matches}
    assert got == {("e0", "2a02:6b8:77::/48", False), ("e0", "2a02:6b8:77:1::5", True),
                   ("e2", "45.60.9.0/24", True)}
    assert [r["score_id"] for r in rows] == [10, 0, 10, 0]


def test_service_names_and_non_ip_values(enrich_ws: EnrichWs) -> None:
    enrich_ws.set_feeds([Ind("f", "domain", "amazonaws.com", threat_type="malware"),
                         Ind("f", "ip", "45.60.1.0/24")])
    rows, matches = _run(enrich_ws, [
        {"type": "ip", "value": "cloudtrail.amazonaws.com", "ip_bin": b""},   # a service name in an address field
        {"type": "ip", "value": "AWS Internal", "ip_bin": b""},
        {"type": "user", "value": "45.60.1.1"},                              # not an address observable
    ])
    assert matches == []
    assert [r["score_id"] for r in rows] == [0, 0, 0]
    assert all(r["asn"] is None and not r["is_tor"] for r in rows)


def test_values_with_quotes(enrich_ws: EnrichWs) -> None:
    url = "http://evil-cairn.zz/a'b\"c?q=';DROP TABLE observables;--"
    enrich_ws.set_feeds([Ind("o'brien", "url", url, threat_type="phishing"),
                         Ind("o'brien", "domain", "evil-cairn.zz", threat_type="phishing")])
    rows, matches = _run(enrich_ws, [
        {"type": "url", "value": url, "field": "request'Parameters.url"},
        {"type": "user", "value": "o'reilly\"; --"},
        {"type": "hostname", "value": "x'.evil-cairn.zz"},
    ])
    assert {(m["event_uid"], m["match_kind"], m["intel_source"]) for m in matches} == {
        ("e0", "exact", "o'brien"), ("e0", "url_host", "o'brien"), ("e2", "parent_domain", "o'brien")}
    assert rows[0]["field"] == "request'Parameters.url" and rows[1]["value"] == "o'reilly\"; --"
    assert enrich_ws.engine.scalar("SELECT count(*) FROM observables") is not None  # nothing was dropped


def test_context_only_indicator_listed_but_not_scored(enrich_ws: EnrichWs) -> None:
    enrich_ws.set_feeds([Ind("ctx", "ip", "45.60.2.2", threat_type="malware", detect=False)])
    rows, matches = _run(enrich_ws, [{"type": "ip", "value": "45.60.2.2"}])
    assert matches[0]["score_id"] == 0 and rows[0]["score_id"] == 0
    assert "[context only]" in rows[0]["why"] and rows[0]["verdict_sources"] == ["ctx"]


def test_validity_boundaries(enrich_ws: EnrichWs) -> None:
    enrich_ws.set_feeds([Ind("f", "ip", "45.60.3.1", valid_from=T),                       # from T: matches
                         Ind("g", "ip", "45.60.3.1", valid_until=T),                      # until T: does not
                         Ind("h", "ip", "45.60.3.1", last_seen=T - timedelta(days=2), max_age_days=2.0),
                         Ind("i", "ip", "45.60.3.1", last_seen=T - timedelta(days=1), max_age_days=2.0,
                             confidence=80, half_life_days=1.0),
                         Ind("j", "ip", "45.60.3.1", valid_from=T + timedelta(seconds=1))])
    _, matches = _run(enrich_ws, [{"type": "ip", "value": "45.60.3.1"}])
    assert {m["intel_source"]: m["confidence"] for m in matches} == {"f": None, "i": 40}


def test_missing_reference_tables_is_a_clear_error(tmp_path: Any) -> None:
    from cairn.engines.duckdb_engine import DuckDBEngine

    with DuckDBEngine(None) as engine:
        engine.register("o", observables_table([{"type": "ip", "value": "1.2.3.4", "event_time": T}]))
        with pytest.raises(CairnError, match="enrichment tables missing"):
            enrich_relation(engine, "o", "_x")
    with pytest.raises(ValueError):
        enrich_relation(None, "o; DROP TABLE x", "_x")  # type: ignore[arg-type]
