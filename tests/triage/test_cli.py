"""``cairn triage`` and ``cairn triage-index`` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cairn.cli.triage_cmd import parse_duration
from cairn.errors import ConfigError
from triage.conftest import SAMPLES, stratus


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import Lake

    root = tmp_path_factory.mktemp("cli") / "ws"
    lake = Lake(root)
    lake.ingest(SAMPLES / "cloudtrail" / "stratus-red-team")
    lake.close()
    return root


def test_triage_formats(ws: Path, cli: Any, tmp_path: Path) -> None:
    recs = stratus("aws.defense-evasion.cloudtrail-stop")
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps({"identity": recs[0]["userIdentity"]["arn"], "time": recs[0]["eventTime"]}))
    res = cli("-w", ws, "triage-index")
    assert res.code == 0 and "lake files" in res.out
    text = cli("-w", ws, "triage", alert)
    assert text.code == 0, text.err
    assert "StopLogging" in text.out and "logging_tampering" in text.out
    js = cli("-w", ws, "--json", "triage", alert)
    doc = json.loads(js.out)
    assert doc["sensitive"][0]["category"] == "logging_tampering"
    out = tmp_path / "r.html"
    res = cli("-w", ws, "triage", alert, "-f", "html", "-o", out)
    assert res.code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    md = cli("-w", ws, "triage", alert, "-f", "markdown")
    assert md.out.startswith("# Triage")
    asff = json.loads(cli("-w", ws, "triage", alert, "-f", "asff").out)
    assert len(asff["Note"]["Text"]) <= 512 and asff["UserDefinedFields"]["cairn_triage_events"] == "1"
    sql = cli("-w", ws, "triage", alert, "-s", "athena")
    assert sql.out.startswith("SELECT eventtime") and recs[0]["userIdentity"]["arn"] in sql.out


def test_triage_from_stdin_and_errors(ws: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    recs = stratus("aws.persistence.iam-create-admin-user")
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(
        {"identity": recs[0]["userIdentity"]["accessKeyId"], "time": recs[0]["eventTime"]})))
    res = cli("-w", ws, "--json", "triage", "-", "--before", "10m", "--after", "5m")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["window"]["before_seconds"] == 600
    assert {s["category"] for s in doc["sensitive"]} == {"iam_change"}
    bad = cli("-w", ws, "triage", '{"identity": "x"}')
    assert bad.code == 3 and "no 'time'" in bad.err
    bad = cli("-w", ws, "triage", "{nope")
    assert bad.code == 3 and "invalid JSON" in bad.err
    bad = cli("-w", ws, "triage", '{"identity": "x", "time": "2024-01-01T00:00:00Z"}', "--before", "soon")
    assert bad.code == 2 and "not a duration" in bad.err
    bad = cli("-w", ws, "triage", '{"identity": "x", "time": "2024-01-01T00:00:00Z"}', "-f", "pdf")
    assert bad.code == 2


def test_triage_json_lines_file(ws: Path, cli: Any) -> None:
    """The bundled GuardDuty JSON Lines sample: each line is a finding, --index picks one."""
    jsonl = SAMPLES / "guardduty" / "panther" / "guardduty-findings.jsonl"
    ids = [json.loads(line)["id"] for line in jsonl.read_text().splitlines()]
    for i, finding_id in enumerate(ids):
        res = cli("-w", ws, "--json", "triage", jsonl, "--index", i)
        assert res.code == 0, res.err
        assert json.loads(res.out)["input"]["finding_id"] == finding_id
        assert f"holds 2 findings; triaging --index {i} (pick another with --index 0..1)" in " ".join(res.err.split())
    bad = cli("-w", ws, "triage", jsonl, "--index", 2)
    assert bad.code == 3 and "holds 2 findings; --index 2 is out of range (0..1)" in " ".join(bad.err.split())


def test_parse_duration() -> None:
    assert parse_duration("2h30m", option="--before").total_seconds() == 9000
    assert parse_duration("14d", option="--baseline").days == 14
    with pytest.raises(ConfigError):
        parse_duration("1x", option="--after")
