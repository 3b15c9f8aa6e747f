"""Sigma 1 ``| count()`` aggregations run as the correlation rules that replaced them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cairn.detect.sigma import load_rules, run_rules
from cairn.detect.sigma.legacy import PART_OF, upgrade_aggregations
from detect.sigmadata import rule_yaml

FAILED = {"sel": {"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"}}


def legacy(condition: str, timeframe: str | None = "5m", title: str = "many failed logins") -> str:
    detection: dict[str, Any] = {**FAILED, "condition": condition}
    if timeframe:
        detection["timeframe"] = timeframe
    return rule_yaml(detection, title=title, rule_id="11111111-2222-4333-8444-555555555555")


@pytest.mark.parametrize(("condition", "correlation"), [
    ("sel | count() > 5", {"type": "event_count", "condition": {"gt": 5}}),
    ("sel | count() >= 5", {"type": "event_count", "condition": {"gte": 5}}),
    ("sel|count()by userIdentity.userName>4",
     {"type": "event_count", "condition": {"gt": 4}, "group-by": ["userIdentity.userName"]}),
    ("sel | count(sourceIPAddress) by userIdentity.userName > 2",
     {"type": "value_count", "condition": {"gt": 2, "field": "sourceIPAddress"}, "group-by": ["userIdentity.userName"]}),
    ("sel | count() < 3", {"type": "event_count", "condition": {"lt": 3}}),
    ("sel | count() == 3", {"type": "event_count", "condition": {"eq": 3}}),
])
def test_rewrite(condition: str, correlation: dict[str, Any]) -> None:
    text = upgrade_aggregations(legacy(condition))
    assert text is not None
    search, corr = yaml.safe_load_all(text)
    assert search["detection"] == {**FAILED, "condition": "sel"} and search[PART_OF] == corr["id"]
    assert corr["id"] == "11111111-2222-4333-8444-555555555555" and corr["title"] == "many failed logins"
    assert corr["correlation"] == {**correlation, "rules": [search["id"]], "timespan": "5m"}
    assert upgrade_aggregations(legacy(condition)) == text  # the search's id is derived, not random


def test_near_rewrite() -> None:
    text = upgrade_aggregations(legacy("sel | near other and third"))
    assert text is not None
    first, other, third, corr = yaml.safe_load_all(text)
    assert [d["detection"]["condition"] for d in (first, other, third)] == ["sel", "other", "third"]
    assert all(d[PART_OF] == corr["id"] and "timeframe" not in d["detection"] for d in (first, other, third))
    assert corr["id"] == "11111111-2222-4333-8444-555555555555" and corr["title"] == "many failed logins"
    assert corr["correlation"] == {"type": "temporal", "rules": [first["id"], other["id"], third["id"]],
                                   "timespan": "5m"}
    assert upgrade_aggregations(legacy("sel | near other and third")) == text


@pytest.mark.parametrize("text", [
    legacy("sel"), legacy("sel | count() > 5", timeframe=None), legacy("sel | max(bytes) > 5"),
    legacy("sel | near other", timeframe=None), legacy("sel | near other and not third"),
    "title: [unclosed", "- a list\n",
])
def test_other_rules_are_left_alone(text: str) -> None:
    assert upgrade_aggregations(text) is None


def test_other_documents_of_the_file_are_kept() -> None:
    plain = rule_yaml({"sel": {"eventName": "StopLogging"}, "condition": "sel"}, title="plain")
    text = upgrade_aggregations(plain + "---\n" + legacy("sel | count() > 5"))
    assert text is not None
    assert [d["title"] for d in yaml.safe_load_all(text)] == [
        "plain", "many failed logins (events counted by the correlation)", "many failed logins"]


def test_count_by_alerts_like_the_correlation(logins: Any) -> None:
    """The events of ``sigmadata.LOGIN_EVENTS``: alice fails 6 times in 4 minutes and 5 times from 5 addresses
    in 40 s; bob fails 4 times."""
    rules = load_rules(texts={"r.yml": legacy("sel | count() by userIdentity.userName >= 5")})
    assert [(e.kind, e.status, e.output, bool(e.part_of)) for e in rules] == [
        ("detection", "converted", False, True), ("correlation", "converted", True, False)]
    assert len(rules.written()) == 1 and rules.conversion_rate == 1.0
    got = run_rules(logins.engine, rules).to_pylist()
    assert [(m["event_count"], m["event_uid"]) for m in got] == [(5, "a4"), (5, "c4")]
    distinct = load_rules(texts={"r.yml": legacy("sel | count(sourceIPAddress) by userIdentity.userName > 4")})
    assert [m["event_uid"] for m in run_rules(logins.engine, distinct).to_pylist()] == ["c4"]


def test_a_failed_search_fails_its_rule_once() -> None:
    text = rule_yaml({"sel": {"nosuchfield|foo": "x"}, "condition": "sel | count() > 5", "timeframe": "5m"},
                     title="broken")
    rules = load_rules(texts={"r.yml": text})
    assert [e.status for e in rules.written()] == ["failed"] and rules.conversion_rate == 0.0
