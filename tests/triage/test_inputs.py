"""Every accepted alert shape leads to the same identity and activity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cairn.errors import InputError
from cairn.triage import triage
from cairn.triage.inputs import load_body, parse_time, subject_from
from triage.conftest import SAMPLES, stratus

TECH = "aws.credential-access.secretsmanager-retrieve-secrets"


def _attack() -> tuple[str, str, list[dict[str, Any]]]:
    recs = stratus(TECH)
    return recs[0]["userIdentity"]["accessKeyId"], recs[len(recs) // 2]["eventTime"], recs


def _guardduty_finding(key: str, at: str) -> dict[str, Any]:
    """The bundled GuardDuty sample (camelCase), pointed at the attacker's key and time."""
    lines = (SAMPLES / "guardduty" / "panther" / "guardduty-findings.jsonl").read_text().splitlines()
    f = json.loads(lines[1])
    f["resource"] = {"resourceType": "AccessKey", "accessKeyDetails": {
        "accessKeyId": key, "principalId": "AIDAEXAMPLE", "userName": "christophe", "userType": "IAMUser"}}
    f["updatedAt"] = f["createdAt"] = at
    f["service"]["eventFirstSeen"] = f["service"]["eventLastSeen"] = at
    return f


def _pascal(v: Any) -> Any:
    if isinstance(v, dict):
        return {k[:1].upper() + k[1:]: _pascal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_pascal(x) for x in v]
    return v


def _asff(key: str, at: str) -> dict[str, Any]:
    lines = (SAMPLES / "securityhub" / "panther" / "asff-findings.jsonl").read_text().splitlines()
    f = json.loads(lines[0])
    f["UpdatedAt"] = f["CreatedAt"] = at
    f["FirstObservedAt"] = f["LastObservedAt"] = at
    f["Resources"] = [{"Type": "AwsIamAccessKey", "Id": key, "Partition": "aws", "Region": "us-east-1",
                       "Details": {"AwsIamAccessKey": {"AccessKeyId": key, "PrincipalType": "IAMUser",
                                                      "PrincipalName": "christophe"}}}]
    return f


def _shapes() -> dict[str, Any]:
    key, at, _ = _attack()
    gd = _guardduty_finding(key, at)
    return {
        "guardduty_camel": gd,
        "guardduty_eventbridge": {"version": "0", "id": "e1", "detail-type": "GuardDuty Finding",
                                  "source": "aws.guardduty", "time": at, "detail": gd},
        "guardduty_getfindings": {"findings": [gd]},
        "guardduty_boto3": {"Findings": [_pascal(gd)]},
        "asff": _asff(key, at),
        "asff_container": {"Findings": [_asff(key, at)]},
        "asff_eventbridge": {"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
                             "detail": {"findings": [_asff(key, at)]}},
        "minimal": {"identity": key, "time": at},
        "cairn_alert": {"alert_id": "a1", "rule_id": "r1", "title": "t", "severity": "high", "first_seen": at,
                        "last_seen": at, "identity": key, "resource": None, "ips": []},
    }


@pytest.mark.parametrize("shape", list(_shapes()))
def test_each_shape_finds_the_attack(attack_lake: Any, shape: str) -> None:
    key, _, recs = _attack()
    rep = triage(attack_lake.engine, attack_lake.ws, _shapes()[shape]).to_dict()
    assert key in rep["identity"]["access_keys"]
    assert rep["identity"]["principal_arn"] == recs[0]["userIdentity"]["arn"]
    assert {a["event_name"] for a in rep["by_api"]} == {r["eventName"] for r in recs}
    assert rep["counts"]["events"] == len(recs)


def test_guardduty_fields(attack_lake: Any) -> None:
    key, _at, _ = _attack()
    s = subject_from(attack_lake.engine, _shapes()["guardduty_boto3"])
    assert (s.kind, s.access_key_id, s.user_name, s.user_type) == ("guardduty", key, "christophe", "IAMUser")
    assert s.severity == "High" and s.title
    assert s.resources == ["arn:aws:iam::123456789012:role/IAMRole"]  # affectedResources


def _attack_sequence() -> dict[str, Any]:
    """The bundled GuardDuty attack-sequence sample: no actor fields, only its description names one."""
    lines = (SAMPLES / "guardduty" / "panther" / "guardduty-findings.jsonl").read_text().splitlines()
    f = json.loads(lines[0])
    assert f["resource"] == {"resourceType": "AttackSequence"}
    return f


def test_attack_sequence_actor_from_the_description(attack_lake: Any) -> None:
    s = subject_from(attack_lake.engine, _attack_sequence())
    assert (s.user_name, s.user_type, s.principal_id, s.identity) == (
        "john_doe", "IAMUser", "AIDA3UBBJ2K3TVEXAMPLE", "john_doe")
    rep = triage(attack_lake.engine, attack_lake.ws, _attack_sequence()).to_dict()
    assert rep["identity"]["kind"] == "iam_user" and rep["identity"]["user_name"] == "john_doe"
    assert rep["identity"]["match_principal_ids"] == ["AIDA3UBBJ2K3TVEXAMPLE"]


@pytest.mark.parametrize("pascal", [False, True])
def test_attack_sequence_actor_resources_and_endpoints(attack_lake: Any, pascal: bool) -> None:
    """``service.detection.sequence`` (GuardDuty API: Sequence, Actor, User, ResourceV2, NetworkEndpoint) wins
    over the description, and leads to the actor's activity through its access key."""
    key, at, recs = _attack()
    f = _attack_sequence()
    f["updatedAt"] = f["createdAt"] = at
    f["service"]["eventFirstSeen"] = f["service"]["eventLastSeen"] = at
    f["service"]["detection"] = {"sequence": {
        "uid": "seq-1", "description": "d", "signals": [{"uid": "s1"}],
        "actors": [{"id": "a1", "user": {"name": "christophe", "type": "IAMUser", "uid": "AIDAEXAMPLE",
                                         "credentialUid": key, "account": {"uid": "123456789012"}}}],
        "resources": [{"uid": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s1", "resourceType": "AWS::X"}],
        "endpoints": [{"id": "e1", "ip": "198.51.100.7"}],
    }}
    body = {"Findings": [_pascal(f)]} if pascal else f
    s = subject_from(attack_lake.engine, body)
    assert (s.user_name, s.user_type, s.principal_id, s.access_key_id) == ("christophe", "IAMUser", "AIDAEXAMPLE", key)
    assert s.resources == ["arn:aws:secretsmanager:us-east-1:123456789012:secret:s1"]
    assert s.ips == ["198.51.100.7"]
    rep = triage(attack_lake.engine, attack_lake.ws, body).to_dict()
    assert key in rep["identity"]["access_keys"] and rep["counts"]["events"] == len(recs)


def test_alert_id_from_alerts_table(attack_lake: Any) -> None:
    key, at, recs = _attack()
    e = attack_lake.engine
    e.execute("CREATE OR REPLACE TEMP TABLE alerts AS SELECT 'al-1' AS alert_id, 'rule' AS rule_id, "
              "'Secrets read' AS title, 'high' AS severity, CAST(? AS TIMESTAMPTZ) AS first_seen, "
              "CAST(? AS TIMESTAMPTZ) AS last_seen, ? AS identity, CAST(NULL AS VARCHAR) AS resource, "
              "['1.2.3.4'] AS ips", [at, at, key])
    try:
        rep = triage(e, attack_lake.ws, "al-1").to_dict()
        assert rep["input"]["kind"] == "cairn_alert" and rep["input"]["finding_id"] == "al-1"
        assert rep["counts"]["events"] == len(recs)
        with pytest.raises(InputError, match=r"no alert 'al-2': give the full id"):
            triage(e, attack_lake.ws, "al-2")
    finally:
        e.execute("DROP TABLE alerts")


def test_alert_id_without_alerts_table() -> None:
    """A catalog without the alerts table (detect never set up): a clear error, not an SQL one."""
    from cairn.engines.duckdb_engine import DuckDBEngine

    e = DuckDBEngine()
    try:
        with pytest.raises(InputError, match="no alerts table"):
            subject_from(e, "some-alert-id")
    finally:
        e.close()


@pytest.mark.parametrize("body, message", [
    ({"identity": "AKIAXXXXXXXXXXXXXXXX"}, "no 'time'"),
    ({"identity": "x", "time": "yesterday"}, "not a timestamp"),
    ({"time": "2024-01-01T00:00:00Z", "identity": ""}, "neither an identity nor a resource"),
    ({"foo": 1}, "not a GuardDuty finding"),
    ({"detail-type": "EC2 Instance State-change Notification", "detail": {}}, "not a GuardDuty or Security Hub"),
    ({"Findings": []}, "no finding"),
    (42, "must be a JSON object"),
])
def test_bad_alerts_are_named(attack_lake: Any, body: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as exc:
        subject_from(attack_lake.engine, body)
    assert exc.value.exit_code == 3


def test_load_body_and_times() -> None:
    assert load_body(" abc-123 ") == "abc-123"
    with pytest.raises(InputError, match="line 1 column"):
        load_body("{bad")
    assert load_body('{"a": 1}\n\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]  # JSON Lines: a list
    with pytest.raises(InputError, match="invalid JSON Lines: line 2 column 2"):
        load_body('{"a": 1}\n{bad\n')
    assert parse_time("2025-02-25 20:40:06.000000000").isoformat() == "2025-02-25T20:40:06+00:00"
    assert parse_time(0).year == 1970


def test_asff_fields_fit_beside_the_findings_own(attack_lake: Any) -> None:
    """triage.md: at most 50 UserDefinedFields together with the finding's existing ones, none overwritten."""
    key, at, _ = _attack()
    f = _asff(key, at)
    f["UserDefinedFields"] = {f"team_{i}": "x" for i in range(47)} | {"cairn_triage_events": "mine"}
    rep = triage(attack_lake.engine, attack_lake.ws, f)
    note, udf = rep.asff_fields()
    assert len(udf) == 2 and "cairn_triage_events" not in udf and all(k.startswith("cairn_triage_") for k in udf)
    assert note.startswith("cairn triage: ")
    f["UserDefinedFields"] = {f"team_{i}": "x" for i in range(50)}
    assert triage(attack_lake.engine, attack_lake.ws, f).asff_fields()[1] == {}
    assert len(rep.asff_fields(existing={})[1]) > 2  # an explicit set wins (write-back passes the live one)
