"""``cairn actions list|test|deliver|outbox|dispatch`` in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actions.conftest import SECRET, HttpServer, Reply, make_alert
from cairn.actions import dispatch
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace


def _workspace(tmp_path: Path, http: HttpServer) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "cairn.toml").write_text(f"""
[actions]
backoff = "1s"

[actions.hook]
type = "webhook"
url = "{http.url}/in"
secret = "${{CAIRN_CLI_HOOK_SECRET}}"
min_severity = "medium"

[actions.log]
type = "file"
path = "alerts.jsonl"
""")
    return root


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_CLI_HOOK_SECRET", SECRET)


def test_list_test_deliver_outbox(cli: Any, tmp_path: Path, http: HttpServer) -> None:
    root = _workspace(tmp_path, http)
    r = cli("-w", root, "--json", "actions", "list")
    assert r.code == 0, r.err
    listed = {a["name"]: a for a in r.json()}
    assert listed["hook"]["options"]["secret"] == "${CAIRN_CLI_HOOK_SECRET}"  # as written, never resolved
    assert listed["hook"]["match"] == "severity >= medium"
    assert SECRET not in r.out

    r = cli("-w", root, "actions", "test", "hook")
    assert r.code == 0, r.err
    assert "test alert delivered to hook" in r.out
    assert http.requests[-1].json()["test"] is True

    # queue two alerts while the webhook fails, then deliver them with the CLI
    http.default = Reply(503, b"maintenance")
    ws = Workspace.open(root)
    engine = DuckDBEngine(ws.catalog_path)
    Catalog(engine, ws.lake)
    s = dispatch(engine, ws, [make_alert(1), make_alert(2)], None)
    engine.close()
    assert (s.delivered, s.retrying) == (2, 2)  # the file action delivered, the webhook waits

    r = cli("-w", root, "--json", "actions", "outbox", "--status", "pending")
    assert r.code == 0, r.err
    rows = r.json()
    assert {x["action"] for x in rows} == {"hook"} and all("HTTP 503" in x["last_error"] for x in rows)

    http.default = Reply(200)
    r = cli("-w", root, "--json", "actions", "deliver", "--force")
    assert r.code == 0, r.err
    assert r.json()["delivered"] == 2
    r = cli("-w", root, "actions", "outbox")
    assert r.code == 0 and "delivered" in r.out
    r = cli("-w", root, "actions", "list")
    assert r.code == 0 and "hook" in r.out and "log" in r.out


def test_errors_and_exit_codes(cli: Any, tmp_path: Path, http: HttpServer) -> None:
    root = _workspace(tmp_path, http)
    r = cli("-w", root, "actions", "test", "nope")
    assert r.code == 2 and "no action named 'nope'" in r.err
    http.default = Reply(500, f"boom {SECRET}".encode())
    r = cli("-w", root, "actions", "test", "hook")
    assert r.code == 7 and "HTTP 500" in r.err and SECRET not in r.err + r.out
    r = cli("-w", root, "actions", "outbox", "--status", "lost")
    assert r.code == 2 and "unknown status" in r.err
    (root / "cairn.toml").write_text('[actions.x]\ntype = "pager"\n')
    r = cli("-w", root, "actions", "list")
    assert r.code == 2 and "type must be one of" in r.err


def test_dispatch_from_the_alerts_table(cli: Any, tmp_path: Path, http: HttpServer) -> None:
    import pyarrow as pa

    from cairn.detect.alerts import Alert, ensure_alert_tables

    root = _workspace(tmp_path, http)
    ws = Workspace.open(root)
    engine = DuckDBEngine(ws.catalog_path)
    Catalog(engine, ws.lake)
    ensure_alert_tables(engine)
    rows = [vars(Alert.from_row(make_alert(i, severity=s))) for i, s in enumerate(("low", "high"))]
    engine.register("_a", pa.Table.from_pylist(rows))
    engine.execute("INSERT INTO _cairn_alerts BY NAME SELECT * FROM _a")
    engine.close()
    r = cli("-w", root, "--json", "actions", "dispatch")
    assert r.code == 0, r.err
    doc = r.json()
    assert (doc["alerts"], doc["enqueued"], doc["delivered"]) == (2, 3, 3)  # file: both, webhook: the high one
    lines = (root / "alerts.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["alert"]["severity"] for x in lines) == ["high", "low"]
    assert [r.json()["alert"]["severity"] for r in http.requests] == ["high"]
    r = cli("-w", root, "--json", "query", "SELECT status, count(*) AS n FROM alerts GROUP BY 1")
    assert r.code == 0, r.err
    assert r.json() == [{"status": "delivered", "n": 2}]
    # nothing new: a second dispatch of 'new' alerts finds none
    r = cli("-w", root, "--json", "actions", "dispatch")
    assert r.json()["alerts"] == 0
