"""Helpers of the ``cairn detect`` tests: settings without side effects, CloudTrail files, ledger reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cairn.detect.run import DetectSummary, detect
from cairn.detect.settings import DetectSettings
from conftest import Lake
from detect.sigmadata import ct


def settings(*, native: list[str] | None = None, sigma: list[str] | None = None, intel: bool = False,
             suppression: str = "1h", intel_min_score: int = 8, intel_warninglists: str = "all") -> DetectSettings:
    """Settings for tests: only the given rules, no enrichment refresh unless intel, no dispatch."""
    return DetectSettings(native=native or [], sigma=sigma or [], intel_match=intel, suppression=suppression,
                          intel_min_score=intel_min_score, intel_warninglists=intel_warninglists, enrich=intel,
                          dispatch=False)


def run(lake: Lake, s: DetectSettings, **kw: Any) -> DetectSummary:
    return detect(lake.engine, lake.ws, settings=s, **kw)


def trail(path: Path, records: list[dict[str, Any]]) -> Path:
    """A CloudTrail file ``{"Records": [...]}``."""
    path.write_text(json.dumps({"Records": records}), encoding="utf-8")
    return path


def stop_logging(name: str, when: str, *, user: str = "alice", trail_name: str = "main", ip: str = "198.51.100.7",
                 error: str | None = None) -> dict[str, Any]:
    """A StopLogging call by IAM user ``user``."""
    fields: dict[str, Any] = {
        "eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "readOnly": False,
        "sourceIPAddress": ip, "requestParameters": {"name": trail_name},
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "111122223333",
                         "arn": f"arn:aws:iam::111122223333:user/{user}", "userName": user,
                         "accessKeyId": "AKIAEXAMPLE"},
    }
    if error:
        fields["errorCode"] = error
    return ct(name, when=when, **fields)


def failed_login(name: str, when: str, *, ip: str = "203.0.113.50", user: str = "bob") -> dict[str, Any]:
    """A failed console sign-in."""
    return ct(name, when=when, eventSource="signin.amazonaws.com", eventName="ConsoleLogin",
              eventType="AwsConsoleSignIn", sourceIPAddress=ip, responseElements={"ConsoleLogin": "Failure"},
              userIdentity={"type": "IAMUser", "principalId": "AIDABOB", "accountId": "111122223333",
                            "arn": f"arn:aws:iam::111122223333:user/{user}", "userName": user})


def ledger(lake: Lake, rule_id: str) -> dict[str, str]:
    """event_uid -> alert_id of the events ``rule_id`` counted."""
    return dict(lake.rows("SELECT event_uid, alert_id FROM _cairn_alert_events WHERE rule_id = ?", [rule_id]))


def alerts(lake: Lake, rule_id: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM alerts" + (" WHERE rule_id = ?" if rule_id else "") + " ORDER BY first_seen, alert_id"
    return lake.dicts(sql, [rule_id] if rule_id else None)
