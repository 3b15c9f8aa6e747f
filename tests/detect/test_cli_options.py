"""Options shared by detect, alerts, sigma, retrohunt, triage, actions and securityhub: one time parser,
one alert id resolver, limits; and how broken rule files passed to ``detect --rules`` are reported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cairn.detect.alerts import list_alerts, resolve_alert_id
from cairn.errors import ConfigError, InputError
from cairn.timeparse import parse_duration, parse_time
from conftest import Lake
from detect.detect_support import run, settings, stop_logging, trail

STOPPED_RULE = "cloudtrail_stopped.yml"
SIGMA_RULE = """title: StopLogging
id: 8b6a3a1e-7d55-4b8e-9a43-2f1f0c6b3c11
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  condition: sel
level: high
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A workspace with two real alerts and two crafted ones whose ids share the prefix ``abcdef``."""
    from cairn.detect.native import builtin_rules_dir

    base = tmp_path_factory.mktemp("opts")
    lake = Lake(base / "ws")
    lake.ingest(trail(base / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z"),
                                        stop_logging("e2", "2024-07-01T10:05:00Z", user="mallory")]))
    run(lake, settings(native=[str(builtin_rules_dir() / "aws" / STOPPED_RULE)]))
    ids = [r[0] for r in lake.rows("SELECT alert_id FROM _cairn_alerts ORDER BY alert_id")]
    lake.engine.execute("INSERT INTO _cairn_alerts SELECT * REPLACE ('abcdef' || substr(alert_id, 7) AS alert_id) "
                        "FROM _cairn_alerts")
    lake.close()
    yield {"root": base / "ws", "ids": ids, "base": base}


# --- 1. one time parser ---------------------------------------------------------------------------------

def test_parse_time_and_duration() -> None:
    now = datetime(2024, 7, 1, 12, tzinfo=UTC)
    assert parse_time("24h", now=now) == now - timedelta(hours=24)
    assert parse_time("2h30m", now=now) == now - timedelta(minutes=150)
    assert parse_time("1.5d", now=now) == now - timedelta(hours=36)
    assert parse_time("2024-06-01T00:00:00Z") == datetime(2024, 6, 1, tzinfo=UTC)
    assert parse_time("2024-06-01") == datetime(2024, 6, 1, tzinfo=UTC)
    assert parse_duration("14d", option="--baseline") == timedelta(days=14)
    for bad, message in (("99999999d", "--since: 99999999d is out of range"),
                         ("9" * 400 + "s", "is out of range"),
                         ("-3d", "--since: -3d is negative"),
                         ("banana", "--since: not a time: 'banana'"),
                         ("3x", "--since: not a time: '3x'")):
        with pytest.raises(ConfigError, match=message):
            parse_time(bad, option="--since")
    with pytest.raises(ConfigError, match="--after: 'soon' is not a duration"):
        parse_duration("soon", option="--after")
    with pytest.raises(ConfigError, match="--after: -1h is negative"):
        parse_duration("-1h", option="--after")


@pytest.mark.parametrize("argv", [
    ["detect", "--no-enrich", "--no-dispatch"],
    ["alerts"],
    ["retrohunt", "--dry-run"],
    ["actions", "dispatch"],
    ["securityhub", "enrich", "--dry-run"],
])
def test_every_since_option_rejects_out_of_range_negative_and_garbage(ws: dict[str, Any], cli: Any,
                                                                      argv: list[str]) -> None:
    for value, message in (("99999999d", "--since: 99999999d is out of range"),
                           ("-5h", "--since: -5h is negative"),
                           ("lastweek", "--since: not a time: 'lastweek'")):
        r = cli("-w", ws["root"], *argv, "--since", value)
        assert r.code == 2, (argv, value, r.err)
        assert message in " ".join(r.err.split()), r.err
        assert "Traceback" not in r.err


def test_relative_since_works_where_it_used_to_reach_sql(ws: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    r = cli("-w", ws["root"], "actions", "dispatch", "--since", "24h")
    assert r.code == 0, r.err
    rule = tmp_path / "s.yml"
    rule.write_text(SIGMA_RULE, encoding="utf-8")
    r = cli("-w", ws["root"], "--json", "sigma", "run", rule, "--since", "24h")
    assert r.code == 0, r.err
    assert r.json()["matches"] == []  # the events are from 2024
    r = cli("-w", ws["root"], "--json", "sigma", "run", rule, "--since", "2024-07-01T10:03:00Z", "--until", "1h")
    assert r.code == 0, r.err
    assert [m["event_uid"] for m in r.json()["matches"]] == ["e2"]
    r = cli("-w", ws["root"], "sigma", "run", rule, "--until", "99999999d")
    assert r.code == 2 and "--until: 99999999d is out of range" in r.err


@pytest.mark.parametrize("option", ["--before", "--after", "--baseline"])
def test_triage_windows_out_of_range(ws: dict[str, Any], cli: Any, option: str) -> None:
    r = cli("-w", ws["root"], "triage", ws["ids"][0], option, "99999999d")
    assert r.code == 2 and f"{option}: 99999999d is out of range" in r.err, r.err
    r = cli("-w", ws["root"], "triage", ws["ids"][0], option, "-1h")
    assert r.code == 2 and f"{option}: -1h is negative" in r.err, r.err


def test_triage_window_that_leaves_the_calendar_names_the_option(ws: dict[str, Any], cli: Any) -> None:
    # each duration fits alone; before + baseline from a 2024 alert reaches before year 1
    r = cli("-w", ws["root"], "triage", ws["ids"][0], "--before", "700000d", "--baseline", "300000d")
    assert r.code == 2 and "--baseline:" in r.err and "out of range" in r.err, r.err


# --- 2. one alert id resolver ---------------------------------------------------------------------------

def test_triage_accepts_the_prefix_alerts_shows(ws: dict[str, Any], cli: Any) -> None:
    full = ws["ids"][0]
    listed = cli("-w", ws["root"], "alerts")
    assert full[:12] in listed.out
    r = cli("-w", ws["root"], "--json", "triage", full[:12])
    assert r.code == 0, r.err
    assert r.json()["input"]["finding_id"] == full
    assert cli("-w", ws["root"], "--json", "triage", full).json()["input"]["finding_id"] == full


@pytest.mark.parametrize("argv", [["triage"], ["alerts", "show"]])
def test_unknown_short_and_ambiguous_ids(ws: dict[str, Any], cli: Any, argv: list[str]) -> None:
    r = cli("-w", ws["root"], *argv, "fffffffff")
    assert r.code == 3 and "no alert 'fffffffff': no alert id is or starts with it" in " ".join(r.err.split())
    r = cli("-w", ws["root"], *argv, ws["ids"][0][:5])
    assert r.code == 3 and "prefix of at least 6 characters" in " ".join(r.err.split())
    r = cli("-w", ws["root"], *argv, "abcdef")
    err = "".join(r.err.split())
    assert r.code == 3 and "ambiguous" in err
    assert all(f"abcdef{i[6:]}" in err for i in ws["ids"])


def test_resolver_on_any_relation() -> None:
    from cairn.engines.duckdb_engine import DuckDBEngine

    with DuckDBEngine(":memory:") as e:
        e.execute("CREATE TABLE a AS SELECT * FROM (VALUES ('abc123xy'), ('abc123zz'), ('def456')) t(alert_id)")
        assert resolve_alert_id(e, "def456", relation="a") == "def456"
        assert resolve_alert_id(e, "abc123x", relation="a") == "abc123xy"
        with pytest.raises(InputError, match="ambiguous: it matches abc123xy, abc123zz"):
            resolve_alert_id(e, "abc123", relation="a")


# --- 5. limits ------------------------------------------------------------------------------------------

def test_limit_must_not_be_negative(ws: dict[str, Any], cli: Any) -> None:
    r = cli("-w", ws["root"], "alerts", "--limit", "-1")
    assert r.code == 2 and "--limit" in r.err and "Binder" not in r.err
    assert len(cli("-w", ws["root"], "--json", "alerts", "--limit", "0").json()["alerts"]) == 4
    assert len(cli("-w", ws["root"], "--json", "alerts", "--limit", "1").json()["alerts"]) == 1
    r = cli("-w", ws["root"], "retrohunt", "--dry-run", "--limit", "-1")
    assert r.code == 2 and "--limit" in r.err


def test_list_alerts_checks_limit_and_parses_since(ws: dict[str, Any]) -> None:
    lake = Lake(ws["root"])
    try:
        with pytest.raises(ConfigError, match="--limit: must be 0"):
            list_alerts(lake.engine, limit=-1)
        assert list_alerts(lake.engine, since="24h") == []
        assert len(list_alerts(lake.engine, since="2024-07-01")) == 4
    finally:
        lake.close()


# --- 4. rule files given to detect --rules ----------------------------------------------------------------

NATIVE = "id: t.r8\ntitle: t\nseverity: high\ntable: cloudtrail\n"


@pytest.mark.parametrize(("text", "message"), [
    (NATIVE + "condition:\n", "condition: must be a non-empty SQL condition"),
    (NATIVE + "condition: '  '\n", "condition: must be a non-empty SQL condition"),
    (NATIVE + "query:\n", "query: must be a non-empty SQL query"),
    (NATIVE + "condition: [unclosed\n", "not valid YAML"),
    ("- id: t.a\n  condition: 'true'\n", "must hold one rule as a YAML mapping (id, title, severity, table, "
                                         "condition or query), got a list"),
    (NATIVE + "condition: 'true'\n---\n" + NATIVE.replace("t.r8", "t.r9") + "condition: 'true'\n",
     "holds 2 YAML documents; a native rule file holds one rule"),
])
def test_broken_native_rules_fail_detect_naming_file_and_reason(ws: dict[str, Any], cli: Any, tmp_path: Path,
                                                                text: str, message: str) -> None:
    rule = tmp_path / "r8.yml"
    rule.write_text(text, encoding="utf-8")
    r = cli("-w", ws["root"], "detect", "--no-enrich", "--no-dispatch", "--rules", rule)
    err = " ".join(r.err.split())
    assert r.code == 3, r.err
    assert f"{rule}:" in r.err.replace("\n", "") and message in err, r.err
    assert "Binder Error" not in err and "has no attribute" not in err


def test_broken_sigma_and_non_mapping_files_stay_sigma_failures(ws: dict[str, Any], cli: Any,
                                                                tmp_path: Path) -> None:
    (tmp_path / "broken_sigma.yml").write_text("title: t\nlogsource: {product: aws}\ndetection: [unclosed\n")
    (tmp_path / "scalar.yml").write_text("just a scalar\n")
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    r = cli("-w", ws["root"], "--json", "detect", "--no-enrich", "--no-dispatch", "--rules", tmp_path)
    assert r.code == 0, r.err
    failed = {Path(f["path"]).name: f["reason"] for f in r.json()["failed_sigma"]}
    assert set(failed) == {"broken_sigma.yml", "scalar.yml", "list.yml"}
    assert failed["broken_sigma.yml"].startswith("unreadable rule file:")
    assert failed["scalar.yml"].startswith("not a rule: YAML document 1 must be a mapping")
    assert "got a str ('just a scalar')" in failed["scalar.yml"]
    assert "got a list" in failed["list.yml"]
    assert not any("has no attribute" in v for v in failed.values())
