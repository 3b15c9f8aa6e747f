"""Route 53 Resolver query logs: shapes, typed values, observables, dedup, quarantine."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.lake.addresses import ip_to_bin, parse_ip
from cairn.sources.base import Sniff
from cairn.sources.detect import detect
from srcdata import FIXTURES, jsonl, normalise, panther_logs, write

DOC_EXAMPLE = FIXTURES / "route53" / "aws-docs" / "resolver-query-log-example.json"
PANTHER = panther_logs("route53", "vpcdns_route53_resolver_tests.jsonl")
EXAMPLE = json.loads(DOC_EXAMPLE.read_text(encoding="utf-8"))


def _v4(ip: str) -> bytes:
    return ip_to_bin(ipaddress.ip_address(ip))


def test_aws_docs_example_typed_values(lake: Any) -> None:
    s = lake.ingest(DOC_EXAMPLE)
    assert (s.records_read, s.loaded, s.sources) == (1, 1, {"route53": 1})
    [r] = lake.dicts("SELECT * FROM route53")
    assert r["event_uid"].startswith("sha256:") and len(r["event_uid"]) == 7 + 64
    assert r["event_time"] == r["query_time"] == datetime(2021, 2, 4, 17, 51, 55, tzinfo=UTC)
    assert str(r["event_date"]) == "2021-02-04" and r["class_uid"] == 4003
    assert (r["version"], r["account_id"], r["region"], r["vpc_id"]) == (
        "1.100000", "111122223333", "us-east-1", "vpc-7example")
    assert (r["query_name"], r["query_domain"]) == ("15.3.4.32.in-addr.arpa.", "15.3.4.32.in-addr.arpa")
    assert (r["query_type"], r["query_class"], r["rcode"], r["rcode_id"]) == ("PTR", "IN", "NOERROR", 0)
    assert json.loads(r["answers"]) == [{"Rdata": "203.0.113.9", "Type": "PTR", "Class": "IN"}]
    assert (r["answer_rdata"], r["answer_types"], r["answer_ips"]) == (["203.0.113.9"], ["PTR"], ["203.0.113.9"])
    assert r["answer_ips_bin"] == [_v4("203.0.113.9")] and r["answer_hosts"] == []
    assert (r["srcaddr"], r["srcaddr_bin"], r["srcport"], r["transport"]) == (
        "4.5.64.102", _v4("4.5.64.102"), 56067, "UDP")
    assert json.loads(r["srcids"]) == {"instance": "i-0d15cd0d3example"}
    assert r["instance_id"] == "i-0d15cd0d3example"
    assert (r["firewall_rule_action"], r["firewall_rule_group_id"], r["firewall_domain_list_id"]) == (
        "BLOCK", "rslvr-frg-01234567890abcdef", "rslvr-fdl-01234567890abcdef")
    assert json.loads(r["raw"]) == EXAMPLE and r["locator"] == "document"
    obs = lake.rows("SELECT field, type, value FROM observables ORDER BY ALL")
    assert obs == [
        ("account_id", "account", "111122223333"),
        ("answers[].Rdata", "ip", "203.0.113.9"),
        ("query_name", "domain", "15.3.4.32.in-addr.arpa"),
        ("srcaddr", "ip", "4.5.64.102"),
        ("srcids.instance", "resource", "i-0d15cd0d3example"),
    ]
    assert lake.rows("SELECT ip_bin FROM observables WHERE field = 'srcaddr'") == [(_v4("4.5.64.102"),)]


def test_panther_records_as_json_lines(lake: Any, tmp_path: Path) -> None:
    """Panther's normalisation: no T/Z in the time, one answer as an object, extra p_* fields."""
    s = lake.ingest(write(tmp_path / "vpcdns.log", jsonl(PANTHER)))
    assert (s.records_read, s.loaded, s.quarantined, s.sources) == (8, 8, 0, {"route53": 1})
    rows = {r["locator"]: r for r in lake.dicts("SELECT * FROM route53")}
    first = rows["line 1"]
    assert first["event_time"] == datetime(2022, 6, 25, 0, 27, 53, tzinfo=UTC)
    assert json.loads(first["answers"]) == [{"Class": "IN", "Rdata": "1.2.3.4", "Type": "A"}]
    assert (first["srcaddr"], first["srcport"], first["instance_id"]) == ("5.6.7.8", 8888, "i-0abc234")
    domains = [rows[f"line {i}"]["query_domain"] for i in range(1, 7)]
    assert domains == ["webservicepag.webhop.net"] * 2 + ["moneropool.ru"] + ["abc.abc.moneropool.ru"] * 2 + [
        "moneropool.ru"]  # with and without the trailing dot
    assert {rows["line 2"]["query_name"], rows["line 1"]["query_name"]} == {
        "webservicepag.webhop.net", "webservicepag.webhop.net."}
    bare = rows["line 7"]  # no answers, srcids, srcport or transport
    assert (bare["answers"], bare["srcport"], bare["instance_id"], bare["version"]) == (None, None, None, "1.000000")
    assert bare["query_domain"] == "c2vydmljzxpkuk1pzgvudglmawvy.serviceregistry.internal"
    assert rows["line 8"]["answer_ips"] == ["172.31.46.187"] and rows["line 8"]["srcport"] == 36899
    assert lake.scalar("SELECT count(DISTINCT value) FROM observables WHERE type = 'domain'") == 5


def test_every_shape_gives_the_same_rows_and_reingest_is_duplicates(make_lake: Any, tmp_path: Path) -> None:
    recs = [*PANTHER, EXAMPLE]
    shapes = {
        "lines.log": jsonl(recs),
        "array.json": json.dumps(recs, indent=2),
        "firehose.log": "".join(json.dumps(r) for r in recs),  # concatenated, no separator
        "lines.log.gz": jsonl(recs),
        "cwl-export.log": "".join(f"2021-02-04T17:51:56.123Z {json.dumps(r)}\n" for r in recs),
    }
    uids = []
    for name, data in shapes.items():
        lake = make_lake(name)
        s = lake.ingest(write(tmp_path / name / name, data))
        assert (s.records_read, s.loaded, s.quarantined) == (9, 9, 0), name
        uids.append(lake.rows("SELECT event_uid FROM route53 ORDER BY 1"))
    assert all(u == uids[0] for u in uids)
    lake = make_lake("all")
    first = lake.ingest(tmp_path / "lines.log")
    again = lake.ingest(tmp_path)  # every shape again: all duplicates
    assert (first.loaded, again.loaded, again.duplicates) == (9, 0, 45)


def test_answers_ips_and_host_names(lake: Any, tmp_path: Path) -> None:
    """Derived from the AWS docs example: a CNAME chain ending in A and AAAA records."""
    rec = dict(EXAMPLE, query_name="WWW.Example.COM.", query_type="A", answers=[
        {"Rdata": "edge.example.net.", "Type": "CNAME", "Class": "IN"},
        {"Rdata": "203.0.113.9", "Type": "A", "Class": "IN"},
        {"Rdata": "2001:DB8:0:0::1", "Type": "AAAA", "Class": "IN"},
        {"Rdata": "10 mail.example.org.", "Type": "MX", "Class": "IN"},
        {"Rdata": "\"v=spf1 include:example.com ~all\"", "Type": "TXT", "Class": "IN"},
    ])
    lake.ingest(write(tmp_path / "q.json", rec))
    [r] = lake.dicts("SELECT * FROM route53")
    assert r["query_domain"] == "www.example.com"
    assert r["answer_ips"] == ["203.0.113.9", "2001:db8::1"]
    assert r["answer_ips_bin"] == [_v4("203.0.113.9"), ipaddress.ip_address("2001:db8::1").packed]
    assert r["answer_hosts"] == ["edge.example.net", "mail.example.org"]
    obs = lake.rows("SELECT type, value FROM observables WHERE field = 'answers[].Rdata' ORDER BY ALL")
    assert obs == [("hostname", "edge.example.net"), ("hostname", "mail.example.org"),
                   ("ip", "2001:db8::1"), ("ip", "203.0.113.9")]


def test_list_ip_observables_carry_ip_bin(lake: Any, tmp_path: Path) -> None:
    rec = dict(EXAMPLE, answers=[{"Rdata": "2001:DB8::1", "Type": "AAAA", "Class": "IN"}])
    lake.ingest(write(tmp_path / "q.json", rec))
    assert lake.rows("SELECT value, ip_bin FROM observables WHERE field = 'answers[].Rdata'") == [
        ("2001:db8::1", ipaddress.ip_address("2001:db8::1").packed)]


def test_unusable_records_are_quarantined_with_a_reason(lake: Any, tmp_path: Path) -> None:
    good = PANTHER[7]
    lines = [
        json.dumps(good),
        json.dumps({k: v for k, v in good.items() if k != "query_timestamp"}),
        json.dumps(dict(good, query_timestamp="yesterday")),
        json.dumps({k: v for k, v in good.items() if k != "query_name"}),
        json.dumps(dict(good, srcport="http")),
        json.dumps(dict(good, answers="1.2.3.4")),
        '{"query_name": "broken.example.", "srcaddr": ',
        "[1, 2]",
        json.dumps(dict(good, srcaddr="999.1.1.1")),
        json.dumps(dict(good, srcaddr="not-an-ip")),
    ]
    s = lake.ingest(write(tmp_path / "bad.log", "\n".join(lines) + "\n"), source="route53")
    assert (s.records_read, s.loaded, s.quarantined) == (10, 1, 9)
    reasons = {q["locator"]: q["reason"] for q in lake.quarantine()}
    assert reasons["line 2"] == "query_timestamp is missing"
    assert reasons["line 3"] == "query_timestamp is not a timestamp: yesterday"
    assert reasons["line 4"] == "query_name is missing"
    assert reasons["line 5"] == "srcport is not a port number: http"
    assert reasons["line 6"] == "answers is not a list of answers"
    assert reasons["line 7"].startswith("invalid JSON")
    assert reasons["line 8"] == "record is not a JSON object (found an array)"
    assert reasons["line 9"] == "srcaddr is not an IP address: 999.1.1.1"  # was loaded with srcaddr NULL
    assert reasons["line 10"] == "srcaddr is not an IP address: not-an-ip"


def test_detection_claims_resolver_logs_only() -> None:
    def name(text: str) -> str | None:
        src = detect(Sniff("x", text.encode()))
        return src.name if src else None

    assert name(DOC_EXAMPLE.read_text()) == "route53"
    assert name(jsonl(PANTHER)) == "route53"
    ct = (FIXTURES / "cloudtrail" / "stratus" / "aws.persistence.sts-federation-token.json").read_text()
    assert name(ct) == "cloudtrail"
    flow_json = '{"srcaddr": "10.0.0.1", "dstaddr": "10.0.0.2", "srcport": 22}\n' * 2
    assert name(flow_json) != "route53"


_names = st.lists(st.from_regex(r"[a-zA-Z0-9-]{1,12}", fullmatch=True), min_size=1, max_size=4).map(".".join)
_ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
_records = st.fixed_dictionaries({
    "query_name": st.tuples(_names, st.booleans()).map(lambda t: t[0] + ("." if t[1] else "")),
    "query_timestamp": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1))
    .map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    "srcaddr": _ips.map(str),
    "srcport": st.integers(0, 65535).map(str),
    "answers": st.lists(_ips, max_size=3).map(
        lambda ips: [{"Rdata": str(ip), "Type": "A" if ip.version == 4 else "AAAA", "Class": "IN"} for ip in ips]),
    "account_id": st.from_regex(r"[0-9]{12}", fullmatch=True),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_records, min_size=1, max_size=20))
def test_property_records_round_trip(records: list[dict[str, Any]]) -> None:
    rows = normalise("route53", records)
    assert len(rows) == len(records)
    for rec, row in zip(records, rows, strict=True):
        assert row["_reject"] is None and row["error"] is None
        assert row["query_domain"] == rec["query_name"].lower().rstrip(".")
        assert row["event_time"] == datetime.strptime(rec["query_timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert row["srcport"] == int(rec["srcport"]) and row["account_id"] == rec["account_id"]
        expected = list(dict.fromkeys(str(parse_ip(a["Rdata"])) for a in rec["answers"]))
        assert row["answer_ips"] == expected
        assert row["answer_ips_bin"] == [ip_to_bin(parse_ip(i)) for i in expected]
