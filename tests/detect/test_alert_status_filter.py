"""``cairn alerts --status`` accepts the known statuses and those alerts have, and rejects the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.detect.alerts import STATUSES, list_alerts, set_status
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import ConfigError
from cairn.workspace import Workspace


def test_unknown_status_is_rejected_with_the_allowed_ones(cli, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    r = cli("-w", ws, "alerts", "--status", "bogus")
    assert r.code == 2
    assert "--status: unknown status 'bogus'; use one of new, delivered" in " ".join(r.err.split())
    for status in STATUSES:
        r = cli("-w", ws, "--json", "alerts", "--status", status)
        assert r.code == 0, r.err
        assert r.json() == {"alerts": []}


def test_a_status_an_alert_has_is_accepted(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    with DuckDBEngine(ws.catalog_path) as engine:
        list_alerts(engine)  # creates the tables
        engine.execute("INSERT INTO _cairn_alerts (alert_id, rule_id, title, severity, severity_id, first_seen, "
                       "last_seen, event_count, status) VALUES ('a1', 'r', 't', 'high', 4, now(), now(), 1, 'new')")
        set_status(engine, ["a1"], "triaged")
        assert [a.alert_id for a in list_alerts(engine, status=["triaged"])] == ["a1"]
        assert list_alerts(engine, status=["new"]) == []
        with pytest.raises(ConfigError, match="use one of new, delivered, triaged"):
            list_alerts(engine, status=["closed"])
