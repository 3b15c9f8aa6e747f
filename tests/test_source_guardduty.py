"""GuardDuty findings: EventBridge, GetFindings (camelCase) and boto3 (PascalCase) shapes,
typed values, versions and dedup, observables, quarantine, detection."""

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
from srcdata import FIXTURES, jsonl, normalise, panther_case, pascal, write

TESTS = "guardduty_tests.jsonl"
HIGH = panther_case("guardduty", TESTS, "High Sev Finding")
HIGH_SAMPLE = panther_case("guardduty", TESTS, "High Sev Finding As Sample Data")
CRITICAL = panther_case("guardduty", TESTS, "Critical Sev Finding")
MEDIUM = panther_case("guardduty", TESTS, "Medium Sev Finding")
ENVELOPE = (FIXTURES / "guardduty" / "aws-docs" / "cloudwatch-event-format.tmpl").read_text(encoding="utf-8")
PROVENANCE = {"raw", "origin", "locator", "ingest_run", "service", "resource"}


def eventbridge(finding: dict[str, Any]) -> dict[str, Any]:
    """The AWS docs' CloudWatch/EventBridge event with the finding as ``detail``."""
    return json.loads(ENVELOPE.replace("{GUARDDUTY_FINDING_JSON_OBJECT}", json.dumps(finding)))


def derived(finding: dict[str, Any], finding_id: str, action: dict[str, Any] | None = None,
            resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of a real finding with another id and, optionally, another action / resource."""
    f = copy.deepcopy(finding)
    f["id"] = finding_id
    if action is not None:
        f["service"]["action"] = action
    if resource is not None:
        f["resource"] = resource
    return f


NETWORK = {
    "actionType": "NETWORK_CONNECTION",
    "networkConnectionAction": {
        "blocked": False, "connectionDirection": "INBOUND", "protocol": "TCP",
        "localIpDetails": {"ipAddressV4": "172.31.43.6"}, "localPortDetails": {"port": 22, "portName": "SSH"},
        "remotePortDetails": {"port": 46540, "portName": "Unknown"},
        "remoteIpDetails": {
            "ipAddressV4": "198.51.100.7",
            "organization": {"asn": "-1", "asnOrg": "GeneratedFindingASNOrg", "isp": "GeneratedFindingISP",
                             "org": "GeneratedFindingORG"},
            "country": {"countryCode": "XX", "countryName": "GeneratedFindingCountryName"},
            "city": {"cityName": "GeneratedFindingCityName"},
        },
    },
}
PROBE = {
    "actionType": "PORT_PROBE",
    "portProbeAction": {"blocked": False, "portProbeDetails": [
        {"localPortDetails": {"port": 80}, "localIpDetails": {"ipAddressV4": "10.0.0.6"},
         "remoteIpDetails": {"ipAddressV4": "203.0.113.1"}},
        {"localPortDetails": {"port": 443}, "remoteIpDetails": {"ipAddressV6": "2001:DB8::1"}},
    ]},
}
DNS = {"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": "Pool.Minexmr.COM.", "protocol": "UDP", "blocked": True}}
RESOURCE = {
    "resourceType": "AccessKey",
    "accessKeyDetails": {"accessKeyId": "ASIAIOSFODNN7EXAMPLE", "principalId": "AIDA3UBBJ2K3TVEXAMPLE",
                         "userName": "john_doe", "userType": "IAMUser"},
    "instanceDetails": {"instanceId": "i-99999999", "networkInterfaces": [
        {"publicIp": "198.51.100.200", "privateIpAddress": "10.0.0.1"}]},
    "s3BucketDetails": [{"name": "bucket-one", "arn": "arn:aws:s3:::bucket-one"}, {"name": "bucket-two"}],
}


def _v4(ip: str) -> bytes:
    return ip_to_bin(ipaddress.ip_address(ip))


def test_eventbridge_event_from_aws_docs_with_a_real_finding(lake: Any, tmp_path: Path) -> None:
    s = lake.ingest(write(tmp_path / "event.json", eventbridge(HIGH)))
    assert (s.records_read, s.loaded, s.sources) == (1, 1, {"guardduty": 1})
    [r] = lake.dicts("SELECT * FROM guardduty_findings")
    assert r["event_uid"] == "eeb88ab56556eb7771b266670dddee5a@2020-02-14T18:12:22.316000Z"
    assert r["locator"] == "document detail" and json.loads(r["raw"]) == HIGH
    assert r["event_time"] == r["updated_at"] == r["created_at"] == datetime(2020, 2, 14, 18, 12, 22, 316000, tzinfo=UTC)
    assert (r["class_uid"], r["activity_id"]) == (2004, 1)
    assert r["first_seen"] == r["last_seen"] == datetime(2020, 2, 14, 17, 59, 17, tzinfo=UTC)
    assert (r["finding_id"], r["account_id"], r["region"], r["partition"]) == (
        "eeb88ab56556eb7771b266670dddee5a", "123456789012", "us-east-1", "aws")
    assert r["arn"].endswith("/finding/90b82273685661b9318f078d0851fe9a")
    assert r["type"] == "PrivilegeEscalation:IAMUser/AdministrativePermissions"
    assert (r["severity"], r["severity_label"], r["severity_id"]) == (8.0, "High", 4)
    assert (r["count"], r["archived"], r["sample"], r["resource_role"]) == (1, False, None, "TARGET")
    assert r["detector_id"] == "111111bbbbbbbbbb5555555551111111"
    assert (r["action_type"], r["api"], r["api_service_name"], r["caller_type"], r["api_domain"]) == (
        "AWS_API_CALL", "PutRolePolicy", "iam.amazonaws.com", "Domain", "cloudformation.amazonaws.com")
    assert r["remote_ip"] is None and r["threat_list_names"] is None
    assert json.loads(r["service"])["action"]["awsApiCallAction"]["affectedResources"] == {
        "AWS::IAM::Role": "arn:aws:iam::123456789012:role/IAMRole"}
    assert lake.rows("SELECT field, type, value FROM observables ORDER BY ALL") == [
        ("accountId", "account", "123456789012"),
        ("service.action.awsApiCallAction.domainDetails.domain", "domain", "cloudformation.amazonaws.com"),
    ]


def _typed(lake: Any, where: str = "") -> list[dict[str, Any]]:
    rows = lake.dicts(f"SELECT * FROM guardduty_findings {where} ORDER BY finding_id")
    return [{k: v for k, v in r.items() if k not in PROVENANCE} for r in rows]


def test_get_findings_and_boto3_shapes_give_the_same_rows(make_lake: Any, tmp_path: Path) -> None:
    findings = [HIGH, CRITICAL, derived(MEDIUM, "nc-1", NETWORK), derived(MEDIUM, "pp-1", PROBE, RESOURCE),
                derived(MEDIUM, "dns-1", DNS)]
    shapes = {
        "eventbridge.jsonl": jsonl([eventbridge(f) for f in findings]),
        "getfindings.json": {"findings": findings},
        "bare-array.json": findings,
        "boto3.json": {"Findings": [pascal(f) for f in findings], "ResponseMetadata": {"HTTPStatusCode": 200}},
        "boto3-lines.jsonl.gz": jsonl([pascal(f) for f in findings]),
        "cwl-export.log": "".join(f"2020-02-14T18:12:23.000Z {json.dumps(eventbridge(f))}\n" for f in findings),
    }
    results = []
    for name, data in shapes.items():
        lake = make_lake(name)
        s = lake.ingest(write(tmp_path / name / name, data))
        assert (s.records_read, s.loaded, s.quarantined, s.sources) == (5, 5, 0, {"guardduty": 1}), name
        results.append(_typed(lake))
    assert all(r == results[0] for r in results)
    lake = make_lake("all")
    assert lake.ingest(tmp_path / "getfindings.json").loaded == 5
    again = lake.ingest(tmp_path)
    assert (again.loaded, again.duplicates) == (0, 30)


def test_action_types_remote_and_local_addresses(lake: Any, tmp_path: Path) -> None:
    findings = [derived(MEDIUM, "nc-1", NETWORK), derived(MEDIUM, "pp-1", PROBE, RESOURCE), derived(MEDIUM, "dns-1", DNS)]
    lake.ingest(write(tmp_path / "f.json", {"Findings": [pascal(f) for f in findings]}))
    rows = {r["finding_id"]: r for r in lake.dicts("SELECT * FROM guardduty_findings")}
    nc = rows["nc-1"]
    assert (nc["remote_ip"], nc["remote_ip_bin"]) == ("198.51.100.7", _v4("198.51.100.7"))
    assert nc["remote_ip_field"] == "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4"
    assert (nc["remote_asn"], nc["remote_asn_org"], nc["remote_isp"], nc["remote_org"]) == (
        "-1", "GeneratedFindingASNOrg", "GeneratedFindingISP", "GeneratedFindingORG")
    assert (nc["remote_country_code"], nc["remote_country"], nc["remote_city"]) == (
        "XX", "GeneratedFindingCountryName", "GeneratedFindingCityName")
    assert (nc["local_ip"], nc["local_port"], nc["remote_port"], nc["protocol"], nc["connection_direction"],
            nc["blocked"]) == ("172.31.43.6", 22, 46540, "TCP", "INBOUND", False)
    pp = rows["pp-1"]
    assert (pp["remote_ip"], pp["local_ip"], pp["local_port"]) == ("203.0.113.1", "10.0.0.6", 80)
    assert pp["remote_ip_field"] == "service.action.portProbeAction.portProbeDetails[].remoteIpDetails.ipAddressV4"
    assert pp["probe_remote_ips"] == ["203.0.113.1", "2001:db8::1"]
    assert (pp["access_key_id"], pp["principal_id"], pp["user_name"], pp["user_type"]) == (
        "ASIAIOSFODNN7EXAMPLE", "AIDA3UBBJ2K3TVEXAMPLE", "john_doe", "IAMUser")
    assert (pp["instance_id"], pp["instance_public_ips"], pp["instance_private_ips"]) == (
        "i-99999999", ["198.51.100.200"], ["10.0.0.1"])
    assert (pp["bucket_names"], pp["resource_type"]) == (["bucket-one", "bucket-two"], "AccessKey")
    dns = rows["dns-1"]
    assert (dns["dns_domain"], dns["protocol"], dns["blocked"], dns["remote_ip"]) == ("pool.minexmr.com", "UDP", True, None)
    obs = set(lake.rows("SELECT event_uid LIKE 'nc-1@%', field, type, value FROM observables WHERE event_uid NOT LIKE 'dns%'"))
    assert {
        (True, "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4", "ip", "198.51.100.7"),
        (True, "service.action.networkConnectionAction.localIpDetails.ipAddressV4", "ip", "172.31.43.6"),
        (False, "service.action.portProbeAction.portProbeDetails[].remoteIpDetails.ipAddressV4", "ip", "203.0.113.1"),
        (False, "service.action.portProbeAction.portProbeDetails[].remoteIpDetails.ipAddressV6", "ip", "2001:db8::1"),
        (False, "service.action.portProbeAction.portProbeDetails[].localIpDetails.ipAddressV4", "ip", "10.0.0.6"),
        (False, "resource.accessKeyDetails.accessKeyId", "access_key", "ASIAIOSFODNN7EXAMPLE"),
        (False, "resource.accessKeyDetails.principalId", "user", "AIDA3UBBJ2K3TVEXAMPLE"),
        (False, "resource.accessKeyDetails.userName", "user", "john_doe"),
        (False, "resource.instanceDetails.instanceId", "resource", "i-99999999"),
        (False, "resource.s3BucketDetails[].name", "resource", "bucket-one"),
        (False, "resource.s3BucketDetails[].name", "resource", "bucket-two"),
    } <= obs
    assert lake.rows("SELECT value FROM observables WHERE field = 'service.action.dnsRequestAction.domain'") == [
        ("pool.minexmr.com",)]
    bins = dict(lake.rows("SELECT value, ip_bin FROM observables WHERE type = 'ip' AND field LIKE '%localIpDetails%'"))
    assert bins == {"172.31.43.6": _v4("172.31.43.6"), "10.0.0.6": _v4("10.0.0.6")}


def test_panther_times_severity_bands_and_sample_flag(lake: Any, tmp_path: Path) -> None:
    low = panther_case("guardduty", TESTS, "Low Sev Finding")
    medium = derived(MEDIUM, "medium")
    boto_sample = pascal(derived(HIGH, "boto-sample"))
    boto_sample["Service"]["AdditionalInfo"] = {"Value": '{"sample":true}', "Type": "default"}
    lake.ingest(write(tmp_path / "f.jsonl", jsonl([CRITICAL, derived(low, "low"), medium,
                                                  derived(HIGH_SAMPLE, "sample"), boto_sample])))
    rows = {r["finding_id"]: r for r in lake.dicts("SELECT * FROM guardduty_findings")}
    crit = rows["8c258d654378414b9bc26f61a93eb816"]
    assert crit["event_time"] == datetime(2025, 2, 25, 20, 40, 6, 721000, tzinfo=UTC)  # "2025-02-25 20:40:06.721"
    assert crit["first_seen"] == datetime(2025, 2, 25, 20, 40, 6, tzinfo=UTC)  # nanoseconds as written by Panther
    assert (crit["severity"], crit["severity_label"], crit["severity_id"]) == (9.0, "Critical", 5)
    assert (crit["resource_type"], crit["feature_name"], crit["action_type"]) == ("AttackSequence", "Correlation", None)
    assert crit["title"].startswith("Potential credential compromise of IAMUser/john_doe")
    assert [rows[k]["severity_label"] for k in ("low", "medium")] == ["Low", "Medium"]
    assert (rows["sample"]["sample"], rows["boto-sample"]["sample"], rows["medium"]["sample"]) == (True, True, None)


def test_republished_finding_is_a_new_version_and_same_version_a_duplicate(lake: Any, tmp_path: Path) -> None:
    first = lake.ingest(write(tmp_path / "a" / "v1.json", eventbridge(HIGH)))
    v2 = copy.deepcopy(HIGH)
    v2["updatedAt"] = "2020-02-14T18:27:22.316Z"
    v2["service"]["count"] = 2
    v2["service"]["eventLastSeen"] = "2020-02-14T18:20:00Z"
    again = lake.ingest(write(tmp_path / "b" / "v1-again.json", {"findings": [HIGH]}))
    second = lake.ingest(write(tmp_path / "c" / "v2.json", eventbridge(v2)))
    assert (first.loaded, again.loaded, again.duplicates, second.loaded) == (1, 0, 1, 1)
    rows = lake.rows(
        "SELECT event_uid, activity_id, count, last_seen FROM guardduty_findings ORDER BY event_time")
    assert rows == [
        ("eeb88ab56556eb7771b266670dddee5a@2020-02-14T18:12:22.316000Z", 1, 1, datetime(2020, 2, 14, 17, 59, 17, tzinfo=UTC)),
        ("eeb88ab56556eb7771b266670dddee5a@2020-02-14T18:27:22.316000Z", 2, 2, datetime(2020, 2, 14, 18, 20, tzinfo=UTC)),
    ]
    # The same versions in the other casing are duplicates, too.
    third = lake.ingest(write(tmp_path / "d" / "boto3.json", {"Findings": [pascal(HIGH), pascal(v2)]}))
    assert (third.loaded, third.duplicates) == (0, 2)


def test_unusable_findings_are_quarantined_with_a_reason(lake: Any, tmp_path: Path) -> None:
    scan = eventbridge(HIGH)
    scan["detail-type"] = "GuardDuty Malware Protection Object Scan Result"
    lines = [
        eventbridge(HIGH),
        {k: v for k, v in HIGH.items() if k != "id"},
        {k: v for k, v in HIGH.items() if k != "updatedAt"},
        dict(HIGH, updatedAt="not a time"),
        dict(HIGH, severity="HIGH"),
        dict(HIGH, service=dict(HIGH["service"], count="many")),
        scan,
        ["not", "a", "finding"],
    ]
    s = lake.ingest(write(tmp_path / "bad.jsonl", jsonl(lines)), source="guardduty")
    assert (s.records_read, s.loaded, s.quarantined) == (8, 1, 7)
    reasons = {q["locator"]: q["reason"] for q in lake.quarantine()}
    assert reasons == {
        "line 2": "id is missing",
        "line 3": "updatedAt is missing",
        "line 4": "updatedAt is not a timestamp: not a time",
        "line 5": "severity is not a number: HIGH",
        "line 6": "service.count is not an integer: many",
        "line 7": "EventBridge event is not a GuardDuty finding (detail-type "
                  "GuardDuty Malware Protection Object Scan Result)",
        "line 8": "record is not a JSON object (found an array)",
    }


def test_detection() -> None:
    def name(value: Any) -> str | None:
        text = value if isinstance(value, str) else json.dumps(value)
        src = detect(Sniff("x", text.encode()))
        return src.name if src else None

    assert name(eventbridge(HIGH)) == "guardduty"
    assert name({"findings": [HIGH]}) == "guardduty"
    assert name({"Findings": [pascal(CRITICAL)]}) == "guardduty"
    assert name(jsonl([HIGH, MEDIUM])) == "guardduty"
    asff = json.loads((FIXTURES / "securityhub" / "aws-docs" / "sample-finding-fsbp.json").read_text())
    asff["ProductFields"]["aws/guardduty/service/detectorId"] = HIGH["service"]["detectorId"]
    assert name({"Findings": [asff]}) == "securityhub"
    ct = (FIXTURES / "cloudtrail" / "stratus" / "aws.persistence.sts-federation-token.json").read_text()
    assert name(ct) == "cloudtrail"


_ids = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
_times = st.datetimes(min_value=datetime(2017, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC))
_findings = st.fixed_dictionaries({
    "id": _ids,
    "updated": _times,
    "age": st.integers(0, 10**6),
    "severity": st.floats(1.0, 10.0, allow_nan=False).map(lambda x: round(x, 1)),
    "count": st.integers(1, 10**6),
    "ip": st.ip_addresses(),
    "action": st.sampled_from(["awsApiCallAction", "networkConnectionAction", "kubernetesApiCallAction"]),
    "pascal": st.booleans(),
    "envelope": st.booleans(),
})


def _finding(p: dict[str, Any]) -> dict[str, Any]:
    created = p["updated"] - timedelta(seconds=p["age"])
    key = "ipAddressV4" if p["ip"].version == 4 else "ipAddressV6"
    f = derived(MEDIUM, p["id"], {"actionType": "X", p["action"]: {"remoteIpDetails": {key: str(p["ip"])}}})
    f.update(updatedAt=p["updated"].isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             createdAt=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"), severity=p["severity"])
    f["service"]["count"] = p["count"]
    f = pascal(f) if p["pascal"] else f
    return eventbridge(f) if p["envelope"] and not p["pascal"] else f


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_findings, min_size=1, max_size=30))
def test_property_findings_round_trip(params: list[dict[str, Any]]) -> None:
    rows = normalise("guardduty", [_finding(p) for p in params])
    assert len(rows) == len(params)
    for p, row in zip(params, rows, strict=True):
        assert row["_reject"] is None and row["error"] is None
        assert row["finding_id"] == p["id"] and row["event_time"] == row["updated_at"] == p["updated"]
        assert row["event_uid"] == f"{p['id']}@{p['updated']:%Y-%m-%dT%H:%M:%S.%fZ}"
        assert row["activity_id"] == (1 if p["age"] == 0 else 2)
        assert (row["severity"], row["count"]) == (p["severity"], p["count"])
        assert row["severity_label"] == ("Low" if p["severity"] < 4 else "Medium" if p["severity"] < 7
                                         else "High" if p["severity"] < 9 else "Critical")
        assert row["remote_ip"] == str(p["ip"])  # canonicalised later by the ingest's address map
        v = "ipAddressV4" if p["ip"].version == 4 else "ipAddressV6"
        assert row["remote_ip_field"] == f"service.action.{p['action']}.remoteIpDetails.{v}"
