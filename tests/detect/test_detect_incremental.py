"""``cairn detect``: checkpoints per rule over catalog files, the hit ledger, alert windows, thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cairn.cli.main import app
from cairn.detect.alerts import Alert, get_alert, list_alerts, set_status
from cairn.detect.native import builtin_rules_dir
from cairn.errors import InputError
from conftest import Lake
from detect.detect_support import alerts, failed_login, ledger, run, settings, stop_logging, trail

STOPPED = "cairn.aws.cloudtrail_stopped"
FAILURES = "cairn.aws.console_login_failures"
TWO = [str(builtin_rules_dir() / "aws" / "cloudtrail_stopped.yml"),
       str(builtin_rules_dir() / "aws" / "console_login_failures.yml")]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lk = Lake(tmp_path / "ws")
    yield lk
    lk.close()


def test_second_run_raises_nothing_and_new_data_raises_only_new_alerts(lake: Lake, tmp_path: Path) -> None:
    s = settings(native=TWO)
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z"),
                                            stop_logging("e2", "2024-07-01T10:05:00Z", error="TrailNotFound")]))
    first = run(lake, s)
    assert [a["rule_id"] for a in first.new_alerts] == [STOPPED]
    a = first.new_alerts[0]
    assert a["title"] == "arn:aws:iam::111122223333:user/alice disabled CloudTrail main"
    assert a["event_uids"] == ["e1"] and a["event_count"] == 1 and a["severity"] == "high" and a["severity_id"] == 4
    assert a["identity"] == "arn:aws:iam::111122223333:user/alice" and a["resource"] == "main"
    assert a["ips"] == ["198.51.100.7"] and a["account_id"] == "111122223333" and a["status"] == "new"
    assert json.loads(json.dumps(a)) == a  # to_dict() is JSON-safe

    second = run(lake, s)
    assert second.new_alerts == [] and second.hits == 0 and second.input_files == 0

    # new data: another user stops the same trail -> one new alert; the old one untouched
    lake.ingest(trail(tmp_path / "b.json", [stop_logging("e3", "2024-07-01T10:20:00Z", user="mallory")]))
    third = run(lake, s)
    assert [x["identity"] for x in third.new_alerts] == ["arn:aws:iam::111122223333:user/mallory"]
    assert third.updated_alerts == 0
    assert len(alerts(lake, STOPPED)) == 2


def test_late_event_in_an_open_window_updates_the_alert(lake: Lake, tmp_path: Path) -> None:
    s = settings(native=TWO)
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:10:00Z")]))
    (a,) = run(lake, s).new_alerts
    # a late-arriving log (an older event time, a new file) in the same hour, same user and trail
    lake.ingest(trail(tmp_path / "late.json", [stop_logging("e0", "2024-07-01T10:01:00Z"),
                                               stop_logging("e9", "2024-07-01T10:59:59Z")]))
    again = run(lake, s)
    assert again.new_alerts == [] and again.updated_alerts == 1
    (row,) = alerts(lake, STOPPED)
    assert row["alert_id"] == a["alert_id"] and row["event_count"] == 3
    assert row["event_uids"] == ["e0", "e1", "e9"]
    assert row["first_seen"].isoformat() == "2024-07-01T10:01:00+00:00"
    assert row["last_seen"].isoformat() == "2024-07-01T10:59:59+00:00"
    assert row["created_at"] <= row["updated_at"]
    # the next hour is another window: a new alert
    lake.ingest(trail(tmp_path / "next.json", [stop_logging("e10", "2024-07-01T11:00:00Z")]))
    assert len(run(lake, s).new_alerts) == 1


def test_status_set_by_actions_survives_updates(lake: Lake, tmp_path: Path) -> None:
    s = settings(native=TWO)
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:10:00Z")]))
    (a,) = run(lake, s).new_alerts
    assert set_status(lake.engine, [a["alert_id"]], "delivered") == 1
    lake.ingest(trail(tmp_path / "b.json", [stop_logging("e2", "2024-07-01T10:20:00Z")]))
    run(lake, s)
    got = get_alert(lake.engine, a["alert_id"][:10])
    assert got is not None and got.status == "delivered" and got.event_count == 2
    assert Alert.from_row(got.to_dict()) == got


def test_rereading_files_never_counts_an_event_twice(lake: Lake, tmp_path: Path) -> None:
    s = settings(native=TWO)
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:10:00Z")]))
    run(lake, s)
    lake.engine.execute("DELETE FROM _cairn_detect_checkpoints")  # as after an enrichment recompute
    again = run(lake, s)
    assert again.hits == 1 and again.new_hits == 0 and again.new_alerts == [] and again.updated_alerts == 0
    assert alerts(lake, STOPPED)[0]["event_count"] == 1


def test_a_new_rule_reads_the_existing_data_once(lake: Lake, tmp_path: Path) -> None:
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:10:00Z")]))
    assert run(lake, settings()).rules == {}
    first = run(lake, settings(native=TWO))
    assert len(first.new_alerts) == 1
    assert run(lake, settings(native=TWO)).input_files == 0


def test_threshold_counts_across_runs(lake: Lake, tmp_path: Path) -> None:
    s = settings(native=TWO)
    lake.ingest(trail(tmp_path / "a.json", [failed_login(f"f{i}", f"2024-07-01T10:0{i}:00Z") for i in range(4)]))
    r1 = run(lake, s)
    assert r1.new_alerts == [] and len(ledger(lake, FAILURES)) == 4  # counted, below the threshold of 5
    lake.ingest(trail(tmp_path / "b.json", [failed_login("f4", "2024-07-01T10:04:30Z"),
                                            failed_login("g0", "2024-07-01T10:04:40Z", ip="192.0.2.1")]))
    (a,) = run(lake, s).new_alerts
    assert a["rule_id"] == FAILURES and a["event_count"] == 5 and a["ips"] == ["203.0.113.50"]
    assert a["event_uids"] == ["f0", "f1", "f2", "f3", "f4"]
    # a sixth failure in the same window updates it; another window starts from zero
    lake.ingest(trail(tmp_path / "c.json", [failed_login("f5", "2024-07-01T10:09:59Z"),
                                            failed_login("h0", "2024-07-01T10:10:00Z")]))
    r3 = run(lake, s)
    assert r3.new_alerts == [] and r3.updated_alerts == 1
    assert alerts(lake, FAILURES)[0]["event_count"] == 6


def test_suppression_window_groups_by_dedup_key(lake: Lake, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yml").write_text("""
id: test.stop
title: stop
severity: low
table: cloudtrail
condition: event_name = 'StopLogging'
title_template: "{identity} stopped {trail} from {ips}"
fields: {trail: "json_extract_string(request_parameters, '$.name')"}
dedup: [trail]
suppression: 1d
""", encoding="utf-8")
    lake.ingest(trail(tmp_path / "a.json", [
        stop_logging("e1", "2024-07-01T01:00:00Z", trail_name="t1"),
        stop_logging("e2", "2024-07-01T23:00:00Z", trail_name="t1", user="bob", ip="192.0.2.9"),
        stop_logging("e3", "2024-07-01T05:00:00Z", trail_name="t2"),
        stop_logging("e4", "2024-07-02T00:00:00Z", trail_name="t1"),
    ]))
    got = run(lake, settings(native=[str(rules)])).new_alerts
    by = sorted((a["dedup_key"], a["event_count"], a["first_seen"][:10]) for a in got)
    assert by == [("t1", 1, "2024-07-02"), ("t1", 2, "2024-07-01"), ("t2", 1, "2024-07-01")]
    t1 = next(a for a in got if a["dedup_key"] == "t1" and a["event_count"] == 2)
    assert t1["title"] == "arn:aws:iam::111122223333:user/alice stopped t1 from 198.51.100.7"
    assert t1["ips"] == ["192.0.2.9", "198.51.100.7"]


def test_since_bounds_event_time(lake: Lake, tmp_path: Path) -> None:
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-06-01T10:00:00Z"),
                                            stop_logging("e2", "2024-07-01T10:00:00Z", user="bob")]))
    got = run(lake, settings(native=TWO), since="2024-06-15T00:00:00Z").new_alerts
    assert [a["event_uids"] for a in got] == [["e2"]]


def test_sigma_and_native_rules_from_rules_paths(lake: Lake, tmp_path: Path) -> None:
    from detect.sigmadata import SIGMAHQ

    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z")]))
    sigma_rule = SIGMAHQ / "rules" / "aws_cloudtrail_disable_logging.yml"
    native_rule = Path(__file__).parents[2] / "src/cairn/data/rules/aws/cloudtrail_stopped.yml"
    s = run(lake, settings(), rules=[sigma_rule, native_rule])
    assert s.rules == {"sigma": 1, "native": 1}
    kinds = sorted(a["rule_id"] for a in s.new_alerts)
    assert kinds == ["4db60cc0-36fb-42b7-9b58-a5b53019fb74", STOPPED]
    sig = next(a for a in s.new_alerts if a["rule_id"] != STOPPED)
    assert sig["severity"] == "medium" and sig["title"].endswith("by arn:aws:iam::111122223333:user/alice")


def test_cli_detect_and_alerts(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cfg = tmp_path / "cairn.toml"
    cfg.write_text('[detect]\nintel_match = false\nenrich = false\nsuppression = "2h"\n', encoding="utf-8")
    runner = CliRunner()
    base = ["--workspace", str(ws), "--config", str(cfg)]
    f = trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z")])
    assert runner.invoke(app, [*base, "ingest", str(f)]).exit_code == 0
    r = runner.invoke(app, [*base, "--json", "detect", "--no-dispatch"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["rules"]["native"] >= 20 and "intel" not in out["rules"]
    assert sorted(a["rule_id"] for a in out["new_alerts"]) == [STOPPED, "cairn.aws.security_configuration_change"]
    assert out["dispatch"] is None  # --no-dispatch
    r = runner.invoke(app, [*base, "--json", "alerts", "--severity", "high+"])
    listed = json.loads(r.output)["alerts"]
    assert [a["rule_id"] for a in listed] == [STOPPED]
    assert json.loads(runner.invoke(app, [*base, "--json", "alerts", "--severity", "low"]).output)["alerts"] == []
    r = runner.invoke(app, [*base, "--json", "alerts", "show", listed[0]["alert_id"][:8]])
    shown = json.loads(r.output)
    assert shown["alert"]["alert_id"] == listed[0]["alert_id"] and shown["events"][0]["event_uid"] == "e1"
    r = runner.invoke(app, [*base, "alerts", "show", "nope"])
    assert isinstance(r.exception, InputError) and "no alert 'nope'" in str(r.exception)
    r = runner.invoke(app, [*base, "--json", "detect", "--no-dispatch"])
    assert json.loads(r.output)["new_alerts"] == []
    r = runner.invoke(app, [*base, "query", "SELECT count(*) AS n FROM alerts", "--format", "json"])
    assert json.loads(r.output)[0]["n"] == 2


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    from cairn.config import load_config
    from cairn.detect.settings import detect_settings
    from cairn.errors import ConfigError

    for text, msg in (('[detect]\nintel_min_score = 11\n', "0-10"),
                      ('[detect]\nsuppresion = "1h"\n', "unknown key"),
                      ('[detect]\nsuppression = "soon"\n', "duration"),
                      ('[detect]\nsigma = "rules/"\n', "list of strings")):
        p = tmp_path / "c.toml"
        p.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=msg):
            detect_settings(load_config(p))


def test_list_alerts_filters(lake: Lake, tmp_path: Path) -> None:
    lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z")]
                      + [failed_login(f"f{i}", f"2024-07-01T10:0{i}:00Z") for i in range(5)]))
    run(lake, settings(native=TWO))
    assert {a.rule_id for a in list_alerts(lake.engine)} == {STOPPED, FAILURES}
    assert [a.rule_id for a in list_alerts(lake.engine, severity=["medium"])] == [FAILURES]
    assert [a.rule_id for a in list_alerts(lake.engine, rules=[STOPPED])] == [STOPPED]
    assert list_alerts(lake.engine, since="2030-01-01T00:00:00Z") == []


def test_new_alerts_are_handed_to_actions(tmp_path: Path) -> None:
    pytest.importorskip("cairn.actions")
    out = tmp_path / "alerts.jsonl"
    cfg = tmp_path / "cairn.toml"
    cfg.write_text('[detect]\nintel_match = false\nenrich = false\n'
                   f'[actions.out]\ntype = "file"\npath = "{out}"\n', encoding="utf-8")
    runner = CliRunner()
    base = ["--workspace", str(tmp_path / "ws"), "--config", str(cfg)]
    f = trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z")])
    assert runner.invoke(app, [*base, "ingest", str(f)]).exit_code == 0
    r = runner.invoke(app, [*base, "--json", "detect"])
    assert r.exit_code == 0, r.output
    ids = {a["alert_id"] for a in json.loads(r.output)["new_alerts"]}
    assert len(ids) == 2
    written = out.read_text(encoding="utf-8")
    assert all(i in written for i in ids)
    r = runner.invoke(app, [*base, "--json", "detect"])
    assert json.loads(r.output)["dispatch"] == {"status": "no new alerts"}
    assert out.read_text(encoding="utf-8") == written


def test_dispatch_summary_is_json_and_a_bad_action_fails_before_alerts_are_stored(tmp_path: Path) -> None:
    """A webhook without a secret (and sign left on) used to surface only at dispatch, after the alerts were
    committed: exit 0, alerts never queued, and later runs had nothing new to queue."""
    pytest.importorskip("cairn.actions")
    out = tmp_path / "alerts.jsonl"
    cfg = tmp_path / "cairn.toml"
    head = '[detect]\nintel_match = false\nenrich = false\n'
    cfg.write_text(head + '[actions.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:9/x"\n', encoding="utf-8")
    runner = CliRunner()
    base = ["--workspace", str(tmp_path / "ws"), "--config", str(cfg)]
    f = trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z")])
    assert runner.invoke(app, [*base, "ingest", str(f)]).exit_code == 0
    r = runner.invoke(app, [*base, "--json", "detect"])
    assert type(r.exception).__name__ == "ConfigError" and "[actions.hook] needs secret" in str(r.exception)
    assert json.loads(runner.invoke(app, [*base, "--json", "alerts"]).output)["alerts"] == []
    cfg.write_text(head + f'[actions.out]\ntype = "file"\npath = "{out}"\n', encoding="utf-8")
    r = runner.invoke(app, [*base, "--json", "detect"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["dispatch"]
    assert d["status"] == "ok" and d["enqueued"] == d["delivered"] == 2 and d["actions"]["out"]["delivered"] == 2
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_alerts_carry_their_rules_tags_into_asff_types(tmp_path: Path) -> None:
    """A rule's ATT&CK tags reach the alert (``tags``), so Security Hub findings get ``TTPs/<tactic>/...``."""
    from cairn.outputs.asff import alert_to_finding
    from conftest import bundled_stratus_dir

    lake = Lake(tmp_path / "ws")
    try:
        lake.ingest(bundled_stratus_dir() / "aws.persistence.iam-backdoor-user.json")
        s = run(lake, settings(native=["builtin"]))
        (a,) = [x for x in s.new_alerts if x["rule_id"] == "cairn.aws.iam_backdoor_user_keys"]
        assert a["tags"] == ["attack.persistence", "attack.t1098"]
        assert get_alert(lake.engine, a["alert_id"]).tags == a["tags"]
        types = alert_to_finding(a, account_id="123456789012", region="us-east-1")["Types"]
        assert types == [f"TTPs/Persistence/{a['rule_title']}"]
        # a catalog from before the column: ensure_alert_tables adds it, old rows read as no tags
        lake.engine.execute("ALTER TABLE _cairn_alerts DROP COLUMN tags")
        from cairn.detect.alerts import ensure_alert_tables

        ensure_alert_tables(lake.engine)
        assert get_alert(lake.engine, a["alert_id"]).tags == []
    finally:
        lake.close()
