"""What a delivery sends: the alert as the alerts table has it when it is sent (not the copy queued when
it was raised), and only the documented fields of it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from actions.conftest import HttpServer, Reply, Workplace, make_alert
from cairn.actions import actions_settings, deliver_pending, dispatch, send_test
from cairn.detect.alerts import Alert, get_alert
from cairn.detect.native import builtin_rules_dir
from conftest import Lake
from detect.detect_support import run, settings, stop_logging, trail

STOPPED = "cairn.aws.cloudtrail_stopped"


@pytest.fixture
def lake(tmp_path: Path) -> Any:
    lk = Lake(tmp_path / "ws")
    yield lk
    lk.close()


def _hook(http: HttpServer) -> Any:
    return actions_settings({"hook": {"type": "webhook", "url": f"{http.url}/in", "sign": False,
                                      "backoff": "1s", "timeout": "5s"}})


def test_a_retry_sends_the_alert_as_updated_by_a_later_detect_run(lake: Lake, http: HttpServer,
                                                                   tmp_path: Path) -> None:
    s = settings(native=[str(builtin_rules_dir() / "aws" / "cloudtrail_stopped.yml")])
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:10:00Z", ip="198.51.100.7")]))
    (raised,) = run(lake, s).new_alerts
    assert (raised["event_count"], raised["ips"]) == (1, ["198.51.100.7"])

    http.default = Reply(503, b"maintenance")
    first = dispatch(lake.engine, lake.ws, [raised], _hook(http))
    assert (first.delivered, first.retrying) == (0, 1)
    assert http.requests[0].json()["alert"] == raised  # the first attempt sent the alert as raised

    # a second detect run over a later event of the same user and trail, from another IP
    lake.ingest(trail(tmp_path / "b.json", [stop_logging("e2", "2024-07-01T10:40:00Z", ip="203.0.113.99")]))
    second = run(lake, s)
    assert (second.new_alerts, second.updated_alerts) == ([], 1)
    now = get_alert(lake.engine, raised["alert_id"])
    assert now is not None
    expected = now.to_dict()
    assert expected["event_count"] == 2 and expected["last_seen"] == "2024-07-01T10:40:00+00:00"
    assert sorted(expected["ips"]) == ["198.51.100.7", "203.0.113.99"]

    http.default = Reply(200)
    again = deliver_pending(lake.engine, lake.ws, _hook(http), force=True)
    assert (again.attempted, again.delivered) == (1, 1)
    sent = http.requests[-1].json()["alert"]
    assert sent == expected  # exactly `cairn alerts show --json`'s alert at send time
    assert sent["event_count"] == 2 and sent["last_seen"] == "2024-07-01T10:40:00+00:00"
    assert sorted(sent["ips"]) == ["198.51.100.7", "203.0.113.99"]
    assert sent["event_uids"] == ["e1", "e2"]


def test_the_queued_copy_is_sent_when_the_alert_row_is_gone(place: Workplace, http: HttpServer) -> None:
    from cairn.detect.alerts import ensure_alert_tables

    ensure_alert_tables(place.engine)
    alert = make_alert(1)
    http.default = Reply(503)
    dispatch(place.engine, place.ws, [alert], _hook(http))
    http.default = Reply(200)
    assert deliver_pending(place.engine, place.ws, _hook(http), force=True).delivered == 1
    assert http.requests[-1].json()["alert"] == json.loads(json.dumps(alert))


def test_test_messages_carry_only_the_documented_alert_fields(place: Workplace, tmp_path: Path) -> None:
    out = tmp_path / "test.jsonl"
    cfg = actions_settings({"f": {"type": "file", "path": str(out)}})
    assert send_test(place.engine, place.ws, cfg, "f") == str(out)
    (doc,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert doc["test"] is True
    assert "_test" not in doc["alert"]
    assert set(doc["alert"]) == {f.name for f in fields(Alert)}
    assert doc["alert"]["rule_id"] == "cairn.test" and doc["alert"]["event_count"] == 0


def test_internal_keys_never_reach_the_envelope(place: Workplace, http: HttpServer) -> None:
    alert = make_alert(2, _internal="x")
    dispatch(place.engine, place.ws, [alert], _hook(http))
    doc = http.requests[-1].json()
    assert "test" not in doc
    assert doc["alert"] == json.loads(json.dumps({k: v for k, v in alert.items() if k != "_internal"}))


def test_delivered_at_is_set_per_item_of_a_fixed_run_time(place: Workplace, http: HttpServer) -> None:
    """A caller's fixed ``now`` is the start of the run; each item's delivered_at counts on from it."""
    t0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    http.default = Reply(200, delay=0.3)
    dispatch(place.engine, place.ws, [make_alert(1), make_alert(2)], _hook(http), now=t0)
    first, second = (r["delivered_at"] for r in place.outbox())
    assert t0 + dt.timedelta(seconds=0.25) <= first < t0 + dt.timedelta(seconds=5)
    assert 0.25 <= (second - first).total_seconds() < 5
