"""Sigma ``temporal`` and ``temporal_ordered`` correlations, and Sigma 1 ``near`` run as ``temporal``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from cairn.detect.sigma import load_rules, run_rules, table_sql
from conftest import Lake
from detect.sigmadata import ct, rule_yaml, write_records

SES = "ses.amazonaws.com"
NAMES = {"a": "UpdateAccountSendingEnabled", "b": "VerifyEmailIdentity", "c": "SendEmail"}


def ses(uid: str, step: str, user: str, when: str) -> dict[str, Any]:
    """An SES call (``step`` a, b or c) by ``user`` at ``when`` (``HH:MM:SS`` on 2024-07-29)."""
    return ct(uid, when=f"2024-07-29T{when}Z", eventSource=SES, eventName=NAMES[step],
              userIdentity={"type": "IAMUser", "userName": user, "accountId": "111122223333",
                            "arn": f"arn:aws:iam::111122223333:user/{user}"})


def fn(uid: str, name: str, when: str) -> dict[str, Any]:
    return ct(uid, when=f"2024-07-30T{when}Z", eventSource="lambda.amazonaws.com", eventName=name)


EVENTS = [
    # alice: a then b 3 min later (both kinds fire), b again (the correlation still holds: no new alert)
    ses("al1", "a", "alice", "12:00:00"), ses("al2", "b", "alice", "12:03:00"), ses("al3", "b", "alice", "12:04:00"),
    # bob: b then a (temporal fires, temporal_ordered a->b does not)
    ses("bo1", "b", "bob", "12:00:00"), ses("bo2", "a", "bob", "12:02:00"),
    # carol: a then b 7 min later (outside 5m)
    ses("ca1", "a", "carol", "12:00:00"), ses("ca2", "b", "carol", "12:07:00"),
    # dave has a, erin has b, one minute apart: only without group-by
    ses("da1", "a", "dave", "20:00:00"), ses("er1", "b", "erin", "20:01:00"),
    # hank: exactly 5 minutes (inside); ivan: 5 min 1 s (outside)
    ses("ha1", "a", "hank", "14:00:00"), ses("ha2", "b", "hank", "14:05:00"),
    ses("iv1", "a", "ivan", "14:00:00"), ses("iv2", "b", "ivan", "14:05:01"),
    # frank: a, c, b, c: all three at fr3; in the order a, b, c only at fr4
    ses("fr1", "a", "frank", "13:00:00"), ses("fr2", "c", "frank", "13:01:00"),
    ses("fr3", "b", "frank", "13:02:00"), ses("fr4", "c", "frank", "13:03:00"),
    # gina: a, b, a, c: all three within 5m at gi4, but the only a -> b -> c chain takes 6 minutes
    ses("gi1", "a", "gina", "13:00:00"), ses("gi2", "b", "gina", "13:04:00"),
    ses("gi3", "a", "gina", "13:05:00"), ses("gi4", "c", "gina", "13:06:00"),
    # Lambda, for `near` (no group-by): created then invoked; invoked alone; 6 minutes apart; invoked first
    fn("la1", "CreateFunction", "15:00:00"), fn("la2", "Invoke", "15:03:00"),
    fn("la3", "Invoke", "17:00:00"),
    fn("la4", "CreateFunction", "18:00:00"), fn("la5", "Invoke", "18:06:00"),
    fn("la6", "Invoke", "19:00:00"), fn("la7", "CreateFunction", "19:02:00"),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("sigma-temporal")
    lake = Lake(root / "ws")
    lake.ingest(write_records(root / "events.json", EVENTS))
    yield lake
    lake.close()


def search(step: str) -> str:
    return rule_yaml({"sel": {"eventSource": SES, "eventName": NAMES[step]}, "condition": "sel"},
                     title=f"ses {step}", name=f"ses_{step}")


def temporal(kind: str = "temporal", steps: str = "ab", *, group_by: list[str] | None = None,
             timespan: str = "5m", condition: dict[str, Any] | None = None) -> str:
    corr: dict[str, Any] = {"type": kind, "rules": [f"ses_{s}" for s in steps],
                            "group-by": ["userIdentity.userName"] if group_by is None else group_by,
                            "timespan": timespan}
    if condition is not None:
        corr["condition"] = condition
    doc = {"title": f"SES {kind} {steps}", "id": "00000000-0000-4000-8000-00000000abcd", "level": "medium",
           "author": "cairn tests", "correlation": corr}
    return "---\n".join([*(search(s) for s in sorted(set(steps))), yaml.safe_dump(doc, sort_keys=False)])


def alerts(lake: Lake, text: str) -> list[dict[str, Any]]:
    rules = load_rules(texts={"t.yml": text})
    corr = rules.entries[-1]
    assert corr.status == "converted" and corr.kind == "correlation", corr.reason
    rows = run_rules(lake.engine, rules).to_pylist()
    assert {r["rule_kind"] for r in rows} <= {"correlation"}  # the searches are generate: false
    return rows


def uids(lake: Lake, text: str) -> list[str]:
    return sorted(r["event_uid"] for r in alerts(lake, text))


def test_temporal_fires_when_all_rules_match_within_the_timespan(lake: Lake) -> None:
    rows = {r["event_uid"]: r for r in alerts(lake, temporal())}
    # not carol (7 min), not ivan (5 min 1 s), not dave/erin (different users), al3 still the same alert
    assert sorted(rows) == ["al2", "bo2", "fr3", "gi2", "ha2"]
    al2 = rows["al2"]
    assert sorted(al2["event_uids"]) == ["al1", "al2"] and al2["event_count"] == 2
    assert str(al2["first_time"]).startswith("2024-07-29 12:00:00")
    assert json.loads(al2["group_values"]) == {"userIdentity.userName": "alice"}
    assert al2["principal_arn"] == "arn:aws:iam::111122223333:user/alice"


def test_temporal_ordered_needs_the_listed_order(lake: Lake) -> None:
    assert uids(lake, temporal("temporal_ordered")) == ["al2", "fr3", "gi2", "ha2"]  # not bob (b before a)
    assert uids(lake, temporal("temporal_ordered", "ba")) == ["bo2", "gi3"]  # gina: b 13:04, a 13:05


def test_three_rules(lake: Lake) -> None:
    assert uids(lake, temporal(steps="abc")) == ["fr3", "gi4"]
    # frank's a -> b -> c ends at fr4; gina's takes 6 minutes (gi3 is an a after her b)
    assert uids(lake, temporal("temporal_ordered", "abc")) == ["fr4"]
    assert uids(lake, temporal("temporal_ordered", "abc", timespan="6m")) == ["fr4", "gi4"]


def test_group_by_and_timespan(lake: Lake) -> None:
    ungrouped = uids(lake, temporal(group_by=[]))
    assert "er1" in ungrouped and "ca2" not in ungrouped
    assert "ca2" in uids(lake, temporal(timespan="7m")) and "iv2" in uids(lake, temporal(timespan="7m"))
    assert "er1" not in uids(lake, temporal(timespan="1h"))  # other users never complete a group


def test_temporal_condition_counts_distinct_rules(lake: Lake) -> None:
    two_of_three = uids(lake, temporal(steps="abc", condition={"gte": 2}))
    assert "fr2" in two_of_three and "al2" in two_of_three and "ca2" not in two_of_three


def test_the_runner_and_the_standalone_sql_agree(lake: Lake) -> None:
    for kind in ("temporal", "temporal_ordered"):
        rules = load_rules(texts={"t.yml": temporal(kind, "abc")})
        corr = rules.entries[-1]
        assert corr.sql is not None
        standalone = sorted(r[0] for r in lake.engine.rows(f"SELECT event_uid FROM ({corr.sql})"))
        assert standalone == sorted(r["event_uid"] for r in run_rules(lake.engine, rules).to_pylist())
        sql, _ = table_sql(rules, "cloudtrail", "_rules")
        assert sql.count('FROM "cloudtrail"') == 1


@pytest.mark.parametrize(("doc", "reason"), [
    (temporal("temporal_ordered", condition={"gte": 1}), "temporal_ordered condition gte 1 is not supported"),
    (temporal(condition={"lt": 2}), "correlation condition lt is not supported"),
])
def test_unsupported_temporal_correlations_fail_with_a_reason(doc: str, reason: str) -> None:
    corr = load_rules(texts={"t.yml": doc}).entries[-1]
    assert corr.status == "failed" and reason in (corr.reason or ""), corr.reason


def near_rule(condition: str, timeframe: str | None = "5m") -> str:
    detection: dict[str, Any] = {
        "selection1": {"eventSource": "lambda.amazonaws.com", "eventName": "CreateFunction"},
        "selection2": {"eventSource": "lambda.amazonaws.com", "eventName": "Invoke"},
        "condition": condition,
    }
    if timeframe:
        detection["timeframe"] = timeframe
    return rule_yaml(detection, title="lambda created or invoked", rule_id="d914951b-52c8-485f-875e-86abab710c0b")


def test_near_runs_as_a_temporal_correlation(lake: Lake) -> None:
    rules = load_rules(texts={"n.yml": near_rule("selection1 | near selection2")})
    assert [(e.kind, e.status, e.output, bool(e.part_of)) for e in rules] == [
        ("detection", "converted", False, True), ("detection", "converted", False, True),
        ("correlation", "converted", True, False)]
    assert len(rules.written()) == 1 and rules.conversion_rate == 1.0
    (corr,) = rules.written()
    assert corr.id == "d914951b-52c8-485f-875e-86abab710c0b" and corr.correlation is not None
    assert corr.correlation.type == "temporal" and corr.correlation.group_by == ()
    # either order, within the timeframe; not la3 (alone) nor la5 (6 minutes)
    assert sorted(r["event_uid"] for r in run_rules(lake.engine, rules).to_pylist()) == ["la2", "la7"]


@pytest.mark.parametrize(("condition", "timeframe", "reason"), [
    ("selection1 | near selection2", None, "'near' without a 'timeframe'"),
    ("selection1 | near selection2 and not selection1", "5m", "'near ... and not'"),
])
def test_near_that_cannot_run_fails_with_the_reason(condition: str, timeframe: str | None, reason: str) -> None:
    (entry,) = load_rules(texts={"n.yml": near_rule(condition, timeframe)}).entries
    assert entry.status == "failed" and reason in (entry.reason or ""), entry.reason


def test_timeframe_without_aggregation_says_the_rule_cannot_match() -> None:
    (entry,) = load_rules(texts={"n.yml": near_rule("selection1 and selection2")}).entries
    assert entry.status == "failed"
    assert "'selection1 and selection2' needs one event whose eventName is 'CreateFunction' (selection1) " \
           "and 'Invoke' (selection2): it never matches" in (entry.reason or "")
    (other,) = load_rules(texts={"n.yml": near_rule("selection1 or selection2")}).entries
    assert "the timeframe means nothing" in (other.reason or "") and "never matches" not in (other.reason or "")
