"""cairn.outputs.asff: the Security Hub service limits, and alerts as valid ASFF findings (checked against
the limits and against botocore's own BatchImportFindings request model)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.errors import ConfigError
from cairn.outputs import asff

ALERT: dict[str, Any] = {
    "alert_id": "9f2c4e1ab7d35c08e6a1f4b2c9d0e7a3", "rule_id": "4db60cc0-36fb-42b7-9b58-a5b53019fb74",
    "rule_title": "AWS CloudTrail Important Change", "title": "StopLogging by stratus-red-team-user",
    "severity": "high", "severity_id": 4, "first_seen": "2022-03-17T14:18:03+00:00",
    "last_seen": "2022-03-17T14:21:09+00:00", "event_count": 2, "event_uids": ["a", "b"], "source": "cloudtrail",
    "identity": "arn:aws:iam::012345678901:user/stratus-red-team-user",
    "resource": "arn:aws:cloudtrail:us-east-1:012345678901:trail/stratus-red-team-ctl-trail",
    "ips": ["203.0.113.7", "2001:db8::1"], "account_id": "012345678901", "dedup_key": "stratus-red-team-user",
    "max_score_id": 9, "created_at": "2022-03-17T14:25:00+00:00", "updated_at": "2022-03-17T15:00:00+00:00",
    "status": "new",
    "enrichment_summary": json.dumps({  # the shape cairn.detect writes (threat_type added: category)
        "max_score_id": 9, "observables": 5,
        "verdicts": [
            {"type": "ip", "value": "203.0.113.7", "score_id": 9, "score": "Malicious", "why": "c2",
             "sources": ["feodotracker"], "threat_type": "botnet_cc"},
            {"type": "domain", "value": "evil.example", "score_id": 8, "score": "Suspicious/Malicious",
             "sources": ["urlhaus"]},
            {"type": "ip", "value": "198.51.100.1", "score_id": 2, "score": "Probably Safe", "sources": []}],
        "warninglisted": ["8.8.8.8"], "networks": [{"ip": "203.0.113.7", "asn": 64500, "country": "NL"}],
        "accounts": [], "people": [], "teams": [], "assets": [{"value": "i-0abc", "owner": "web", "criticality": "high"}],
    }),
}


def _request_validator() -> tuple[ParamValidator, Any]:
    model = ServiceModel(Loader().load_service_model("securityhub", "service-2"), "securityhub")
    return ParamValidator(), model.operation_model("BatchImportFindings").input_shape


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in (str(k), *_strings(v))]
    if isinstance(node, list):
        return [x for v in node for x in _strings(v)]
    return [node] if isinstance(node, str) else []


NON_BLANK = re.compile(r".*\S.*")  # the API's pattern for every string; "." stops at line breaks


def assert_valid(finding: dict[str, Any]) -> None:
    assert asff.check_finding(finding) == []
    bad = [s for s in _strings(finding) if not NON_BLANK.fullmatch(s)]
    assert not bad, bad
    validator, shape = _request_validator()
    report = validator.validate({"Findings": [finding]}, shape)
    assert not report.has_errors(), report.generate_report()


def test_alert_to_finding_is_valid_asff() -> None:
    f = asff.alert_to_finding(ALERT, account_id="123456789012", region="eu-west-1")
    assert_valid(f)
    assert f["SchemaVersion"] == "2018-10-08"
    assert f["Id"] == "cairn/eu-west-1/9f2c4e1ab7d35c08e6a1f4b2c9d0e7a3"
    assert f["ProductArn"] == "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    assert f["GeneratorId"] == "cairn/4db60cc0-36fb-42b7-9b58-a5b53019fb74"
    assert f["Types"] == ["Unusual Behaviors/User/AWS CloudTrail Important Change"]
    assert f["CreatedAt"] == "2022-03-17T14:25:00.000Z" and f["UpdatedAt"] == "2022-03-17T15:00:00.000Z"
    assert f["FirstObservedAt"] == "2022-03-17T14:18:03.000Z"
    assert f["Severity"] == {"Label": "HIGH", "Original": "high"}
    kinds = {r["Type"]: r for r in f["Resources"]}
    assert kinds["AwsIamUser"]["ResourceRole"] == "Actor"
    assert kinds["AwsAccount"]["Id"] == "AWS::::Account:012345678901"
    assert kinds["Other"]["Id"].startswith("arn:aws:cloudtrail:")
    assert f["Network"] == {"SourceIpV4": "203.0.113.7"}
    assert [(i["Type"], i["Value"], i.get("Category")) for i in f["ThreatIntelIndicators"]] == [
        ("IPV4_ADDRESS", "203.0.113.7", "COMMAND_AND_CONTROL"), ("DOMAIN", "evil.example", None)]
    assert f["UserDefinedFields"]["cairn_alert_id"] == ALERT["alert_id"]
    assert f["Note"]["UpdatedBy"] == "cairn" and len(f["Note"]["Text"]) <= 512


def test_tags_become_ttps_and_partition_follows_region() -> None:
    f = asff.alert_to_finding({**ALERT, "tags": ["attack.defense_evasion", "attack.t1562.008", "attack.impact"]},
                              account_id="123456789012", region="cn-north-1")
    assert f["Types"] == ["TTPs/Defense Evasion/AWS CloudTrail Important Change",
                          "Effects/Data Destruction/AWS CloudTrail Important Change"]
    assert f["ProductArn"].startswith("arn:aws-cn:securityhub:cn-north-1:")
    assert {r["Partition"] for r in f["Resources"]} == {"aws-cn"}
    assert_valid(f)


def test_hostile_alert_is_clamped_to_every_limit() -> None:
    bad = [{"type": "ip", "value": f"203.0.113.{i}", "score_id": 10, "sources": ["x" * 100]} for i in range(40)]
    alert = {**ALERT, "alert_id": "z" * 900, "rule_id": "r" * 900, "rule_title": "/".join(["t"] * 300),
             "title": "word " * 400, "identity": "i" * 3000, "resource": "arn:aws:s3:::" + "b" * 3000,
             "ips": [f"10.0.{i // 256}.{i % 256}" for i in range(3000)], "dedup_key": "k" * 5000,
             "event_uids": [f"{i:036d}" for i in range(100)],
             "enrichment_summary": json.dumps({"verdicts": bad})}
    f = asff.alert_to_finding(alert, account_id="123456789012", region="us-east-1",
                              extra_fields={f"extra_{i}": "v" * 2000 for i in range(80)})
    assert_valid(f)
    assert len(f["Id"]) <= 512 and len(f["GeneratorId"]) <= 512
    assert len(f["Title"]) <= 256 and f["Title"].endswith("…")
    assert len(f["Description"]) <= 1024
    assert len(f["ThreatIntelIndicators"]) == 5
    assert all(len(i["Source"]) <= 64 for i in f["ThreatIntelIndicators"])
    assert len(f["UserDefinedFields"]) == 50
    assert all(len(v) <= 1024 for v in f["UserDefinedFields"].values())
    assert len(f["ProductFields"]) <= 47 and all(len(v) <= 2048 for v in f["ProductFields"].values())
    assert asff.finding_bytes(f) <= asff.FINDING_BYTES_MAX


def test_bad_account_and_region_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="12 digits"):
        asff.alert_to_finding(ALERT, account_id="12345", region="us-east-1")
    with pytest.raises(ConfigError, match="Region"):
        asff.alert_to_finding(ALERT, account_id="123456789012", region="")


def test_clamp_user_defined_fields_limits_and_clashes() -> None:
    existing = {f"theirs_{i}": "x" for i in range(45)}
    existing["cairn_owner"] = "kept"
    new = {"cairn_owner": "ours", "a": "1", "b": "", "c": None, "k" * 300: "long key",
           "k" * 299 + "z": "another long key", "v": "y" * 5000, "d": "4", "e": "5", "f": "6"}
    out = asff.clamp_user_defined_fields(new, existing)
    assert "cairn_owner" not in out  # no clash with an existing key
    assert "b" not in out and "c" not in out  # empty values dropped
    assert len(existing) + len(out) == 50
    assert all(len(k) <= 128 for k in out) and all(len(v) <= 1024 for v in out.values())
    long_keys = [k for k in out if k.startswith("kkk")]
    assert len(long_keys) == 2 and len(set(long_keys)) == 2  # distinct long keys stay distinct
    assert out["v"].endswith("…") and len(out["v"]) == 1024
    over = asff.clamp_user_defined_fields({"cairn_owner": "ours"}, existing, overwrite=True)
    assert over == {"cairn_owner": "ours"}
    full = {f"k{i}": "v" for i in range(50)}
    assert asff.clamp_user_defined_fields({"more": "x"}, full) == {}
    assert asff.clamp_user_defined_fields({"k1": "new"}, full, overwrite=True) == {"k1": "new"}


def test_note_is_readable_and_short() -> None:
    text = "cairn triage: " + " ".join(f"word{i}" for i in range(300))
    n = asff.note(text, "arn:aws:iam::123456789012:role/cairn")
    assert len(n["Text"]) <= 512 and n["Text"].endswith("…")
    assert n["Text"][:-1].split(" ")[-1].startswith("word")  # cut at a word boundary
    assert n["UpdatedBy"] == "arn:aws:iam::123456789012:role/cairn"
    assert asff.note("a\n\n b", "x", updated_at="2024-01-04T15:25:10+17:59")["UpdatedAt"] == "2024-01-03T21:26:10.000Z"
    assert asff.note("", "x")["Text"] == "(no text)"
    assert set(asff.note_update("t", "me")) == {"Text", "UpdatedBy"}


def test_timestamps() -> None:
    assert asff.timestamp("2022-03-17T14:18:03Z") == "2022-03-17T14:18:03.000Z"
    assert asff.timestamp("2022-03-17 14:18:03.123456+02:00") == "2022-03-17T12:18:03.123Z"
    with pytest.raises(ValueError):
        asff.timestamp("yesterday")
    f = asff.alert_to_finding(ALERT, account_id="123456789012", region="us-east-1")
    assert asff.check_finding({**f, "CreatedAt": "2022-03-17"}) == ["CreatedAt is not an ASFF timestamp: '2022-03-17'"]
    assert "UpdatedAt is before CreatedAt" in asff.check_finding({**f, "UpdatedAt": "2000-01-01T00:00:00Z"})
    assert asff.check_finding({**f, "Types": ["Bogus/Thing"]})[0].startswith("Types item 'Bogus/Thing'")


def test_batches_respect_count_and_size() -> None:
    f = asff.alert_to_finding(ALERT, account_id="123456789012", region="us-east-1")
    assert [len(b) for b in asff.batches([f] * 250)] == [100, 100, 50]
    big = {**f, "ProductFields": {f"k{i}": "x" * 2048 for i in range(47)}}  # ~100 KB each
    sizes = [len(b) for b in asff.batches([big] * 150)]
    assert sum(sizes) == 150 and max(sizes) < 100
    assert all(sum(asff.finding_bytes(x) for x in b) <= asff.BATCH_BYTES_MAX for b in asff.batches([big] * 150))


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=2000) | st.sampled_from(["", " ", "\n", "a\nb", "\u2028x", "\x00"]),
       identity=st.text(max_size=600) | st.just(" \t"),
       rule=st.text(min_size=0, max_size=700) | st.sampled_from([" ", "a/b\nc", "\r"]),
       ips=st.lists(st.text(max_size=50), max_size=40), severity=st.sampled_from(
           ["low", "HIGH", "bogus", "", "critical"]))
def test_any_alert_gives_a_valid_finding(title: str, identity: str, rule: str, ips: list[str], severity: str) -> None:
    alert = {**ALERT, "title": title, "identity": identity, "rule_id": rule, "rule_title": rule, "ips": ips,
             "severity": severity}
    assert_valid(asff.alert_to_finding(alert, account_id="123456789012", region="us-east-1"))
