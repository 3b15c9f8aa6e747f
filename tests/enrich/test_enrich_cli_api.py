"""``cairn retrohunt`` / ``cairn enrich-lake`` and the notebook API on the sample lake."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from enrich_support import (  # noqa: F401
    CSV_COLUMNS,
    SampleLake,
    csv_feed,
    sample_lake_fixture,
    sample_template,
)

from cairn.enrich import api


def _feed(lake: SampleLake, tmp_path: Path) -> str:
    ip = lake.engine.scalar("SELECT value FROM observables WHERE type = 'ip' AND source = 'cloudtrail' "
                            "ORDER BY value LIMIT 1")
    lake.load(csv_feed(tmp_path / "f.csv", [{"value": ip, "type": "ip", "threat_type": "c2", "confidence": 90}]),
              "partner", fmt="csv", columns=CSV_COLUMNS)
    return ip


def test_cli_enrich_lake_and_retrohunt(sample_lake: SampleLake, tmp_path: Path, cli) -> None:
    ip = _feed(sample_lake, tmp_path)
    sample_lake.engine.close()
    ws = sample_lake.ws.root
    r = cli("-w", ws, "--json", "query", "SELECT count(*) AS n FROM intel_matches")  # stale: refreshed first
    assert r.code == 0, r.err
    assert r.json()[0]["n"] > 0
    r = cli("-w", ws, "--json", "enrich-lake", "--full")
    assert r.code == 0, r.err
    assert r.json()["mode"] == "full" and r.json()["matches"] == cli(
        "-w", ws, "--json", "query", "SELECT count(*) AS n FROM intel_matches").json()[0]["n"]
    assert cli("-w", ws, "--json", "enrich-lake").json()["mode"] == "up-to-date"
    r = cli("-w", ws, "retrohunt", "--dry-run")
    assert r.code == 0 and ip in r.out and "partner" in r.out and "dry run" in r.err
    r = cli("-w", ws, "--json", "retrohunt")
    data = r.json()
    assert data["new_matches"] == len(data["matches"]) > 0 and data["previous_run"] is None
    assert {m["value"] for m in data["matches"]} == {ip} and all(m["field"] for m in data["matches"])
    r = cli("-w", ws, "retrohunt", "--since", "7d")
    assert r.code == 0 and "0 new matches" in r.out
    r = cli("-w", ws, "retrohunt", "--since", "yesterday-ish")
    assert r.code != 0 and "not a time" in r.err
    r = cli("-w", ws, "--json", "query", "SELECT count(*) AS n FROM cloudtrail_enriched WHERE max_score_id >= 9")
    assert r.json()[0]["n"] > 0
    sample_lake.engine = type(sample_lake.engine)(sample_lake.ws.catalog_path)


def test_api_returns_arrow(sample_lake: SampleLake, tmp_path: Path) -> None:
    ip = _feed(sample_lake, tmp_path)
    sample_lake.engine.close()
    ws = sample_lake.ws.root
    t = api.enriched("cloudtrail", workspace=ws, min_score=9)
    assert isinstance(t, pa.Table) and t.num_rows > 0 and "enrichment" in t.column_names
    assert all(ip in {e["value"] for e in row} for row in t.column("enrichment").to_pylist())
    m = api.matches(workspace=ws, intel_source="partner", most_specific_only=True)
    assert m.num_rows > 0 and set(m.column("value").to_pylist()) == {ip}
    o = api.observables(workspace=ws, type="ip", min_score=9, limit=3)
    assert 0 < o.num_rows <= 3
    assert api.observables(workspace=ws, since="2099-01-01").num_rows == 0
    sample = api.observables(workspace=ws, limit=5).select(["event_uid", "source", "event_time", "field", "type",
                                                            "value", "ip_bin"])
    eo, em = api.enrich_table(sample, workspace=ws)
    assert eo.num_rows == 5 and "score_id" in eo.column_names and "indicator_uid" in em.column_names
    assert api.refresh(workspace=ws).mode == "up-to-date"
    sample_lake.engine = type(sample_lake.engine)(sample_lake.ws.catalog_path)
