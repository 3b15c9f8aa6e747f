"""Files mixing EventBridge events of several sources: with ``--source auto`` each envelope goes
to the table of the source its detail-type names (GuardDuty, Security Hub, CloudTrail), per
record and whatever the sniffed head showed; an explicit ``--source`` keeps reading every record
as that source. Accounting holds per file and per run, and a re-run loads nothing new."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cairn.actions import lambda_handler
from cairn.sources import SOURCES
from cairn.sources.base import Sniff
from cairn.sources.detect import detect
from cairn.sources.eventbridge import DETAIL_TYPES, GUARDDUTY_FINDING, SECURITYHUB_FINDINGS, source_of
from conftest import stratus_records
from ctdata import eventbridge as cloudtrail_event
from ctdata import records_doc
from srcdata import FIXTURES, jsonl, panther_case, write

GD_TESTS = "guardduty_tests.jsonl"
HIGH = panther_case("guardduty", GD_TESTS, "High Sev Finding")
CRITICAL = panther_case("guardduty", GD_TESTS, "Critical Sev Finding")
# The same finding re-published (GuardDuty bumps updatedAt and service.count): a new version.
HIGH_V2 = {**HIGH, "updatedAt": "2020-02-14T18:27:22.316Z", "service": {**HIGH["service"], "count": 2}}
GD_ENVELOPE = (FIXTURES / "guardduty" / "aws-docs" / "cloudwatch-event-format.tmpl").read_text(encoding="utf-8")
FSBP = json.loads((FIXTURES / "securityhub" / "aws-docs" / "sample-finding-fsbp.json").read_text(encoding="utf-8"))
SH_TESTS = "securityhub_asff_tests.jsonl"
DYNAMO = panther_case("securityhub", SH_TESTS, "DynamoDB-Decoy-Accessed")
S3 = panther_case("securityhub", SH_TESTS, "S3-Decoy-Accessed")
CT = stratus_records("aws.persistence.sts-federation-token")[:2]
TABLES = ("guardduty_findings", "securityhub_findings", "cloudtrail")


def guardduty_event(finding: dict[str, Any]) -> dict[str, Any]:
    """The AWS docs' GuardDuty EventBridge event carrying a real finding."""
    return json.loads(GD_ENVELOPE.replace("{GUARDDUTY_FINDING_JSON_OBJECT}", json.dumps(finding)))


def securityhub_event(*findings: dict[str, Any], n: int = 0) -> dict[str, Any]:
    """A Security Hub "Findings - Imported" event (shape of the AWS event-format docs)."""
    return {
        "version": "0", "id": f"8e5622f9-d81c-4d81-612a-9319e7ee25{n:02d}", "detail-type": SECURITYHUB_FINDINGS[0],
        "source": "aws.securityhub", "account": "123456789012", "time": "2024-05-24T22:53:42Z",
        "region": "us-east-1", "resources": [f["ProductArn"] + "/" + f.get("Id", "") for f in findings],
        "detail": {"findings": list(findings)},
    }


# Mixed events: 3 GuardDuty findings, 3 Security Hub findings in 2 events, 2 CloudTrail API calls.
EVENTS: list[dict[str, Any]] = [
    guardduty_event(HIGH),
    securityhub_event(DYNAMO, S3, n=1),
    cloudtrail_event(CT[0], 0),
    guardduty_event(CRITICAL),
    securityhub_event(FSBP, n=2),
    cloudtrail_event(CT[1], 1),
    guardduty_event(HIGH_V2),
]
EXPECTED = {"guardduty_findings": 3, "securityhub_findings": 3, "cloudtrail": 2}
BAD_LINE = '{"version": "0", "detail-type": "GuardDuty Finding", "detail": {"id": '  # cut off: invalid JSON
BAD_ENVELOPE = {**guardduty_event(HIGH), "detail": "not a finding"}  # valid JSON, unusable event


def _mixed_lines() -> bytes:
    lines = jsonl(EVENTS).splitlines()
    return ("\n".join([*lines[:3], BAD_LINE, *lines[3:]]) + "\n").encode()


def _counts(lake: Any) -> dict[str, int]:
    return {t: lake.scalar(f"SELECT count(*) FROM {t}") for t in TABLES}


def _per_origin(lake: Any) -> dict[str, int]:
    """Rows of every table and the quarantine, by origin file name."""
    parts = " UNION ALL ".join(f"SELECT origin FROM {t}" for t in (*TABLES, "quarantine"))
    return {Path(o).name: n for o, n in lake.rows(f"SELECT origin, count(*) FROM ({parts}) GROUP BY 1")}


def _lake_files(lake: Any) -> list[str]:
    return sorted(p.relative_to(lake.ws.lake).as_posix() for p in lake.ws.lake.rglob("*.parquet"))


@pytest.mark.parametrize(("name", "data", "bad_locator", "bad_reason", "bad_source"), [
    ("events.jsonl", _mixed_lines(), "line 4", "invalid JSON: ", None),
    ("events.jsonl.gz", _mixed_lines(), "line 4", "invalid JSON: ", None),
    ("events.json", json.dumps([*EVENTS[:3], BAD_ENVELOPE, *EVENTS[3:]], indent=1).encode(),
     "[4]", "EventBridge detail is not an object", "guardduty"),
    ("events.json.gz", json.dumps([*EVENTS[:3], BAD_ENVELOPE, *EVENTS[3:]]).encode(),
     "[4]", "EventBridge detail is not an object", "guardduty"),
])
def test_mixed_file_loads_each_event_into_its_table(
    lake: Any, tmp_path: Path, name: str, data: bytes, bad_locator: str, bad_reason: str, bad_source: str | None,
) -> None:
    path = write(tmp_path / "in" / name, data)
    s = lake.ingest(path)
    read = sum(EXPECTED.values()) + 1
    assert (s.records_read, s.loaded, s.duplicates, s.quarantined) == (read, read - 1, 0, 1)
    assert {t: (c.read, c.loaded, c.quarantined) for t, c in s.tables.items()} == {
        t: (n, n, 0) for t, n in EXPECTED.items()}
    assert _counts(lake) == EXPECTED
    assert _per_origin(lake) == {name: read}
    # Every event keeps its place in the file; the finding lands as its own source reads it.
    lines = name.endswith((".jsonl", ".jsonl.gz"))
    at = (lambda i: f"line {i + 1 if i < 3 else i + 2}") if lines else (lambda i: f"[{i + 1 if i < 3 else i + 2}]")
    assert sorted(lake.rows("SELECT locator, finding_id, count FROM guardduty_findings")) == sorted(
        [(f"{at(i)} detail", EVENTS[i]["detail"]["id"], EVENTS[i]["detail"]["service"]["count"]) for i in (0, 3, 6)])
    assert sorted(lake.rows("SELECT locator, generator_id FROM securityhub_findings")) == sorted([
        (f"{at(1)} detail.findings[1]", DYNAMO["GeneratorId"]),
        (f"{at(1)} detail.findings[2]", S3["GeneratorId"]),
        (f"{at(4)} detail.findings[1]", FSBP["GeneratorId"]),
    ])
    assert sorted(lake.rows("SELECT locator, event_uid FROM cloudtrail")) == sorted(
        [(f"{at(2)} detail", CT[0]["eventID"]), (f"{at(5)} detail", CT[1]["eventID"])])
    assert json.loads(lake.scalar("SELECT raw FROM securityhub_findings WHERE locator LIKE '%[2]'")) == S3
    # Observables are written for every table.
    assert {r[0] for r in lake.rows("SELECT DISTINCT source FROM observables")} == set(EXPECTED)
    [q] = lake.quarantine()
    assert (Path(q["origin"]).name, q["locator"]) == (name, bad_locator) and q["reason"].startswith(bad_reason)
    if bad_source:
        assert q["source"] == bad_source and json.loads(q["raw"]) == BAD_ENVELOPE
    else:
        assert q["raw"] == BAD_LINE.encode()

    before, files = {**_counts(lake), "q": lake.scalar("SELECT count(*) FROM quarantine")}, _lake_files(lake)
    again = lake.ingest(path)
    assert (again.records_read, again.loaded, again.duplicates, again.quarantined, again.quarantined_new) == (
        read, 0, read - 1, 1, 0)
    assert {**_counts(lake), "q": lake.scalar("SELECT count(*) FROM quarantine")} == before
    assert _lake_files(lake) == files


def test_every_shape_in_one_run_balances_per_file(lake: Any, tmp_path: Path) -> None:
    """Four copies of the mix (JSON lines, gzipped, array, gzipped array): one loads, the others
    are duplicates, each file's malformed record is quarantined under its own origin."""
    array = json.dumps([*EVENTS[:3], BAD_ENVELOPE, *EVENTS[3:]]).encode()
    names = {"a.jsonl": _mixed_lines(), "b.jsonl.gz": _mixed_lines(), "c.json": array, "d.json.gz": array}
    for name, data in names.items():
        write(tmp_path / "in" / name, data)
    s = lake.ingest(tmp_path / "in")
    good = sum(EXPECTED.values())
    assert (s.files, s.records_read, s.loaded, s.duplicates, s.quarantined) == (4, 4 * (good + 1), good, 3 * good, 4)
    for table, n in EXPECTED.items():
        c = s.tables[table]
        assert (c.read, c.loaded, c.duplicates) == (4 * n, n, 3 * n)
    assert _counts(lake) == EXPECTED
    # The first file (by origin) keeps every row; each file has its malformed record quarantined.
    assert _per_origin(lake) == {"a.jsonl": good + 1, "b.jsonl.gz": 1, "c.json": 1, "d.json.gz": 1}
    again = lake.ingest(tmp_path / "in")
    assert (again.loaded, again.duplicates, again.quarantined, again.quarantined_new) == (0, 4 * good, 4, 0)
    assert lake.scalar("SELECT count(*) FROM quarantine") == 4


def test_events_past_the_sniffed_head_are_routed_too(lake: Any, tmp_path: Path) -> None:
    """Routing is per record: GuardDuty events after 64 KiB of Security Hub events still load."""
    findings = []
    for i in range(60):
        f = copy.deepcopy(FSBP)
        f["Id"] = f"{FSBP['Id']}-{i}"
        findings.append(securityhub_event(f, n=i))
    data = jsonl([*findings, guardduty_event(HIGH), guardduty_event(CRITICAL)]).encode()
    assert b"GuardDuty Finding" not in data[:64 * 1024]
    s = lake.ingest(write(tmp_path / "late.jsonl", data))
    assert s.sources == {"securityhub": 1}
    assert (s.records_read, s.loaded, s.quarantined) == (62, 62, 0)
    assert lake.rows("SELECT locator FROM guardduty_findings ORDER BY locator") == [("line 61 detail",), ("line 62 detail",)]


def test_rejects_are_quarantined_under_the_source_that_read_them(lake: Any, tmp_path: Path) -> None:
    no_id = {k: v for k, v in FSBP.items() if k != "Id"}
    lines = [guardduty_event(HIGH), securityhub_event(no_id), {**securityhub_event(), "detail": {"findings": []}},
             {**guardduty_event(CRITICAL), "detail-type": "GuardDuty Malware Protection Object Scan Result"}]
    s = lake.ingest(write(tmp_path / "r.jsonl", jsonl(lines)))
    assert s.sources == {"guardduty": 1}
    assert (s.records_read, s.loaded, s.quarantined) == (4, 1, 3)
    assert s.tables["securityhub_findings"].quarantined == 1
    assert [(q["locator"], q["source"], q["reason"]) for q in lake.quarantine()] == [
        ("line 2 detail.findings[1]", "securityhub", "Id is missing"),
        ("line 3", "securityhub", "EventBridge event has no detail.findings"),
        # an unknown detail-type stays with the source the file was detected as
        ("line 4", "guardduty", "EventBridge event is not a GuardDuty finding "
                                "(detail-type GuardDuty Malware Protection Object Scan Result)"),
    ]


def test_explicit_source_keeps_reading_every_record_as_that_source(lake: Any, tmp_path: Path) -> None:
    s = lake.ingest(write(tmp_path / "m.jsonl", jsonl(EVENTS)), source="guardduty")
    assert (s.records_read, s.loaded, s.quarantined) == (len(EVENTS), 3, 4)
    assert _counts(lake) == {"guardduty_findings": 3, "securityhub_findings": 0, "cloudtrail": 0}
    reasons = sorted({q["reason"] for q in lake.quarantine()})
    assert reasons == [
        "EventBridge event is not a GuardDuty finding (detail-type AWS API Call via CloudTrail)",
        "EventBridge event is not a GuardDuty finding (detail-type Security Hub Findings - Imported)",
    ]


@pytest.mark.parametrize("order", [("a.json", "b.json"), ("b.json", "a.json")])
def test_trail_file_and_event_archive_in_one_folder(lake: Any, tmp_path: Path, order: tuple[str, str]) -> None:
    """A trail file and an archive of events are both CloudTrail by detection, but only the archive
    is routed: they are never batched together, whatever their order."""
    trail, archive = order
    records = stratus_records("aws.defense-evasion.cloudtrail-stop")
    write(tmp_path / "in" / trail, records_doc(records))
    write(tmp_path / "in" / archive, json.dumps([cloudtrail_event(CT[0]), guardduty_event(HIGH)]).encode())
    s = lake.ingest(tmp_path / "in")
    assert s.sources == {"cloudtrail": 2}
    assert (s.loaded, s.quarantined) == (len(records) + 2, 0)
    assert lake.scalar("SELECT count(*) FROM guardduty_findings") == 1


def test_one_mapping_of_detail_types() -> None:
    """The sources and ``cairn handle`` (the Lambda handler) know the same finding detail-types."""
    assert source_of(GUARDDUTY_FINDING) == "guardduty" and source_of(None) is None
    assert {dt for dt, s in DETAIL_TYPES.items() if s == "securityhub"} == set(lambda_handler.SECURITYHUB_TYPES)
    assert {dt for dt, s in DETAIL_TYPES.items() if s == "guardduty"} == {lambda_handler.GUARDDUTY_TYPE}
    assert set(DETAIL_TYPES.values()) <= set(SOURCES)


def test_detection_names_the_file_and_routes_only_envelopes() -> None:
    def found(value: Any) -> Any:
        return detect(Sniff("x", (value if isinstance(value, str) else json.dumps(value)).encode()))

    mixed = found(jsonl([guardduty_event(HIGH), securityhub_event(FSBP)]))
    assert mixed.name == "guardduty"
    assert {t.name for t in mixed.tables} >= {"guardduty_findings", "securityhub_findings", "cloudtrail"}
    assert mixed.source_of("securityhub_findings") == "securityhub" and mixed.source_of("guardduty_findings") == "guardduty"
    assert found(jsonl([guardduty_event(HIGH)])) is found(jsonl([guardduty_event(CRITICAL)]))  # built once
    # Inputs without envelopes are read by the plain source.
    assert found({"Findings": [FSBP]}) is SOURCES["securityhub"]
    assert found(json.loads(records_doc(CT))) is SOURCES["cloudtrail"]
