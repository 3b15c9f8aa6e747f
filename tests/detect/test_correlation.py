"""Sigma correlation rules: event_count and value_count in sliding windows."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from cairn.detect.sigma import load_rules, run_rules
from detect.sigmadata import rule_yaml

BASE = rule_yaml({"sel": {"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"},
                  "condition": "sel"}, title="failed console login", name="failed_login")


def correlation(kind: str = "event_count", *, condition: dict[str, Any] | None = None,
                group_by: list[str] | None = None, timespan: str = "5m", generate: bool = False,
                rules: list[str] | None = None) -> str:
    doc = {"title": f"many failed logins ({kind})", "id": f"00000000-0000-4000-8000-{len(kind):012d}",
           "author": "cairn tests", "level": "high",
           "correlation": {"type": kind, "rules": rules or ["failed_login"],
                           "group-by": group_by if group_by is not None else ["userIdentity.userName"],
                           "timespan": timespan, "condition": condition or {"gte": 5}, "generate": generate}}
    return yaml.safe_dump(doc, sort_keys=False)


def test_event_count_alerts_once_per_burst(logins: Any) -> None:
    rules = load_rules(texts={"c.yml": BASE + "---\n" + correlation()})
    base, corr = rules.entries
    assert corr.status == "converted", corr.reason
    assert corr.kind == "correlation" and not base.output
    rows = run_rules(logins.engine, rules).to_pylist()
    assert [r["rule_kind"] for r in rows] == ["correlation", "correlation"]  # generate: false
    first, second = rows
    assert first["event_uid"] == "a4" and first["event_count"] == 5
    assert sorted(first["event_uids"]) == ["a0", "a1", "a2", "a3", "a4"]
    assert json.loads(first["group_values"]) == {"userIdentity.userName": "alice"}
    assert str(first["first_time"]).startswith("2024-07-29 12:00:00")
    assert second["event_uid"] == "c4" and second["event_count"] == 5
    assert second["principal_arn"] == "arn:aws:iam::111122223333:user/alice"


def test_generate_true_keeps_the_base_rule_matches(logins: Any) -> None:
    rules = load_rules(texts={"c.yml": BASE + "---\n" + correlation(generate=True)})
    kinds = [r["rule_kind"] for r in run_rules(logins.engine, rules).to_pylist()]
    assert kinds.count("correlation") == 2 and kinds.count("detection") == 18


def test_threshold_and_window(logins: Any) -> None:
    def alerts(**kw: Any) -> list[str]:
        rules = load_rules(texts={"c.yml": BASE + "---\n" + correlation(**kw)})
        assert rules.entries[1].reason is None, rules.entries[1].reason
        return [r["event_uid"] for r in run_rules(logins.engine, rules).to_pylist()]

    assert alerts(condition={"gt": 5}) == ["a5"]
    assert alerts(condition={"gte": 4}) == ["a3", "d3", "c3"]
    assert alerts(condition={"gte": 3}, timespan="2m") == ["a2", "d2", "c2"]
    assert alerts(condition={"gte": 3}, timespan="5m", group_by=[]) == ["a1", "c2"]
    assert alerts(condition={"gte": 3}, timespan="7m") == ["a2", "d2", "b2", "c2"]


def test_value_count_counts_distinct_values(logins: Any) -> None:
    text = BASE + "---\n" + correlation("value_count", condition={"gte": 4, "field": "sourceIPAddress"})
    rules = load_rules(texts={"c.yml": text})
    assert rules.entries[1].reason is None, rules.entries[1].reason
    (row,) = run_rules(logins.engine, rules).to_pylist()
    assert row["event_uid"] == "c3" and row["event_count"] == 4
    assert sorted(row["counted_values"]) == [f"203.0.113.{i}" for i in range(4)]


@pytest.mark.parametrize(("doc", "reason"), [
    (correlation("value_sum", condition={"gte": 5, "field": "sourceIPAddress"}),
     "correlation type value_sum is not supported"),
    (correlation("temporal_ordered", condition={"gte": 1}, rules=["failed_login", "failed_login"]),
     "references a rule twice"),
    (correlation(condition={"lt": 3}), "correlation condition lt is not supported"),
    (correlation(group_by=["no.such.field"]), "unknown field 'no.such.field'"),
    (correlation(rules=["missing_rule"]), "missing_rule"),
])
def test_unsupported_correlations_fail_with_a_reason(doc: str, reason: str) -> None:
    rules = load_rules(texts={"c.yml": BASE + "---\n" + doc})
    corr = rules.entries[-1]
    assert corr.status == "failed" and reason in (corr.reason or ""), corr.reason
