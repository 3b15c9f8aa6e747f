"""Builders for the Sigma tests: CloudTrail records, inline rules, lakes and matches."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from cairn.detect.sigma import RuleSet, load_rules, run_rules

FIXTURES = Path(__file__).parent.parent / "fixtures"
SIGMA = FIXTURES / "sigma"
SIGMAHQ = SIGMA / "sigmahq"
PANTHER = SIGMA / "panther"
ACCOUNT = "111122223333"


def ct(name: str, *, when: str = "2024-07-29T12:00:00Z", **fields: Any) -> dict[str, Any]:
    """A CloudTrail record whose eventID is ``name`` (fields given override the defaults)."""
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": when,
        "eventID": name,
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "eventType": "AwsApiCall",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "userName": "alice",
                         "accessKeyId": "AKIAEXAMPLE"},
        "requestParameters": None,
        "responseElements": None,
        "readOnly": True,
        "recipientAccountId": ACCOUNT,
    }
    record.update(fields)
    return record


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"Records": records}), encoding="utf-8")
    return path


def rule_yaml(detection: dict[str, Any], *, title: str = "test rule", rule_id: str | None = None,
              logsource: dict[str, str] | None = None, **extra: Any) -> str:
    """A Sigma rule (YAML text) for ``detection``."""
    doc = {
        "title": title,
        "id": rule_id or str(uuid.uuid5(uuid.NAMESPACE_URL, title + json.dumps(detection, sort_keys=True))),
        "status": "test",
        "author": "cairn tests",
        "logsource": logsource or {"product": "aws", "service": "cloudtrail"},
        "detection": detection,
        "level": "medium",
        **extra,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def matches_by_rule(engine: Any, rules: RuleSet, **kw: Any) -> dict[str, set[str]]:
    """rule id -> event_uids it matched."""
    got: dict[str, set[str]] = defaultdict(set)
    table = run_rules(engine, rules, **kw)
    for rid, uid in zip(table.column("rule_id").to_pylist(), table.column("event_uid").to_pylist(), strict=True):
        got[rid].add(uid)
    return got


def match_one(engine: Any, detection: dict[str, Any], **kw: Any) -> set[str]:
    """Event ids matched by one inline rule (which must convert)."""
    rules = load_rules(texts={"inline.yml": rule_yaml(detection, **kw)})
    (entry,) = rules.entries
    assert entry.reason is None, entry.reason
    return matches_by_rule(engine, rules).get(entry.id, set())


def panther_events_file(dest: Path) -> Path:
    """The Panther events with an id derived from their content (Panther reuses eventIDs)."""
    lines = []
    for line in (PANTHER / "cloudtrail_events.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        event["eventID"] = panther_uid(line)
        lines.append(json.dumps(event))
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def panther_uid(line: str) -> str:
    key = json.dumps(json.loads(line), sort_keys=True)
    return str(uuid.UUID(hashlib.sha256(key.encode()).hexdigest()[:32]))


def login(n: str, user: str, when: str, ip: str = "198.51.100.7", ok: bool = False) -> dict[str, Any]:
    """A console login of ``user`` (a failure unless ``ok``) whose eventID is ``n``."""
    return ct(n, when=when, eventSource="signin.amazonaws.com", eventName="ConsoleLogin",
              eventType="AwsConsoleSignIn", sourceIPAddress=ip,
              userIdentity={"type": "IAMUser", "userName": user, "accountId": "111122223333",
                            "arn": f"arn:aws:iam::111122223333:user/{user}"},
              errorMessage=None if ok else "Failed authentication",
              responseElements={"ConsoleLogin": "Success" if ok else "Failure"})


LOGIN_EVENTS = [
    # alice: 6 failures in 4 minutes (one alert), then 3 two hours later (none), then 5 more (alert)
    *(login(f"a{i}", "alice", f"2024-07-29T12:0{i}:00Z") for i in range(5)),
    login("a5", "alice", "2024-07-29T12:04:30Z"),
    *(login(f"b{i}", "alice", f"2024-07-29T14:{i * 3:02d}:00Z") for i in range(3)),
    *(login(f"c{i}", "alice", f"2024-07-29T16:00:{i * 10:02d}Z", ip=f"203.0.113.{i}") for i in range(5)),
    # bob: 4 failures (under the threshold), 1 success
    *(login(f"d{i}", "bob", f"2024-07-29T12:0{i}:00Z") for i in range(4)),
    login("d9", "bob", "2024-07-29T12:05:00Z", ok=True),
]
