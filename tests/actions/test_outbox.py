"""The outbox and dispatch: idempotency, matching, backoff, leases, file/stdout destinations, settings."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from actions.conftest import Workplace, make_alert
from cairn.actions import actions_settings, deliver_pending, dispatch, outbox
from cairn.actions.dispatch import backoff_delay
from cairn.actions.settings import Scrubber, parse_action, resolve
from cairn.config import load_config
from cairn.errors import ConfigError


def file_action(path: Path, **extra: Any) -> dict[str, Any]:
    return {"type": "file", "path": str(path), **extra}


def test_dispatch_twice_delivers_once(place: Workplace, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    cfg = actions_settings({"f": file_action(out)})
    alerts = [make_alert(i) for i in range(4)]
    s1 = dispatch(place.engine, place.ws, alerts, cfg)
    s2 = dispatch(place.engine, place.ws, [*alerts, make_alert(9)], cfg)
    assert (s1.enqueued, s1.delivered) == (4, 4)
    assert (s2.enqueued, s2.already_queued, s2.delivered) == (1, 4, 1)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["alert"]["alert_id"] for x in lines) == sorted(a["alert_id"] for a in [*alerts, make_alert(9)])
    assert len({x["delivery_id"] for x in lines}) == 5


def test_the_same_alert_twice_in_one_call_is_one_item(place: Workplace, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    s = dispatch(place.engine, place.ws, [make_alert(1), make_alert(1)], actions_settings({"f": file_action(out)}))
    assert (s.enqueued, s.already_queued, s.delivered) == (1, 1, 1)
    assert len(out.read_text().splitlines()) == 1


def test_matching_by_rule_and_severity(place: Workplace, tmp_path: Path) -> None:
    cfg = actions_settings({
        "high": file_action(tmp_path / "high.jsonl", min_severity="high"),
        "ct": file_action(tmp_path / "ct.jsonl", rules=["aws_cloudtrail_*"], exclude_rules=["*_noisy"]),
        "exact": file_action(tmp_path / "exact.jsonl", severities=["low", "critical"]),
        "off": file_action(tmp_path / "off.jsonl", enabled=False),
    })
    alerts = [make_alert(1, severity="low"), make_alert(2, severity="critical"),
              make_alert(3, severity="medium", rule_id="cairn.intel_match"),
              make_alert(4, severity="high", rule_id="aws_cloudtrail_noisy")]
    s = dispatch(place.engine, place.ws, alerts, cfg)
    got = {n: sorted(json.loads(x)["alert"]["alert_id"][:4] for x in (tmp_path / f"{n}.jsonl").read_text().splitlines())
           for n in ("high", "ct", "exact")}
    assert got == {"high": ["0002", "0004"], "ct": ["0001", "0002"], "exact": ["0001", "0002"]}
    assert not (tmp_path / "off.jsonl").exists()
    assert s.unmatched == 1  # the medium intel-match alert
    assert {r["action"] for r in place.outbox()} == {"high", "ct", "exact"}


def test_backoff_is_exponential_capped_and_jittered() -> None:
    cfg = parse_action("x", {"type": "stdout", "backoff": "30s", "max_backoff": "1h"})
    assert [backoff_delay(cfg, n, rng=lambda: 1.0) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert [backoff_delay(cfg, n, rng=lambda: 0.0) for n in (1, 2, 3)] == [15, 30, 60]
    assert backoff_delay(cfg, 30, rng=lambda: 1.0) == 3600
    delays = {round(backoff_delay(cfg, 3), 6) for _ in range(50)}
    assert len(delays) > 40 and all(60 <= d <= 120 for d in delays)


def test_claim_lease_hides_items_in_flight(place: Workplace) -> None:
    now = dt.datetime.now(dt.UTC)
    outbox.enqueue(place.engine, [(make_alert(1), "a", "stdout"), (make_alert(2), "a", "stdout")], now)
    first = outbox.claim(place.engine, "a", now)
    assert [n for _, _, n in first] == [1, 1]
    assert outbox.claim(place.engine, "a", now) == []  # a second deliverer finds nothing
    # a crash leaves them pending: after the lease they come back, with the attempt counted
    later = outbox.claim(place.engine, "a", now + outbox.LEASE + dt.timedelta(seconds=1))
    assert [n for _, _, n in later] == [2, 2]


def test_concurrent_deliveries_send_each_item_once(place: Workplace, tmp_path: Path) -> None:
    from cairn.engines.duckdb_engine import DuckDBEngine

    out = tmp_path / "c.jsonl"
    cfg = actions_settings({"f": file_action(out)})
    dispatch(place.engine, place.ws, [make_alert(i) for i in range(40)], cfg, deliver=False)
    engine = place.engine
    cursors = [DuckDBEngine(place.ws.catalog_path), DuckDBEngine(place.ws.catalog_path)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            deliver_pending(cursors[i], place.ws, cfg, limit=7)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in cursors:
        c.close()
    assert not errors
    while deliver_pending(engine, place.ws, cfg, limit=7).attempted:
        pass
    ids = [json.loads(x)["alert"]["alert_id"] for x in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 40


def test_orphaned_items_are_kept(place: Workplace, tmp_path: Path) -> None:
    dispatch(place.engine, place.ws, [make_alert(1)], actions_settings({"gone": {"type": "stdout"}}), deliver=False)
    s = deliver_pending(place.engine, place.ws, actions_settings({"f": file_action(tmp_path / "x.jsonl")}))
    assert s.orphaned == 1 and s.attempted == 0
    assert [r["status"] for r in place.outbox()] == ["pending"]


def test_alert_status_becomes_delivered(place: Workplace, tmp_path: Path) -> None:
    from cairn.detect.alerts import Alert, ensure_alert_tables, get_alert

    ensure_alert_tables(place.engine)
    alert = make_alert(1)
    row = Alert.from_row(alert)
    place.engine.register("_a", __import__("pyarrow").Table.from_pylist([vars(row)]))
    place.engine.execute("INSERT INTO _cairn_alerts BY NAME SELECT * FROM _a")
    cfg = actions_settings({"f": file_action(tmp_path / "ok.jsonl"),
                            "bad": {"type": "webhook", "url": "http://127.0.0.1:9/", "sign": False,
                                    "timeout": "1s"}})
    dispatch(place.engine, place.ws, [alert], cfg)
    assert get_alert(place.engine, alert["alert_id"]).status == "new"  # one destination still pending
    deliver_pending(place.engine, place.ws, actions_settings({"f": file_action(tmp_path / "ok.jsonl"),
                                                              "bad": file_action(tmp_path / "b.jsonl")}), force=True)
    assert get_alert(place.engine, alert["alert_id"]).status == "delivered"


def test_stdout_text_and_json(place: Workplace, capsys: pytest.CaptureFixture[str]) -> None:
    dispatch(place.engine, place.ws, [make_alert(1)], actions_settings({"o": {"type": "stdout", "format": "text"}}))
    out = capsys.readouterr().out
    assert out.startswith("[HIGH] CloudTrail logging stopped") and "Identity" in out
    dispatch(place.engine, place.ws, [make_alert(2)], actions_settings({"j": {"type": "stdout"}}))
    doc = json.loads(capsys.readouterr().out)
    assert doc["alert"]["alert_id"] == make_alert(2)["alert_id"] and doc["action"] == "j"


def test_file_append_failure_is_retried(place: Workplace, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cfg = actions_settings({"f": file_action(blocker / "alerts.jsonl")})
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert s.retrying == 1 and "cannot append" in s.errors[0]["error"]


def test_relative_file_path_is_in_the_workspace(place: Workplace) -> None:
    dispatch(place.engine, place.ws, [make_alert(1)], actions_settings({"f": {"type": "file", "path": "out/a.jsonl"}}))
    assert (place.ws.root / "out" / "a.jsonl").exists()


@pytest.mark.parametrize(("table", "message"), [
    ({"x": {"type": "pager"}}, "type must be one of"),
    ({"x": {"type": "webhook", "url": "http://h/", "secret": "s", "colour": "red"}}, "unknown key(s) colour"),
    ({"x": {"type": "webhook", "url": "ftp://h/", "secret": "s"}}, "http:// or https://"),
    ({"x": {"type": "webhook", "url": "http://h/"}}, "needs secret"),
    ({"x": {"type": "email", "host": "h", "from": "a@b"}}, "needs to"),
    ({"x": {"type": "email", "host": "h", "from": "a@b", "to": "c@d", "tls": True, "starttls": True}}, "not both"),
    ({"x": {"type": "stdout", "min_severity": "urgent"}}, "min_severity must be one of"),
    ({"x": {"type": "stdout", "backoff": "soon"}}, "expected a duration"),
    ({"x": {"type": "stdout", "max_attempts": 0}}, "positive integer"),
    ({"x": {"type": "sns", "topic_arn": "my-topic"}}, "SNS topic ARN"),
    ({"x": {"type": "securityhub", "account_id": "12"}}, "12 digits"),
    ({"x": {"type": "triage", "notify": "pager"}}, "notify must be one of"),
    ({"x": {"type": "triage", "notify": "slack"}}, "needs webhook_url"),
    ({"x": {"type": "triage", "notify": "file", "path": "a", "url": "http://h/"}}, "unknown key(s) url"),
    ({"retries": 3}, "unknown key(s) retries"),
])
def test_config_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        actions_settings(table)
    assert message in str(err.value)


def test_settings_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "cairn.toml"
    p.write_text("""
[actions]
max_attempts = 5
backoff = "1m"

[actions.soc-slack]
type = "slack"
webhook_url = "${SLACK_URL}"
min_severity = "high"

[actions.hub]
type = "securityhub"
rules = ["aws_*", "cairn.intel_match"]
backoff = "10s"
""")
    cfg = actions_settings(load_config(p))
    slack, hub = cfg.get("soc-slack"), cfg.get("hub")
    assert (slack.type, slack.max_attempts, slack.backoff, slack.match.min_severity) == ("slack", 5, 60.0, "high")
    assert (hub.backoff, hub.match.rules) == (10.0, ("aws_*", "cairn.intel_match"))
    with pytest.raises(ConfigError, match="no action named 'nope'"):
        cfg.get("nope")


def test_env_references_and_scrubbing() -> None:
    scrub = Scrubber()
    value = resolve("Bearer ${TOKEN_A}-${TOKEN_B}", scrub, what="x", env={"TOKEN_A": "aaa111", "TOKEN_B": "bbb222"})
    assert value == "Bearer aaa111-bbb222"
    assert scrub("got aaa111 and bbb222 in https://u:pw@h/p?token=zzz&x=1") == \
        "got *** and *** in https://u:***@h/p?token=***&x=1"
    with pytest.raises(ConfigError, match="environment variable MISSING_X is not set"):
        resolve("${MISSING_X}", scrub, what="x", env={})
