"""CloudTrail in every wrapper and delivery layout, with typed values checked on real records."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import CT_FIXTURES, stratus_records
from ctdata import (
    ACCOUNT,
    ORG,
    cwl_export,
    digest_body,
    digest_key,
    eventbridge,
    gz,
    json_lines,
    lookup_events,
    records_doc,
    trail_key,
    write,
)

RECORDS = stratus_records()  # 10 real records, 4 techniques
IDS = sorted(r["eventID"] for r in RECORDS)

# name -> (files to write, locator pattern)
VARIANTS: dict[str, tuple[dict[str, bytes], str]] = {
    "records.json": ({"t.json": records_doc(RECORDS)}, r"Records\[\d+\]"),
    "records.json.gz": ({"t.json.gz": gz(records_doc(RECORDS))}, r"Records\[\d+\]"),
    "records pretty": ({"t.json": json.dumps({"Records": RECORDS}, indent=2).encode()}, r"Records\[\d+\]"),
    "gzip named .json": ({"t.json": gz(records_doc(RECORDS))}, r"Records\[\d+\]"),
    "bare array": ({"a.json": json.dumps(RECORDS).encode()}, r"\[\d+\]"),
    "json lines": ({"l.jsonl": json_lines(RECORDS)}, r"line \d+"),
    "json lines gz": ({"l.json.gz": gz(json_lines(RECORDS))}, r"line \d+"),
    "cloudwatch logs messages": ({"cwl.log": b"".join(json.dumps(r).encode() + b"\r\n" for r in RECORDS)}, r"line \d+"),
    "cloudwatch logs export": ({"000000.gz": gz(cwl_export(RECORDS))}, r"line \d+"),
    "eventbridge single": (
        {f"eb{i:02d}.json": json.dumps(eventbridge(r, i), indent=1).encode() for i, r in enumerate(RECORDS)},
        r"document detail",
    ),
    "eventbridge array": ({"eb.json": json.dumps([eventbridge(r, i) for i, r in enumerate(RECORDS)]).encode()},
                          r"\[\d+\] detail"),
    "eventbridge lines": ({"eb.jsonl": json_lines([eventbridge(r, i) for i, r in enumerate(RECORDS)])},
                          r"line \d+ detail"),
    "lookup events": ({"lookup.json": json.dumps(lookup_events(RECORDS), indent=4).encode()},
                      r"Events\[\d+\] CloudTrailEvent"),
    "lookup events pages": (
        {"pages.json": json_lines([lookup_events(RECORDS[:4]), lookup_events(RECORDS[4:])])},
        r"doc [12] Events\[\d+\] CloudTrailEvent",
    ),
    "concatenated trail files": (
        {"cat.json": records_doc(RECORDS[:3]) + b"\n" + records_doc(RECORDS[3:])},
        r"doc [12] Records\[\d+\]",
    ),
}

# Columns that must not depend on how a record was delivered.
TYPED = (
    "event_uid, event_time, event_date, activity_id, status, event_version, event_source, event_name, "
    "event_type, aws_region, source_ip_address, src_ip, src_ip_bin, src_ip_kind, user_agent, read_only, "
    "identity_type, principal_id, identity_arn, principal_arn, account_id, access_key_id, user_name, "
    "session_issuer_arn, session_name, mfa_authenticated, session_created, recipient_account_id, "
    "tls_version, client_host_header, resource_arns, json(raw)::VARCHAR AS raw"
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from conftest import Lake

    root = tmp_path_factory.mktemp("baseline")
    lake = Lake(root / "ws")
    try:
        lake.ingest(*[p for p in sorted((CT_FIXTURES / "stratus").glob("*.json"))])
        return lake.dicts(f"SELECT {TYPED} FROM cloudtrail ORDER BY event_uid")
    finally:
        lake.close()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_wrapper_gives_the_same_rows(variant: str, make_lake: Any, tmp_path: Path,
                                           baseline: list[dict[str, Any]]) -> None:
    files, locator = VARIANTS[variant]
    for name, data in files.items():
        write(tmp_path / "in", name, data)
    lake = make_lake()
    s = lake.ingest(tmp_path / "in")
    assert (s.records_read, s.loaded, s.duplicates, s.quarantined) == (len(RECORDS), len(RECORDS), 0, 0)
    assert s.files == len(files) and s.files_skipped == 0
    assert s.tables["cloudtrail"].loaded == len(RECORDS)
    rows = lake.dicts(f"SELECT {TYPED} FROM cloudtrail ORDER BY event_uid")
    assert rows == baseline
    locators = [r[0] for r in lake.rows("SELECT locator FROM cloudtrail")]
    assert all(re.fullmatch(locator, loc) for loc in locators), locators
    assert lake.scalar("SELECT count(*) FROM quarantine") == 0


def test_trail_bucket_layout_with_org_trail_and_digests(lake: Any, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    a, b = RECORDS[:6], RECORDS[6:]
    k1 = trail_key("us-east-1", "2024-11-26T15:40")
    k2 = trail_key("eu-west-1", "2024-11-30T08:45", org=ORG, n=1)
    k3 = trail_key("us-east-1", "2024-11-26T15:45", n=2).removesuffix(".gz")  # plain .json
    write(bucket, k1, gz(records_doc(a)))
    write(bucket, k2, gz(records_doc(b)))
    write(bucket, k3, records_doc(a[:2]))  # the same events delivered twice
    dk = digest_key("us-east-1", "2024-11-26T16:00")
    write(bucket, dk, gz(json.dumps(digest_body("bucket", [k1])).encode()))
    # A digest body outside a CloudTrail-Digest folder is recognised by content.
    write(bucket, "copies/digest-copy.json", json.dumps(digest_body("bucket", [k1, k2])).encode())
    s = lake.ingest(bucket / "AWSLogs", bucket / "copies")
    assert s.files == 5 and s.files_skipped == 2
    assert s.skipped == {"CloudTrail digest file": 2}
    assert (s.records_read, s.loaded, s.duplicates, s.quarantined) == (12, 10, 2, 0)
    origins = {r[0] for r in lake.rows("SELECT DISTINCT origin FROM cloudtrail")}
    assert origins == {str((bucket / k).resolve()) for k in (k1, k2)}
    assert k2.startswith(f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/eu-west-1/2024/11/30/")
    assert sorted(r[0] for r in lake.rows("SELECT event_uid FROM cloudtrail")) == IDS


def test_logstash_export_uses_timestamp(lake: Any) -> None:
    path = CT_FIXTURES / "otrf" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"
    lines = path.read_text(encoding="utf-8").splitlines()
    s = lake.ingest(path)
    assert (s.records_read, s.loaded, s.quarantined) == (len(lines), len(lines), 0)
    first = json.loads(lines[0])
    assert "eventTime" not in first
    got = lake.rows("SELECT event_time, locator, event_date FROM cloudtrail WHERE event_uid = ?", [first["eventID"]])
    want = datetime.strptime(first["@timestamp"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    assert got[0][0] == want and got[0][0].utcoffset().total_seconds() == 0
    assert got[0][1] == "line 1" and got[0][2] == want.date()
    # ec2.amazonaws.com acting for the account: a service name, not an address.
    svc = lake.dicts(
        "SELECT src_ip, src_ip_bin, src_ip_kind, src_domain, identity_type, principal_arn, invoked_by "
        "FROM cloudtrail WHERE source_ip_address = 'ec2.amazonaws.com'"
    )
    assert len(svc) == 5
    assert all(r == {"src_ip": None, "src_ip_bin": None, "src_ip_kind": "service",
                     "src_domain": "ec2.amazonaws.com", "identity_type": "AWSService",
                     "principal_arn": "ec2.amazonaws.com", "invoked_by": "ec2.amazonaws.com"} for r in svc)
    # The attacker's (redacted) address is an IP, with its observable.
    assert lake.scalar("SELECT count(*) FROM cloudtrail WHERE src_ip = '1.2.3.4' AND src_ip_kind = 'ip'") == 31
    assert lake.scalar(
        "SELECT count(*) FROM observables WHERE field = 'sourceIPAddress' AND type = 'ip' AND value = '1.2.3.4' "
        "AND ip_bin = from_hex('00000000000000000000FFFF01020304')"
    ) == 31


def test_assumed_role_identity(lake: Any) -> None:
    lake.ingest(CT_FIXTURES / "stratus")
    rec = stratus_records("aws.lateral-movement.ec2-serial-console-send-ssh-public-key")[0]
    ui = rec["userIdentity"]
    row = lake.dicts("SELECT * FROM cloudtrail WHERE event_uid = ?", [rec["eventID"]])[0]
    assert row["identity_type"] == "AssumedRole"
    assert row["principal_arn"] == ui["sessionContext"]["sessionIssuer"]["arn"]
    assert row["principal_arn"].startswith("arn:aws:iam::844015365555:role/")
    assert row["identity_arn"] == ui["arn"]
    assert row["session_issuer_type"] == "Role"
    # The anonymised ARN lost its session part; the name comes from principalId.
    assert row["session_name"] == ui["principalId"].split(":", 1)[1] == "randomca0L529zwNAY@gmail.com"
    assert row["access_key_id"] == "ASIA2HJRQF0DHNYEE9N1"
    assert row["mfa_authenticated"] is False
    assert row["session_created"] == datetime(2024, 11, 26, 15, 14, 58, tzinfo=UTC)
    assert row["event_time"] == datetime(2024, 11, 26, 15, 35, 22, tzinfo=UTC)
    assert row["event_version"] == "1.10" and row["read_only"] is False and row["management_event"] is True
    assert row["activity_id"] == 3 and row["status"] == "success"  # Enable... is an update
    assert row["tls_version"] == "TLSv1.3" and row["client_host_header"] == "ec2.cniso-east-3r.amazonaws.com"
    # Zero-padded octets (an anonymisation artefact) still give the address.
    assert (row["source_ip_address"], row["src_ip"], row["src_ip_kind"]) == ("201.252.42.03", "201.252.42.3", "ip")
    obs = {(f, t, v) for f, t, v in lake.rows(
        "SELECT field, type, value FROM observables WHERE event_uid = ?", [rec["eventID"]])}
    assert obs == {
        ("sourceIPAddress", "ip", "201.252.42.3"),
        ("userIdentity.arn", "arn", ui["arn"]),
        ("userIdentity.sessionContext.sessionIssuer.arn", "arn", ui["sessionContext"]["sessionIssuer"]["arn"]),
        ("userIdentity.accessKeyId", "access_key", "ASIA2HJRQF0DHNYEE9N1"),
        ("userIdentity.accountId", "account", "844015365555"),
        ("recipientAccountId", "account", "844015365555"),
        ("tlsDetails.clientProvidedHostHeader", "hostname", "ec2.cniso-east-3r.amazonaws.com"),
    }


def test_iam_user_federated_user_and_resources(lake: Any) -> None:
    lake.ingest(CT_FIXTURES / "stratus")
    fed = stratus_records("aws.persistence.sts-federation-token")
    user, federated = fed
    r = lake.dicts("SELECT * FROM cloudtrail WHERE event_uid = ?", [user["eventID"]])[0]
    assert r["principal_arn"] == r["identity_arn"] == user["userIdentity"]["arn"]
    assert r["access_key_id"].startswith("AKIA") and r["user_name"] == "stratus-red-team-user-federation-user"
    assert r["session_name"] is None
    r = lake.dicts("SELECT * FROM cloudtrail WHERE event_uid = ?", [federated["eventID"]])[0]
    assert r["identity_type"] == "FederatedUser"
    assert r["principal_arn"] == "arn:aws:sts::742491224508:federated-user/stratus_red_team"
    assert r["session_issuer_arn"] == federated["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"]
    unusual = stratus_records("aws.execution.ec2-launch-unusual-instances")
    role = "arn:aws:iam::900138736586:role/stratus-red-team-ec2lui-role-idtzskbvtd"
    for rec in unusual:
        got = lake.scalar("SELECT resource_arns FROM cloudtrail WHERE event_uid = ?", [rec["eventID"]])
        assert got == ([role] if rec.get("resources") else None)
    assert lake.scalar(
        "SELECT count(*) FROM observables WHERE field = 'resources[].ARN' AND type = 'resource' AND value = ?",
        [role],
    ) == 2


def test_service_and_aws_internal_source_addresses(lake: Any, tmp_path: Path) -> None:
    cases = [json.loads(line) for line in (CT_FIXTURES / "panther" / "cloudtrail_tests.jsonl").read_text().splitlines()]
    events = [c["log"] for c in cases]
    ipv6 = dict(RECORDS[0], eventID="ipv6-event-0001", sourceIPAddress="2001:DB8:0:0::7")
    mapped = dict(RECORDS[1], eventID="mapped-event-0001", sourceIPAddress="::ffff:198.51.100.7")
    write(tmp_path, "p.json", records_doc([*events, ipv6, mapped]))
    s = lake.ingest(tmp_path / "p.json")
    assert (s.records_read, s.loaded, s.quarantined) == (7, 7, 0)
    by_ip = {r["source_ip_address"]: r for r in lake.dicts(
        "SELECT source_ip_address, src_ip, src_ip_bin, src_ip_kind, src_domain, event_time FROM cloudtrail")}
    assert by_ip["AWS Internal"] | {"event_time": None} == {
        "source_ip_address": "AWS Internal", "src_ip": None, "src_ip_bin": None, "src_ip_kind": "aws_internal",
        "src_domain": None, "event_time": None}
    for svc in ("cloudformation.amazonaws.com", "sso.amazonaws.com"):
        assert (by_ip[svc]["src_ip"], by_ip[svc]["src_ip_kind"], by_ip[svc]["src_domain"]) == (None, "service", svc)
    v6 = by_ip["2001:DB8:0:0::7"]
    assert (v6["src_ip"], v6["src_ip_kind"]) == ("2001:db8::7", "ip")
    assert v6["src_ip_bin"] == bytes.fromhex("20010db8000000000000000000000007")
    m = by_ip["::ffff:198.51.100.7"]
    assert (m["src_ip"], m["src_ip_bin"]) == ("198.51.100.7", bytes.fromhex("00000000000000000000ffffc6336407"))
    obs = lake.rows("SELECT value, ip_bin FROM observables WHERE type = 'ip' AND event_uid = 'ipv6-event-0001'")
    assert obs == [("2001:db8::7", bytes.fromhex("20010db8000000000000000000000007"))]
    # Panther writes some times without the T and Z: still UTC.
    t = lake.scalar("SELECT event_time FROM cloudtrail WHERE event_uid = '0ea3f05a-066c-43f9-8869-393ba67e7936'")
    assert t == datetime(2022, 9, 29, 22, 25, 17, tzinfo=UTC)
    # Events without eventID get a content hash as their key.
    assert lake.scalar("SELECT count(*) FROM cloudtrail WHERE event_uid LIKE 'sha256:%'") == 2


def test_insights_go_to_their_own_table(lake: Any) -> None:
    s = lake.ingest(CT_FIXTURES / "aws-docs")
    assert s.files == 3 and s.files_skipped == 1  # the licence file
    assert (s.records_read, s.loaded, s.quarantined) == (3, 3, 0)
    assert s.tables["cloudtrail_insights"].loaded == 2 and s.tables["cloudtrail"].loaded == 1
    rows = lake.dicts(
        "SELECT event_uid, event_time, state, insight_id, event_source, event_name, insight_type, "
        "baseline_average, insight_average, aws_region FROM cloudtrail_insights ORDER BY event_time"
    )
    assert [r["state"] for r in rows] == ["Start", "End"]
    start = rows[0]
    assert start["event_uid"] == "EXAMPLE8-9621-4d00-b913-beca2EXAMPLE"
    assert start["event_time"] == datetime(2019, 11, 14, 0, 51, tzinfo=UTC)
    assert start["insight_id"] == rows[1]["insight_id"] == "EXAMPLE2-1729-42f1-b735-5d8c0EXAMPLE"
    assert (start["event_source"], start["event_name"], start["insight_type"]) == (
        "ssm.amazonaws.com", "UpdateInstanceInformation", "ApiCallRateInsight")
    assert start["baseline_average"] == pytest.approx(85.4202380952) and start["insight_average"] == 664
    err = lake.dicts("SELECT status, error_code, error_message, event_name FROM cloudtrail")[0]
    assert err == {"status": "failure", "error_code": "TrailNotFoundException",
                   "error_message": "Unknown trail: myTrail2 for the user: 123456789012", "event_name": "UpdateTrail"}


def test_large_first_line_goes_through_the_document_path(lake: Any, tmp_path: Path) -> None:
    """A JSON-lines file whose first record is bigger than the sniffed head is read as
    concatenated documents: locators are ``doc N document`` and every record loads."""
    big = dict(RECORDS[0], requestParameters={"userData": "A" * 100_000})
    write(tmp_path, "big.jsonl", json_lines([big, *RECORDS[1:]]))
    s = lake.ingest(tmp_path / "big.jsonl")
    assert (s.records_read, s.loaded, s.quarantined) == (10, 10, 0)
    locs = sorted(r[0] for r in lake.rows("SELECT locator FROM cloudtrail"))
    assert locs == sorted(f"doc {n} document" for n in range(1, 11))
    assert lake.scalar("SELECT length(request_parameters->>'userData') FROM cloudtrail WHERE locator = 'doc 1 document'") == 100_000


@pytest.mark.parametrize("body", ['{"Records":[]}', '\ufeff{ "Records" : [ ]\n}\n', '{"Records": []}{"Records": []}'])
def test_empty_trail_file_is_cloudtrail_with_no_records(body: str, lake: Any, tmp_path: Path) -> None:
    """An empty trail file is detected as CloudTrail in auto mode: a read file with 0 records, not quarantined."""
    write(tmp_path, "in/empty.json", body.encode())
    write(tmp_path, "in/empty.json.gz", gz(body.encode()))
    s = lake.ingest(tmp_path / "in")
    assert (s.files, s.files_skipped, s.records_read, s.quarantined) == (2, 0, 0, 0)
    assert s.sources == {"cloudtrail": 2}
    assert lake.scalar("SELECT count(*) FROM quarantine") == 0


def test_failed_sign_ins_are_failures(lake: Any, tmp_path: Path) -> None:
    """A failed console login has no errorCode: ``responseElements.<eventName>`` says ``Failure`` (real Panther
    test events: ConsoleLogin, PasswordUpdated, ExternalIdPDirectoryLogin). The lake's ``status``, OCSF's
    ``status_id`` and triage's error counts follow it."""
    import hashlib

    from cairn.triage import triage

    src = Path(__file__).parent / "fixtures" / "sigma" / "panther" / "cloudtrail_events.jsonl"
    events = []
    for line in src.read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        if ev.get("eventSource") == "signin.amazonaws.com" and ev.get("eventTime"):
            ev["eventID"] = hashlib.sha256(line.encode()).hexdigest()[:32]  # Panther reuses ids
            events.append(ev)
    want = {ev["eventID"]: "failure" if "Failure" in (ev.get("responseElements") or {}).values() else "success"
            for ev in events}
    assert sorted(set(want.values())) == ["failure", "success"]
    lake.ingest(write(tmp_path, "signin.jsonl", json_lines(events)))
    got = dict(lake.rows("SELECT event_uid, status FROM cloudtrail WHERE event_source = 'signin.amazonaws.com'"))
    assert got == {k: v for k, v in want.items() if k in got} and len(got) >= len(want) - 1
    assert list(got.values()).count("failure") >= 4

    failed = next(ev for ev in events if ev.get("eventName") == "ConsoleLogin"
                  and ev.get("errorMessage") == "Failed authentication")
    who = failed["userIdentity"].get("userName") or failed["userIdentity"]["arn"]
    rep = triage(lake.engine, lake.ws, {"identity": who, "time": failed["eventTime"]}).to_dict()
    logins = [a for a in rep["by_api"] if a["event_name"] == "ConsoleLogin"]
    assert logins and logins[0]["errors"] >= 1 and rep["counts"]["errors"] >= 1
