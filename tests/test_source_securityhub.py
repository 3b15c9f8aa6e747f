"""Security Hub ASFF findings: BatchImportFindings, GetFindings and EventBridge shapes, typed
values, GuardDuty through Security Hub, threat intel observables, dedup, quarantine."""

from __future__ import annotations

import copy
import ipaddress
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.lake.addresses import ip_to_bin
from cairn.sources.base import Sniff
from cairn.sources.detect import detect
from srcdata import FIXTURES, jsonl, normalise, panther_case, write

DOCS = FIXTURES / "securityhub" / "aws-docs"
SAMPLES = {n: json.loads((DOCS / f"sample-finding-{n}.json").read_text(encoding="utf-8"))
           for n in ("fsbp", "cis-1.2.0", "cis-1.4.0", "pci-dss", "control-tower")}
FSBP = SAMPLES["fsbp"]
TESTS = "securityhub_asff_tests.jsonl"
DYNAMO = panther_case("securityhub", TESTS, "DynamoDB-Decoy-Accessed")
S3 = panther_case("securityhub", TESTS, "S3-Decoy-Accessed")
SECRET = panther_case("securityhub", TESTS, "Secret-Decoy-Listed-Not-Accessed")
SSM = panther_case("securityhub", TESTS, "Systems-Manager-Parameter-Decoy-Accessed")


def event(*findings: dict[str, Any], detail_type: str = "Security Hub Findings - Imported") -> dict[str, Any]:
    """An EventBridge event as Security Hub sends it (shape from the AWS event-format docs)."""
    return {
        "version": "0", "id": "8e5622f9-d81c-4d81-612a-9319e7ee2506", "detail-type": detail_type,
        "source": "aws.securityhub", "account": "123456789012", "time": "2024-05-24T22:53:42Z",
        "region": "us-east-1", "resources": [f["ProductArn"] + "/" + f["Id"] for f in findings],
        "detail": {"findings": list(findings)},
    }


def gd_via_securityhub() -> dict[str, Any]:
    """Derived: the FSBP sample carrying GuardDuty's flattened fields and threat intel indicators."""
    f = copy.deepcopy(FSBP)
    f["Id"] = "arn:aws:guardduty:us-east-2:123456789012:detector/1234/finding/5678"
    f["ProductArn"] = "arn:aws:securityhub:us-east-2::product/aws/guardduty"
    prefix = "aws/guardduty/service/action/networkConnectionAction/remoteIpDetails"
    f["ProductFields"] = {
        "aws/guardduty/service/action/actionType": "NETWORK_CONNECTION",
        f"{prefix}/ipAddressV4": "198.51.100.9",
        f"{prefix}/organization/asn": "64496",
        f"{prefix}/organization/asnOrg": "EXAMPLE-AS",
        f"{prefix}/country/countryName": "Example",
        "aws/securityhub/ProductName": "GuardDuty",
    }
    f["ThreatIntelIndicators"] = [
        {"Type": "IPV4_ADDRESS", "Value": "198.51.100.9", "Category": "COMMAND_AND_CONTROL", "Source": "x"},
        {"Type": "DOMAIN", "Value": "Evil.Example.COM.", "Source": "x"},
        {"Type": "URL", "Value": "http://evil.example.com/a", "Source": "x"},
        {"Type": "HASH_SHA256", "Value": "AB" * 32, "Source": "x"},
        {"Type": "IPV6_ADDRESS", "Value": "2001:DB8::9", "Source": "x"},
        {"Type": "MUTEX", "Value": "Global\\x", "Source": "x"},
    ]
    f["Network"] = {"Direction": "IN", "Protocol": "TCP", "SourceIpV4": "198.51.100.9", "SourcePort": 40000,
                    "DestinationIpV4": "10.0.0.5", "DestinationPort": 22, "SourceDomain": "Scanner.Example.NET"}
    f["UserDefinedFields"] = {"findingEnriched": "true"}
    f["Note"] = {"Text": "triaged", "UpdatedBy": "analyst", "UpdatedAt": "2021-09-29T00:00:00Z"}
    f["Malware"] = [{"Name": "EICAR", "Type": "TROJAN"}]
    return f


def _v4(ip: str) -> bytes:
    return ip_to_bin(ipaddress.ip_address(ip))


def test_batch_import_payload_of_aws_docs_samples(lake: Any, tmp_path: Path) -> None:
    s = lake.ingest(write(tmp_path / "import.json", {"Findings": list(SAMPLES.values())}))
    assert (s.records_read, s.loaded, s.quarantined, s.sources) == (5, 5, 0, {"securityhub": 1})
    r = lake.dicts("SELECT * FROM securityhub_findings WHERE generator_id LIKE 'aws-foundational%'")[0]
    assert r["finding_id"] == FSBP["Id"] and r["event_uid"] == FSBP["Id"] + "@2021-09-28T16:10:00.093000Z"
    assert r["event_time"] == r["updated_at"] == datetime(2021, 9, 28, 16, 10, 0, 93000, tzinfo=UTC)
    assert r["created_at"] == r["first_observed_at"] == datetime(2020, 8, 6, 2, 18, 23, 76000, tzinfo=UTC)
    assert r["last_observed_at"] == datetime(2021, 9, 28, 16, 10, 6, 956000, tzinfo=UTC)
    assert (r["class_uid"], r["activity_id"], r["schema_version"]) == (2004, 2, "2018-10-08")
    assert (r["product_arn"], r["product_name"], r["company_name"]) == (
        "arn:aws:securityhub:us-east-2::product/aws/securityhub", "Security Hub", "AWS")
    assert (r["aws_account_id"], r["region"]) == ("123456789012", "us-east-2")
    assert r["types"] == ["Software and Configuration Checks/Industry and Regulatory Standards/"
                          "AWS-Foundational-Security-Best-Practices"]
    assert r["title"] == "CloudTrail.2 CloudTrail should have encryption at-rest enabled"
    assert (r["severity_label"], r["severity_normalized"], r["severity_original"], r["severity_id"]) == (
        "MEDIUM", 40, "MEDIUM", 3)
    assert (r["record_state"], r["workflow_status"], r["compliance_status"], r["security_control_id"]) == (
        "ACTIVE", "NEW", "FAILED", "CloudTrail.2")
    trail = "arn:aws:cloudtrail:us-east-2:123456789012:trail/AWSMacieTrail-DO-NOT-EDIT"
    assert (r["resource_types"], r["resource_ids"]) == (["AwsCloudTrailTrail"], [trail])
    assert json.loads(r["resources"])[0]["Partition"] == "aws"
    assert json.loads(r["product_fields"])["ControlId"] == "CloudTrail.2"
    assert r["remote_ip"] is None and r["action"] is None and json.loads(r["raw"]) == FSBP
    ct = lake.dicts("SELECT * FROM securityhub_findings WHERE generator_id LIKE 'service-managed%'")[0]
    assert (ct["activity_id"], ct["resource_types"], ct["resource_ids"]) == (1, ["AwsAccount"], ["AWS::::Account:123456789012"])
    assert lake.rows("SELECT DISTINCT type, value FROM observables WHERE field = 'Resources[].Id' ORDER BY ALL") == [
        ("arn", trail),
        ("arn", "arn:aws:cloudtrail:us-west-2:123456789012:trail/AWSMacieTrail-DO-NOT-EDIT"),
        ("resource", "AWS::::Account:123456789012"),
    ]


def test_get_findings_output_of_panther_findings(lake: Any, tmp_path: Path) -> None:
    s = lake.ingest(write(tmp_path / "get.json", {"Findings": [DYNAMO, S3, SSM], "NextToken": "eyJ0b2tlbiI6IDF9"}))
    assert (s.records_read, s.loaded) == (3, 3)
    rows = {r["generator_id"]: r for r in lake.dicts("SELECT * FROM securityhub_findings")}
    d = rows["dynamodb.amazonaws.com"]
    assert d["event_time"] == datetime(2024, 5, 24, 22, 53, 24, tzinfo=UTC)  # "2024-05-24 22:53:24.000000000"
    assert d["processed_at"] == datetime(2024, 5, 24, 22, 53, 41, 884000, tzinfo=UTC)
    assert (d["action_type"], d["api"], d["api_service_name"], d["caller_type"]) == (
        "AWS_API_CALL", "Scan", "dynamodb.amazonaws.com", "remoteIp")
    assert (d["remote_ip"], d["remote_ip_bin"], d["remote_asn"]) == ("11.111.11.111", _v4("11.111.11.111"), None)
    assert d["remote_ip_field"] == "Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4"
    assert (d["severity_label"], d["severity_normalized"], d["product_name"], d["company_name"]) == (
        "HIGH", 70, "DecoyDetector", "Custom")
    assert rows["ssm.amazonaws.com"]["remote_ip"] is None
    obs = set(lake.rows("SELECT field, type, value FROM observables"))
    assert {
        ("Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4", "ip", "11.111.11.111"),
        ("Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4", "ip", "111.111.111.111"),
        ("Resources[].Id", "access_key", "ABC9ONWNS3155VIEJC8U"),
        ("Resources[].Id", "access_key", "ABCDEFG1HIJ2KLMNOPQR"),
        ("Resources[].Id", "arn", "arn:aws:s3:::panther-databucket"),
        ("Resources[].Id", "arn", "arn:aws:iam::123456789012:user/tester"),
        ("AwsAccountId", "account", "123456789012"),
    } <= obs


def test_eventbridge_events_one_record_per_finding(lake: Any, tmp_path: Path) -> None:
    lines = [
        event(DYNAMO, S3),  # two findings in one event
        event(SECRET),
        event(FSBP, detail_type="Security Hub Insight Results"),
        {**event(), "detail": {"findings": []}},
        event(FSBP, detail_type="Security Hub Findings - Custom Action"),
    ]
    s = lake.ingest(write(tmp_path / "events.jsonl", jsonl(lines)))
    assert s.sources == {"securityhub": 1}
    assert (s.records_read, s.loaded, s.quarantined) == (6, 4, 2) and s.balanced
    assert lake.rows("SELECT locator, generator_id FROM securityhub_findings ORDER BY locator") == [
        ("line 1 detail.findings[1]", "dynamodb.amazonaws.com"),
        ("line 1 detail.findings[2]", "s3.amazonaws.com"),
        ("line 2 detail.findings[1]", "secretsmanager.amazonaws.com"),
        ("line 5 detail.findings[1]", "aws-foundational-security-best-practices/v/1.0.0/CloudTrail.2"),
    ]
    assert json.loads(lake.scalar("SELECT raw FROM securityhub_findings WHERE locator LIKE 'line 1%[2]'")) == S3
    assert [(q["locator"], q["reason"]) for q in lake.quarantine()] == [
        ("line 3", "EventBridge event is not a Security Hub ASFF finding event "
                   "(detail-type Security Hub Insight Results)"),
        ("line 4", "EventBridge event has no detail.findings"),
    ]


def test_same_finding_in_every_shape_is_one_row_and_updates_are_new_rows(lake: Any, tmp_path: Path) -> None:
    first = lake.ingest(write(tmp_path / "a" / "import.json", {"Findings": [FSBP, DYNAMO]}))
    again = lake.ingest(
        write(tmp_path / "b" / "events.jsonl", jsonl([event(FSBP), event(DYNAMO)])),
        write(tmp_path / "b" / "bare.json", FSBP),
        write(tmp_path / "b" / "array.json.gz", [DYNAMO]),
    )
    assert (first.loaded, again.loaded, again.duplicates) == (2, 0, 4)
    update = dict(FSBP, UpdatedAt="2021-09-29T16:10:00.093Z", Workflow={"Status": "RESOLVED"}, RecordState="ARCHIVED")
    third = lake.ingest(write(tmp_path / "c" / "update.json", event(update)))
    assert third.loaded == 1
    assert lake.rows(
        "SELECT updated_at, workflow_status, record_state FROM securityhub_findings WHERE finding_id = ? "
        "ORDER BY updated_at", [FSBP["Id"]]
    ) == [
        (datetime(2021, 9, 28, 16, 10, 0, 93000, tzinfo=UTC), "NEW", "ACTIVE"),
        (datetime(2021, 9, 29, 16, 10, 0, 93000, tzinfo=UTC), "RESOLVED", "ARCHIVED"),
    ]


def test_guardduty_through_security_hub_and_threat_intel(lake: Any, tmp_path: Path) -> None:
    lake.ingest(write(tmp_path / "gd.json", event(gd_via_securityhub())))
    [r] = lake.dicts("SELECT * FROM securityhub_findings")
    assert (r["remote_ip"], r["remote_ip_bin"], r["remote_asn"], r["remote_asn_org"], r["remote_country"]) == (
        "198.51.100.9", _v4("198.51.100.9"), 64496, "EXAMPLE-AS", "Example")
    assert r["remote_ip_field"] == (
        "ProductFields.aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4")
    assert (r["src_ip"], r["src_port"], r["src_domain"], r["dst_ip"], r["dst_port"], r["network_direction"]) == (
        "198.51.100.9", 40000, "scanner.example.net", "10.0.0.5", 22, "IN")
    assert (r["indicator_ips"], r["indicator_domains"], r["indicator_urls"], r["indicator_hashes"]) == (
        ["198.51.100.9", "2001:db8::9"], ["evil.example.com"], ["http://evil.example.com/a"], ["ab" * 32])
    assert len(json.loads(r["threat_intel_indicators"])) == 6
    assert (json.loads(r["user_defined_fields"]), r["note_text"], r["note_updated_by"], r["malware_names"]) == (
        {"findingEnriched": "true"}, "triaged", "analyst", ["EICAR"])
    obs = set(lake.rows("SELECT field, type, value FROM observables WHERE type NOT IN ('arn', 'account')"))
    assert obs == {
        ("ProductFields.aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4",
         "ip", "198.51.100.9"),
        ("Network.SourceIpV4/V6", "ip", "198.51.100.9"),
        ("Network.DestinationIpV4/V6", "ip", "10.0.0.5"),
        ("Network.SourceDomain", "domain", "scanner.example.net"),
        ("ThreatIntelIndicators[].Value", "ip", "198.51.100.9"),
        ("ThreatIntelIndicators[].Value", "ip", "2001:db8::9"),
        ("ThreatIntelIndicators[].Value", "domain", "evil.example.com"),
        ("ThreatIntelIndicators[].Value", "url", "http://evil.example.com/a"),
        ("ThreatIntelIndicators[].Value", "hash", "ab" * 32),
    }
    assert r["indicator_ips_bin"] == [_v4("198.51.100.9"), ipaddress.ip_address("2001:db8::9").packed]
    assert lake.rows("SELECT ip_bin FROM observables WHERE field LIKE 'ProductFields%'") == [(_v4("198.51.100.9"),)]


def test_asff_syntax_template_placeholders_do_not_break_typing(lake: Any, tmp_path: Path) -> None:
    """The template's Action (``"Asn": "number"``, ``"Blocked": "boolean"``, ``Geolocation``) in a real finding."""
    action = json.loads((DOCS / "asff-syntax-action.json").read_text(encoding="utf-8"))
    lake.ingest(write(tmp_path / "f.json", dict(FSBP, Action=action)))
    [r] = lake.dicts("SELECT * FROM securityhub_findings")
    assert (r["action_type"], r["api"], r["remote_asn"], r["remote_isp"], r["dns_domain"]) == (
        "string", "string", None, "string", "string")
    assert r["remote_ip"] is None and r["remote_ip_field"] == "Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4"
    assert json.loads(r["action"]) == action


def test_unusable_findings_are_quarantined_with_a_reason(lake: Any, tmp_path: Path) -> None:
    lines = [
        FSBP,
        {k: v for k, v in FSBP.items() if k != "Id"},
        {k: v for k, v in FSBP.items() if k != "UpdatedAt"},
        dict(FSBP, UpdatedAt="string"),
        dict(FSBP, SchemaVersion="2024-01-01"),
        dict(FSBP, Severity={"Normalized": "high"}),
        dict(FSBP, Resources={"Id": "x"}),
        {**event(), "detail": {"findings": ["not a finding"]}},
    ]
    s = lake.ingest(write(tmp_path / "bad.jsonl", jsonl(lines)), source="securityhub")
    assert (s.records_read, s.loaded, s.quarantined) == (8, 1, 7)
    assert {q["locator"]: q["reason"] for q in lake.quarantine()} == {
        "line 2": "Id is missing",
        "line 3": "UpdatedAt is missing",
        "line 4": "UpdatedAt is not a timestamp: string",
        "line 5": "unsupported SchemaVersion 2024-01-01 (ASFF is 2018-10-08)",
        "line 6": "Severity.Normalized is not a number: high",
        "line 7": "Resources is not a list",
        "line 8 detail.findings[1]": "finding is not a JSON object (found a string)",
    }


def test_detection() -> None:
    def name(value: Any) -> str | None:
        src = detect(Sniff("x", (value if isinstance(value, str) else json.dumps(value)).encode()))
        return src.name if src else None

    assert name({"Findings": [FSBP]}) == "securityhub"
    assert name(FSBP) == "securityhub"
    assert name(jsonl([event(DYNAMO), event(S3)])) == "securityhub"
    assert name({"Findings": [gd_via_securityhub()]}) == "securityhub"
    v2 = event(FSBP, detail_type="Findings Imported V2")
    assert name(v2) != "securityhub"


_ts = st.datetimes(min_value=datetime(2018, 10, 8), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC))
_findings = st.fixed_dictionaries({
    "id": st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=60),
    "updated": _ts,
    "normalized": st.integers(0, 100),
    "account": st.from_regex(r"[0-9]{12}", fullmatch=True),
    "src": st.ip_addresses(),
    "remote": st.ip_addresses(v=4),
    "in_event": st.booleans(),
})


def _asff(p: dict[str, Any]) -> dict[str, Any]:
    f = copy.deepcopy(FSBP)
    f.update(Id=p["id"], AwsAccountId=p["account"], Severity={"Normalized": p["normalized"]},
             UpdatedAt=p["updated"].isoformat().replace("+00:00", "Z"),
             CreatedAt=(p["updated"] - timedelta(days=1)).isoformat().replace("+00:00", "Z"))
    key = "SourceIpV4" if p["src"].version == 4 else "SourceIpV6"
    f["Network"] = {key: str(p["src"])}
    f["Action"] = {"ActionType": "NETWORK_CONNECTION",
                   "NetworkConnectionAction": {"RemoteIpDetails": {"IpAddressV4": str(p["remote"])}}}
    return f


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_findings, min_size=1, max_size=30))
def test_property_findings_round_trip(params: list[dict[str, Any]]) -> None:
    items = [event(_asff(p)) if p["in_event"] else _asff(p) for p in params]
    rows = normalise("securityhub", items)
    assert len(rows) == len(params)
    for p, row in zip(params, rows, strict=True):
        assert row["_reject"] is None and row["error"] is None
        assert row["finding_id"] == p["id"] and row["event_time"] == p["updated"]
        assert row["event_uid"] == f"{p['id']}@{p['updated']:%Y-%m-%dT%H:%M:%S.%fZ}"
        assert row["locator"].endswith(" detail.findings[1]") == p["in_event"]
        n = p["normalized"]
        label = ("INFORMATIONAL" if n == 0 else "LOW" if n < 40 else "MEDIUM" if n < 70
                 else "HIGH" if n < 90 else "CRITICAL")
        assert (row["severity_normalized"], row["severity_label"]) == (n, label)
        assert (row["aws_account_id"], row["src_ip"], row["remote_ip"]) == (p["account"], str(p["src"]), str(p["remote"]))
        assert row["remote_ip_field"] == "Action.NetworkConnectionAction.RemoteIpDetails.IpAddressV4"
