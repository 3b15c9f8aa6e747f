"""``stdout`` actions and JSON output: while a command prints a ``--json`` document on stdout, the alert
lines go to stderr, so stdout stays one parseable JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actions.conftest import Workplace, make_alert
from cairn.actions import actions_settings, dispatch
from cairn.actions.destinations.channel import reserve_stdout, stdout_reserved
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace


def _workspace(tmp_path: Path) -> Path:
    """A workspace with a stdout action and two new alerts in the alerts table."""
    import pyarrow as pa

    from cairn.detect.alerts import Alert, ensure_alert_tables

    root = tmp_path / "ws"
    root.mkdir()
    (root / "cairn.toml").write_text('[actions.out]\ntype = "stdout"\n')
    ws = Workspace.open(root)
    engine = DuckDBEngine(ws.catalog_path)
    try:
        Catalog(engine, ws.lake)
        ensure_alert_tables(engine)
        rows = [vars(Alert.from_row(make_alert(i))) for i in (1, 2)]
        engine.register("_a", pa.Table.from_pylist(rows))
        engine.execute("INSERT INTO _cairn_alerts BY NAME SELECT * FROM _a")
    finally:
        engine.close()
    return root


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_summary_stays_parseable_and_alert_lines_go_to_stderr(cli: Any, tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    r = cli("-w", root, "--json", "actions", "dispatch")
    assert r.code == 0, r.err
    doc = json.loads(r.out)  # the whole of stdout is the summary
    assert (doc["alerts"], doc["enqueued"], doc["delivered"]) == (2, 2, 2)
    sent = [d for d in _lines(r.err) if d.get("schema") == "cairn.alert/1"]
    assert sorted(d["alert"]["alert_id"] for d in sent) == sorted(make_alert(i)["alert_id"] for i in (1, 2))
    assert {d["action"] for d in sent} == {"out"}


def test_json_test_message_goes_to_stderr(cli: Any, tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    r = cli("-w", root, "--json", "actions", "test", "out")
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"action": "out", "ok": True, "receipt": None}
    (line,) = _lines(r.err)
    assert line["test"] is True and line["action"] == "out"


def test_without_json_alert_lines_are_on_stdout(cli: Any, tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    r = cli("-w", root, "actions", "dispatch")
    assert r.code == 0, r.err
    sent = [json.loads(line) for line in r.out.splitlines() if line.startswith("{")]
    assert len(sent) == 2 and all(d["schema"] == "cairn.alert/1" for d in sent)


def test_reserve_stdout_outside_the_cli(place: Workplace, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = actions_settings({"out": {"type": "stdout"}})
    assert not stdout_reserved()
    with reserve_stdout():
        assert stdout_reserved()
        dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert not stdout_reserved()
    out, err = capsys.readouterr()
    assert out == "" and _lines(err)[0]["alert"]["alert_id"] == make_alert(1)["alert_id"]
    dispatch(place.engine, place.ws, [make_alert(2)], cfg)
    out, err = capsys.readouterr()
    assert err == "" and _lines(out)[0]["alert"]["alert_id"] == make_alert(2)["alert_id"]


@pytest.mark.parametrize("json_flag", [("--json", "detect"), ("detect", "--json")])
def test_detect_json_with_a_stdout_action(cli: Any, tmp_path: Path, json_flag: tuple[str, str]) -> None:
    from conftest import Lake
    from detect.detect_support import stop_logging, trail

    root = tmp_path / "ws"
    root.mkdir()
    (root / "cairn.toml").write_text('[detect]\nnative = ["builtin"]\nenrich = false\n\n'
                                     '[actions.out]\ntype = "stdout"\nrules = ["cairn.aws.cloudtrail_stopped"]\n')
    lake = Lake(root)
    try:
        lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:10:00Z")]))
    finally:
        lake.close()
    r = cli("-w", root, *json_flag)
    assert r.code == 0, r.err
    doc = json.loads(r.out)  # stdout is only the summary
    (raised,) = [a for a in doc["new_alerts"] if a["rule_id"] == "cairn.aws.cloudtrail_stopped"]
    sent = [d for d in _lines(r.err) if d.get("schema") == "cairn.alert/1"]
    assert [d["alert"]["alert_id"] for d in sent] == [raised["alert_id"]]
