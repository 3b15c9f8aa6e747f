"""OCSF output: every event of the bundled samples is valid OCSF 1.1.0, observables point into the event,
and the enrichment (verdicts, sources, matches) is carried into observables[] and enrichments[]."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from cairn.outputs.ocsf import CLASSES, OBSERVABLE_TYPES, iter_events, ocsf_sql
from outputs.ocsf_schema import validate


def _events(enriched: Any) -> dict[str, list[dict[str, Any]]]:
    s = enriched.stream
    return {t: list(iter_events(enriched.engine, t, v, s.matches)) for t, v in s.views.items() if t in CLASSES}


@pytest.fixture(scope="module")
def events(enriched: Any) -> dict[str, list[dict[str, Any]]]:
    return _events(enriched)


def _resolve(event: dict[str, Any], name: str) -> list[Any]:
    """Values at an observable name (arrays are walked; ``unmapped.<field>`` is one key)."""
    if name.startswith("unmapped."):
        v = event.get("unmapped", {}).get(name.removeprefix("unmapped."))
        return list(v) if isinstance(v, list) else [v]
    nodes: list[Any] = [event]
    parts = name.split(".")
    for i, part in enumerate(parts):
        nxt: list[Any] = []
        for n in nodes:
            n_items = n if isinstance(n, list) else [n]
            for item in n_items:
                if isinstance(item, dict) and part in item:
                    val = item[part]
                    if part in ("data",) and isinstance(val, dict) and i + 1 < len(parts):
                        # api.request.data.<json path>: the rest is a path into the JSON
                        rest = val
                        for p in parts[i + 1:]:
                            rest = rest.get(p) if isinstance(rest, dict) else None
                        return [rest]
                    nxt.extend(val if isinstance(val, list) else [val])
        nodes = nxt
    return nodes


def test_every_event_is_valid_ocsf_1_1_0(events: dict[str, list[dict[str, Any]]], enriched: Any) -> None:
    counts = enriched.stream.counts(enriched.engine)
    assert {t: len(v) for t, v in events.items()} == {t: n for t, n in counts.items() if t in CLASSES}
    problems = Counter()
    for table, evs in events.items():
        for ev in evs:
            for p in validate(ev):
                problems[(table, p)] += 1
    assert not problems, problems.most_common(10)


def test_classes_times_and_metadata(events: dict[str, list[dict[str, Any]]], enriched: Any) -> None:
    expected = {"cloudtrail": 6003, "vpcflow": 4001, "route53": 4003, "guardduty_findings": 2004,
                "securityhub_findings": 2004}
    for table, evs in events.items():
        assert evs, table
        assert {e["class_uid"] for e in evs} == {expected[table]}
        assert all(e["metadata"]["version"] == "1.1.0" and e["metadata"]["product"]["vendor_name"] == "AWS"
                   for e in evs)
    # time is epoch milliseconds of event_time
    rows = dict(enriched.engine.rows(
        f"SELECT coalesce(json_extract_string(raw, '$.eventID'), event_uid), CAST(epoch_ms(event_time) AS BIGINT) "
        f"FROM {enriched.stream.views['cloudtrail']}"))
    for e in events["cloudtrail"]:
        assert e["time"] == rows[e["metadata"]["uid"]]
    # API Activity: the actor and the API of a known Stratus event
    stop = [e for e in events["cloudtrail"] if e["api"]["operation"] == "StopLogging"]
    assert stop and stop[0]["api"]["service"]["name"] == "cloudtrail.amazonaws.com"
    assert stop[0]["actor"]["user"]["uid"].startswith("arn:aws:")
    assert stop[0]["activity_id"] == 4 and stop[0]["type_uid"] == 600304  # the lake classes StopLogging as Delete


def test_observables_point_into_the_event(events: dict[str, list[dict[str, Any]]], enriched: Any) -> None:
    n = 0
    for evs in events.values():
        for ev in evs:
            for o in ev.get("observables", []):
                assert o["value"] in [str(v) if not isinstance(v, str) else v for v in _resolve(ev, o["name"])] or (
                    # domains are stored lower-case without the trailing dot
                    o["type_id"] == 1), (o, ev.get("unmapped"))
                n += 1
    # one observable per lake observable row
    assert n == enriched.engine.scalar(
        f"SELECT count(*) FROM {enriched.stream.observables} WHERE source IN "
        f"({', '.join(repr(t) for t in CLASSES)})")
    type_ids = {o["type_id"] for evs in events.values() for ev in evs for o in ev.get("observables", [])}
    assert type_ids <= {v[0] for v in OBSERVABLE_TYPES.values()}
    assert {1, 2, 10, 99} <= type_ids


def test_verdicts_and_provenance_reach_ocsf(events: dict[str, list[dict[str, Any]]]) -> None:
    bad = [(e, o) for e in events["route53"] for o in e.get("observables", [])
           if o["value"] == "webservicepag.webhop.net"]
    assert bad, "the Route 53 sample queries webservicepag.webhop.net"
    ev, obs = bad[0]
    assert obs["name"] == "query.hostname" and obs["type_id"] == 1
    assert obs["reputation"]["score_id"] >= 7 and obs["reputation"]["provider"] == "maltrail"
    assert obs["reputation"]["base_score"] == float(obs["reputation"]["score_id"])
    rep = [x for x in ev["enrichments"] if x["type"] == "reputation" and x["value"] == "webservicepag.webhop.net"]
    assert len(rep) == 1
    data = rep[0]["data"]
    assert data["field"] == "query_name" and "maltrail" in data["sources"]
    kinds = {(m["indicator"], m["match_kind"]) for m in data["matches"]}
    assert kinds == {("webservicepag.webhop.net", "exact"), ("webhop.net", "parent_domain")}
    assert all(m["source"] == "maltrail" and m["feed_version"] for m in data["matches"])
    # organisational context: a route53 event's instance has an owner in the bundled inventory
    org = [x for x in ev["enrichments"] if x["type"] == "organisation"]
    assert any(x["data"].get("asset_owner") for x in org)


def test_lake_path_gives_the_same_ocsf(enriched: Any, events: dict[str, list[dict[str, Any]]]) -> None:
    e = enriched.engine
    for table in CLASSES:
        lake = list(iter_events(e, table, f"{table}_enriched", "intel_matches"))
        assert lake == events[table], table


@pytest.mark.parametrize("mutate, expect", [
    (lambda ev: ev.pop("metadata"), "metadata: required attribute missing"),
    (lambda ev: ev.__setitem__("time", "2020-01-01"), "time: expected epoch milliseconds"),
    (lambda ev: ev.__setitem__("severity_id", 7), "severity_id: 7 is not one of"),
    (lambda ev: ev.__setitem__("type_uid", 600399), "type_uid is not"),
    (lambda ev: ev["src_endpoint"].__setitem__("ip", "not-an-ip"), "src_endpoint.ip: expected ip_t"),
    (lambda ev: ev["api"].pop("operation"), "api.operation: required attribute missing"),
    (lambda ev: ev.__setitem__("colour", "red"), "colour: not an attribute"),
    (lambda ev: ev["observables"][0].__setitem__("type_id", 12), "type_id: 12 is not one of"),
    (lambda ev: ev["observables"][0].pop("name"), "observables[0].name: required attribute missing"),
])
def test_the_validator_catches_mistakes(events: dict[str, list[dict[str, Any]]], mutate: Any, expect: str) -> None:
    ev = copy.deepcopy(next(e for e in events["cloudtrail"] if e.get("src_endpoint", {}).get("ip")))
    assert validate(ev) == []
    mutate(ev)
    errors = validate(ev)
    assert any(expect in x for x in errors), errors


def test_sql_binds_no_values(enriched: Any) -> None:
    """The mapping is fixed SQL text: no sample value is pasted into it."""
    sql = ocsf_sql("cloudtrail", "cloudtrail_enriched", "intel_matches")
    assert "webhop" not in sql and "arn:aws" not in sql


def test_flow_interface_ids_sit_on_the_interfaces_endpoint(events: dict[str, list[dict[str, Any]]]) -> None:
    """Ingress: the capturing interface (instance, ENI, VPC, subnet) is the destination; the remote source
    got the instance id before. Egress and records without flow-direction: the source."""
    by_dir: dict[str, list[dict[str, Any]]] = {}
    for ev in events["vpcflow"]:
        by_dir.setdefault(ev["connection_info"]["direction"], []).append(ev)
    inbound = [e for e in by_dir["Inbound"] if e.get("dst_endpoint", {}).get("instance_uid")]
    assert inbound
    for ev in inbound:
        assert not {"instance_uid", "interface_uid", "vpc_uid", "subnet_uid"} & set(ev["src_endpoint"])
        names = {o["name"] for o in ev["observables"]}
        assert "dst_endpoint.instance_uid" in names and "src_endpoint.instance_uid" not in names
    outbound = [e for d in ("Outbound", "Unknown") for e in by_dir.get(d, [])
                if e.get("src_endpoint", {}).get("interface_uid")]
    assert outbound
    for ev in outbound:
        assert "interface_uid" not in ev.get("dst_endpoint", {})
