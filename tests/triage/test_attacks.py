"""Triage on real attack logs: an alert naming the attacker's key or role at a time inside the attack
lists the attack's API calls and source addresses, and nothing of unrelated identities."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from cairn.lake.addresses import parse_ip
from cairn.triage import triage
from triage.conftest import STRATUS, otrf, stratus

TECHNIQUES = sorted(p.stem for p in STRATUS.glob("*.json"))


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _canon(ip: str) -> str:
    a = parse_ip(ip)
    return str(a) if a else ip


def _attacker(records: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The attacker's identity (most used access key, else ARN) and the records it made, directly or
    through sessions it created (role chaining)."""
    keys = Counter(r["userIdentity"].get("accessKeyId") for r in records if r["userIdentity"].get("accessKeyId"))
    long_term = [k for k, _ in keys.most_common() if k.startswith("AKIA")]
    if long_term:
        key = long_term[0]
        mine = {key}
        for r in records:  # keys this identity obtained from STS
            if r["userIdentity"].get("accessKeyId") in mine and r["eventSource"] == "sts.amazonaws.com":
                issued = ((r.get("responseElements") or {}).get("credentials") or {}).get("accessKeyId")
                if issued:
                    mine.add(issued)
        return key, [r for r in records if r["userIdentity"].get("accessKeyId") in mine]
    if keys:
        key = keys.most_common(1)[0][0]
        return key, [r for r in records if r["userIdentity"].get("accessKeyId") == key]
    arn = records[0]["userIdentity"]["arn"]
    return arn, [r for r in records if r["userIdentity"].get("arn") == arn]


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_stratus_technique(attack_lake: Any, technique: str) -> None:
    records = stratus(technique)
    identity, mine = _attacker(records)
    times = sorted(_t(r["eventTime"]) for r in mine)
    at = times[len(times) // 2]
    report = triage(attack_lake.engine, attack_lake.ws, {"identity": identity, "time": at.isoformat()}).to_dict()

    apis = {(a["event_source"], a["event_name"]) for a in report["by_api"]}
    assert apis == {(r["eventSource"], r["eventName"]) for r in mine}
    assert report["counts"]["events"] == len(mine)
    sources = {s["source"] for s in report["source_ips"]}
    assert sources == {_canon(r["sourceIPAddress"]) for r in mine}
    # Nothing of anyone else: every listed event is one of the attack's own.
    listed = {e["event_uid"] for e in report["timeline"]["events"]}
    assert len(listed) == len(mine)
    principals = {e["principal_arn"] for e in report["timeline"]["events"]}
    own = {r["userIdentity"].get("arn") for r in mine} | {
        ((r["userIdentity"].get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn") for r in mine}
    assert principals <= own


def test_stratus_role_chain_back_to_user(attack_lake: Any) -> None:
    """The role session's temporary key leads back through AssumeRole to the IAM user."""
    recs = stratus("aws.credential-access.ec2-get-password-data")
    role = [r for r in recs if r["userIdentity"]["type"] == "AssumedRole"]
    key = role[0]["userIdentity"]["accessKeyId"]
    rep = triage(attack_lake.engine, attack_lake.ws, {"identity": key, "time": role[5]["eventTime"]}).to_dict()
    ident = rep["identity"]
    assert ident["kind"] == "assumed_role"
    assert ident["role_arn"].endswith(":role/stratus-red-team-ec2-get-password-data-role")
    assert ident["session_name"] == role[0]["userIdentity"]["arn"].split("/")[-1]
    assert ident["chain"][0]["event_name"] == "AssumeRole"
    assert ident["chain"][0]["caller_arn"] == "arn:aws:iam::457448411975:user/christophe"
    assert ident["original_principal"] == "arn:aws:iam::457448411975:user/christophe"
    # Only the session's own calls: not the user's AssumeRole calls.
    assert {a["event_name"] for a in rep["by_api"]} == {"GetPasswordData"}
    assert {s["category"] for s in rep["sensitive"]} == {"key_secret_access"}


def test_otrf_stolen_instance_role(attack_lake: Any) -> None:
    """CloudGoat cloud_breach_s3: the instance role's credentials used from outside; pedro's recon from
    the same address by another identity must not appear."""
    recs = otrf()
    role_arn = "arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"
    attack = [r for r in recs if ((r["userIdentity"].get("sessionContext") or {}).get("sessionIssuer") or {})
              .get("arn") == role_arn]
    mid = statistics.median_low(r["@timestamp"] for r in attack)
    rep = triage(attack_lake.engine, attack_lake.ws, {"identity": role_arn, "time": mid}).to_dict()
    assert {a["event_name"] for a in rep["by_api"]} == {r["eventName"] for r in attack} == {
        "ListBuckets", "ListObjects", "GetObject"}
    assert [s["source"] for s in rep["source_ips"]] == ["1.2.3.4"]
    assert rep["counts"]["events"] == len(attack)
    assert all("pedro" not in (e["principal_arn"] or "") for e in rep["timeline"]["events"])
    assert rep["identity"]["original_principal"] == "ec2.amazonaws.com"
    assert rep["identity"]["chain"][0]["session_name"] == "i-0317f6c6b66ae9c40"
    assert set(rep["new_vs_baseline"]["apis"]) == {f"s3.amazonaws.com:{n}" for n in ("ListBuckets", "ListObjects",
                                                                                     "GetObject")}


def test_forward_chain_includes_sessions_the_user_created(attack_lake: Any) -> None:
    recs = stratus("aws.discovery.ec2-download-user-data")
    user_key = next(r["userIdentity"]["accessKeyId"] for r in recs if r["userIdentity"]["type"] == "IAMUser")
    rep = triage(attack_lake.engine, attack_lake.ws, {"identity": user_key, "time": recs[0]["eventTime"]}).to_dict()
    assert rep["counts"]["child_session_events"] == sum(1 for r in recs if r["userIdentity"]["type"] == "AssumedRole")
    assert rep["identity"]["kind"] == "iam_user"
    assert rep["identity"]["child_session_keys"]


def test_resource_only_alert(attack_lake: Any) -> None:
    rep = triage(attack_lake.engine, attack_lake.ws,
                 {"resource": "i-0317f6c6b66ae9c40", "time": "2020-09-14T00:48:30Z"}).to_dict()
    assert rep["counts"]["events"] > 0
    assert {e["matched_by"] for e in rep["timeline"]["events"]} == {"resource"}
    assert any("identity" in n for n in rep["notes"])


def test_unknown_identity_reports_nothing(attack_lake: Any) -> None:
    rep = triage(attack_lake.engine, attack_lake.ws,
                 {"identity": "AKIAAAAAAAAAAAAAAAAA", "time": "2024-08-01T12:00:00Z"}).to_dict()
    assert rep["counts"]["events"] == 0
    assert rep["by_api"] == [] and rep["source_ips"] == []


def test_identity_center_session(attack_lake: Any) -> None:
    recs = stratus("aws.lateral-movement.ec2-serial-console-send-ssh-public-key")
    ui = recs[0]["userIdentity"]
    rep = triage(attack_lake.engine, attack_lake.ws, {"identity": ui["arn"], "time": recs[0]["eventTime"]}).to_dict()
    ident = rep["identity"]
    assert ident["kind"] == "identity_center"
    assert ident["role_arn"] == ui["sessionContext"]["sessionIssuer"]["arn"]
    assert ident["access_keys"] == [ui["accessKeyId"]]
    assert rep["counts"]["events"] == len(recs)


def test_service_principal(attack_lake: Any) -> None:
    rep = triage(attack_lake.engine, attack_lake.ws,
                 {"identity": "ec2.amazonaws.com", "time": "2020-09-14T00:49:00Z"}).to_dict()
    assert rep["identity"]["kind"] == "service"
    assert rep["counts"]["identity_events"] == 5
    assert {a["event_name"] for a in rep["by_api"] if "identity" in a["matched_by"]} == {"AssumeRole"}
    # the instance-role sessions EC2 obtained, including the stolen one used from outside
    assert {a["event_name"] for a in rep["by_api"] if "child_session" in a["matched_by"]} >= {"ListBuckets",
                                                                                             "GetObject"}


def test_federated_user(attack_lake: Any) -> None:
    recs = stratus("aws.persistence.sts-federation-token")
    fed = next(r for r in recs if r["userIdentity"]["type"] == "FederatedUser")
    rep = triage(attack_lake.engine, attack_lake.ws,
                 {"identity": fed["userIdentity"]["accessKeyId"], "time": fed["eventTime"]}).to_dict()
    assert rep["identity"]["kind"] == "federated_user"
    link = rep["identity"]["chain"][0]
    assert link["event_name"] == "GetFederationToken"
    assert link["caller_arn"].endswith(":user/stratus-red-team-user-federation-user")
