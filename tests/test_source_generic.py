"""``--source json``: any JSON records, keyed by a top-level id or their content, timed by a
common time field; never chosen by auto-detection."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.lake.addresses import ip_to_bin, parse_ip
from cairn.sources import get_source
from cairn.sources.base import Sniff
from cairn.sources.detect import detect
from conftest import CT_FIXTURES, stratus_records
from srcdata import FIXTURES, jsonl, normalise, panther_logs, write


def test_cloudtrail_records_keyed_by_event_id(lake: Any) -> None:
    """Real CloudTrail arrays read as generic JSON: eventID is the key, eventTime the time."""
    records = stratus_records()
    s = lake.ingest(CT_FIXTURES / "stratus", source="json")
    assert (s.records_read, s.loaded, s.quarantined) == (len(records), len(records), 0)
    rows = lake.dicts("SELECT * FROM json_events ORDER BY event_time, event_uid")
    assert {r["event_uid"] for r in rows} == {r["eventID"] for r in records}
    assert {(r["id_field"], r["time_field"], r["class_uid"]) for r in rows} == {("eventID", "eventTime", None)}
    first = min(records, key=lambda r: (r["eventTime"], r["eventID"]))
    assert rows[0]["event_time"] == datetime.fromisoformat(first["eventTime"].replace("Z", "+00:00"))
    assert json.loads(rows[0]["raw"]) == first
    ips = {str(parse_ip(r["sourceIPAddress"])) for r in records if parse_ip(r["sourceIPAddress"])}
    assert {v for (v,) in lake.rows("SELECT DISTINCT value FROM observables WHERE type = 'ip'")} == ips
    again = lake.ingest(CT_FIXTURES / "stratus", source="json")
    assert (again.loaded, again.duplicates) == (0, len(records))


def test_logstash_lines_guardduty_findings_and_records_without_time(lake: Any, tmp_path: Path) -> None:
    otrf = CT_FIXTURES / "otrf" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"
    findings = panther_logs("guardduty", "guardduty_tests.jsonl")
    resolver = json.loads((FIXTURES / "route53" / "aws-docs" / "resolver-query-log-example.json").read_text())
    s = lake.ingest(otrf, write(tmp_path / "gd.jsonl", jsonl(findings)), write(tmp_path / "r53.json", resolver),
                    source="json")
    n_otrf = len(otrf.read_text().splitlines())
    assert s.records_read == n_otrf + len(findings) + 1 and s.quarantined == 1
    by_time_field = dict(lake.rows("SELECT time_field, count(*) FROM json_events GROUP BY 1"))
    assert by_time_field["@timestamp"] == n_otrf  # Logstash: eventTime moved into @timestamp
    crit = lake.dicts("SELECT * FROM json_events WHERE event_uid = '8c258d654378414b9bc26f61a93eb816'")[0]
    assert (crit["id_field"], crit["time_field"]) == ("id", "createdAt")
    assert crit["event_time"] == datetime(2025, 2, 25, 20, 40, 6, 721000, tzinfo=UTC)
    # Panther's High/Low/Medium test findings share id eeb88ab5...: one row, the rest duplicates.
    assert lake.scalar("SELECT count(*) FROM json_events WHERE id_field = 'id'") == 2
    [q] = lake.quarantine()
    assert q["reason"] == ("no time field (looked for time, timestamp, @timestamp, eventTime, EventTime, "
                           "createdAt, date)")
    assert json.loads(q["raw"]) == resolver


def test_time_representations_ids_and_observables(lake: Any, tmp_path: Path) -> None:
    when = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    lines = [
        {"id": "a1", "time": "2023-11-14T22:13:20.123Z", "src": "203.0.113.5", "msg": "hello"},
        {"eventID": 17, "timestamp": 1700000000123, "client": "2001:DB8::0:1"},          # epoch ms
        {"uuid": "u-1", "@timestamp": "2023-11-15 00:13:20.123+02:00"},                  # offset
        {"Id": "x", "EventTime": "1700000000.123"},                                       # epoch s as text
        {"date": 1700000000123000, "nested": {"ip": "198.51.100.1"}},                     # epoch us
        {"createdAt": 1700000000123000000, "id": {"not": "scalar"}},                       # epoch ns
        {"time": None, "eventTime": "20231114T221320Z"},                                  # basic ISO, null skipped
        {"foo": "bar"},
        {"time": "yesterday"},
        [1, 2],
        '{"time": "2023-11-14T22:13:20Z", "id": ',
    ]
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    s = lake.ingest(write(tmp_path / "mixed.log", text), source="json")
    assert (s.records_read, s.loaded, s.quarantined) == (11, 7, 4)
    rows = {r["locator"]: r for r in lake.dicts("SELECT * FROM json_events")}
    for i in range(1, 7):
        assert rows[f"line {i}"]["event_time"] == when, i
    assert rows["line 7"]["event_time"] == when.replace(microsecond=0)
    assert [rows[f"line {i}"]["event_uid"] for i in (1, 2, 3, 4)] == ["a1", "17", "u-1", "x"]
    assert [rows[f"line {i}"]["id_field"] for i in (1, 2, 3, 4, 6)] == ["id", "eventID", "uuid", "Id", None]
    assert rows["line 6"]["event_uid"].startswith("sha256:")
    assert rows["line 7"]["time_field"] == "eventTime"
    assert (rows["line 1"]["ips"], rows["line 2"]["ips"], rows["line 5"]["ips"]) == (["203.0.113.5"], ["2001:db8::1"], [])
    assert lake.rows("SELECT field, type, value FROM observables ORDER BY value") == [
        ("(top-level field)", "ip", "2001:db8::1"), ("(top-level field)", "ip", "203.0.113.5")]
    assert rows["line 1"]["ips_bin"] == [ip_to_bin(ipaddress.ip_address("203.0.113.5"))]
    reasons = {q["locator"]: q["reason"] for q in lake.quarantine()}
    assert reasons["line 8"].startswith("no time field")
    assert reasons["line 9"] == "time field time is not a timestamp: yesterday"
    assert reasons["line 10"] == "record is not a JSON object (found an array)"
    assert reasons["line 11"].startswith("invalid JSON")


def test_never_chosen_by_auto_detection(lake: Any, tmp_path: Path) -> None:
    generic = get_source("json")
    samples = [b'{"time": "2024-01-01T00:00:00Z", "x": 1}\n{"time": "2024-01-01T00:00:01Z"}\n', b"[{}]", b"{}"]
    for head in samples:
        assert 0 < generic.detect(Sniff("x", head)) < 50
        assert detect(Sniff("x", head)) is None
    assert generic.detect(Sniff("x", b"PAR1", is_parquet=True)) == 0
    assert generic.detect(Sniff("x", b"2 123456789012 eni-1 ...")) == 0
    s = lake.ingest(write(tmp_path / "events.jsonl", samples[0]))
    assert (s.loaded, s.quarantined, s.sources) == (0, 1, {})
    assert lake.quarantine()[0]["reason"].startswith("cannot tell which source")


_when = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC))
_forms = st.sampled_from(["iso", "iso-offset", "s", "ms", "us", "ns", "ms-text"])
_records = st.fixed_dictionaries({
    "when": _when, "form": _forms,
    "field": st.sampled_from(["time", "timestamp", "@timestamp", "eventTime", "EventTime", "createdAt", "date"]),
    "id": st.one_of(st.none(), st.text(min_size=1, max_size=20), st.integers(0, 2**53)),
    "extra": st.dictionaries(st.sampled_from(["a", "b", "c"]), st.one_of(st.text(max_size=5), st.integers())),
})


def _time_value(when: datetime, form: str) -> Any:
    epoch = when.timestamp()
    return {
        "iso": when.isoformat().replace("+00:00", "Z"),
        "iso-offset": when.astimezone(timezone(timedelta(hours=5))).isoformat(),
        "s": int(epoch), "ms": int(epoch * 1000), "us": int(epoch * 10**6), "ns": int(epoch * 10**6) * 1000,
        "ms-text": str(int(epoch * 1000)),
    }[form]


def _expected(when: datetime, form: str) -> datetime:
    if form == "s":
        return when.replace(microsecond=0)
    if form in ("ms", "ms-text"):
        return when.replace(microsecond=when.microsecond // 1000 * 1000)
    return when


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_records, min_size=1, max_size=30))
def test_property_time_and_key(params: list[dict[str, Any]]) -> None:
    items = [{**p["extra"], p["field"]: _time_value(p["when"], p["form"]),
              **({"id": p["id"]} if p["id"] is not None else {})} for p in params]
    rows = normalise("json", items)
    for p, row in zip(params, rows, strict=True):
        assert row["_reject"] is None
        assert abs(row["event_time"] - _expected(p["when"], p["form"])) <= timedelta(microseconds=1)
        assert row["time_field"] == p["field"]
        if p["id"] is None or p["id"] == "":
            assert row["event_uid"].startswith("sha256:") and row["id_field"] is None
        else:
            assert (row["event_uid"], row["id_field"]) == (str(p["id"]), "id")
