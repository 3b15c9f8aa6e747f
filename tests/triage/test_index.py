"""The triage index: same answers as reading the lake, incremental updates, and windows that read little."""

from __future__ import annotations

from typing import Any

from cairn.triage import triage, update_index
from cairn.triage.index import index_dir, is_current
from conftest import Lake
from triage.conftest import SAMPLES, STRATUS, stratus


def _strip(rep: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rep.items() if k not in ("generated_at", "timings", "index", "baseline", "notes")}


def test_index_and_lake_agree(attack_lake: Any) -> None:
    for name in ("aws.execution.ssm-send-command", "aws.discovery.ec2-download-user-data"):
        recs = stratus(name)
        body = {"identity": recs[0]["userIdentity"]["accessKeyId"], "time": recs[len(recs) // 2]["eventTime"]}
        a = triage(attack_lake.engine, attack_lake.ws, body).to_dict()
        b = triage(attack_lake.engine, attack_lake.ws, body, use_index=False).to_dict()
        assert a["index"] == "triage index" and b["index"] == "lake"
        assert _strip(a) == _strip(b)
        assert a["baseline"]["events"] == b["baseline"]["events"]


def test_incremental_update_and_rebuild(tmp_path: Any) -> None:
    lake = Lake(tmp_path / "ws")
    try:
        lake.ingest(STRATUS / "aws.execution.ssm-send-command.json")
        first = update_index(lake.engine, lake.ws)
        assert first.rows_added == len(stratus("aws.execution.ssm-send-command")) and not first.rebuilt
        assert is_current(lake.engine)
        assert update_index(lake.engine, lake.ws).files_added == 0
        lake.ingest(SAMPLES / "cloudtrail" / "otrf")
        assert not is_current(lake.engine)
        # a triage brings the index up to date by itself
        rep = triage(lake.engine, lake.ws, {"identity": "arn:aws:iam::123456789123:user/pedro",
                                            "time": "2020-09-14T00:50:00Z"}).to_dict()
        assert rep["index"] == "triage index" and rep["counts"]["events"] == 87
        assert is_current(lake.engine)
        assert len(list(index_dir(lake.ws).glob("part-*.parquet"))) == 2
        # a lake file leaving the catalog forces a rebuild
        lake.engine.execute("DELETE FROM _cairn_files WHERE table_name = 'cloudtrail' AND path LIKE '%' "
                            "AND path = (SELECT min(path) FROM _cairn_files WHERE table_name = 'cloudtrail')")
        again = update_index(lake.engine, lake.ws)
        assert again.rebuilt
        assert lake.scalar("SELECT sum(rows) FROM _triage_parts") == lake.scalar(
            "SELECT sum(rows) FROM _cairn_files WHERE table_name = 'cloudtrail'")
        # parts of an older projection (INDEX_FORMAT) are rebuilt, by an update or by the next triage
        lake.engine.execute("UPDATE _triage_format SET format = format - 1")
        assert not is_current(lake.engine)
        assert update_index(lake.engine, lake.ws).rebuilt and is_current(lake.engine)
        assert update_index(lake.engine, lake.ws).files_added == 0
    finally:
        lake.close()


def test_baseline_from_digest(tmp_path: Any) -> None:
    """Activity of the same principal before the window is the baseline: seen values are not new."""
    lake = Lake(tmp_path / "ws")
    try:
        lake.ingest(SAMPLES / "cloudtrail" / "otrf")
        role = "arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"
        late = triage(lake.engine, lake.ws, {"identity": role, "time": "2020-09-14T01:13:00Z"},
                      before=__import__("datetime").timedelta(minutes=2)).to_dict()
        assert late["baseline"]["from"] == "triage digest"
        assert late["baseline"]["events"] > 0
        assert "1.2.3.4" not in late["new_vs_baseline"]["ips"]
        assert late["source_ips"][0]["new"] is False
    finally:
        lake.close()
