"""The ``cairn`` command around ingest: tables, query formats, JSON summaries, errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from conftest import CT_FIXTURES


@pytest.fixture
def loaded_ws(cli: Any, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    r = cli("-w", ws, "--json", "ingest", CT_FIXTURES / "stratus", CT_FIXTURES / "aws-docs")
    assert r.code == 0, r.err
    return ws


def test_json_ingest_summary_shape(cli: Any, tmp_path: Path) -> None:
    r = cli("-w", tmp_path / "ws", "--json", "ingest", CT_FIXTURES / "stratus", CT_FIXTURES / "aws-docs")
    assert r.code == 0 and r.err == ""
    s = r.json()
    assert set(s) == {"run_id", "files", "files_skipped", "bytes_read", "records_read", "loaded", "duplicates",
                      "quarantined", "quarantined_new", "tables", "sources", "skipped", "reasons", "seconds",
                      "committed", "balanced"}
    assert s["balanced"] and s["committed"]
    assert (s["records_read"], s["loaded"], s["duplicates"], s["quarantined"]) == (13, 13, 0, 0)
    assert s["tables"] == {"cloudtrail": {"read": 11, "loaded": 11, "duplicates": 0, "quarantined": 0},
                           "cloudtrail_insights": {"read": 2, "loaded": 2, "duplicates": 0, "quarantined": 0}}
    assert s["sources"] == {"cloudtrail": 6} and s["skipped"] == {"documentation file": 2}
    assert s["files"] == 8 and s["files_skipped"] == 2


def test_human_ingest_summary(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    rec = json.loads((CT_FIXTURES / "stratus" / "aws.defense-evasion.cloudtrail-stop.json").read_text())[0]
    (src / "a.json").write_text(json.dumps([dict(rec, eventVersion="2.0", eventID="v2")]))
    r = cli("-w", tmp_path / "ws", "ingest", CT_FIXTURES / "stratus", src)
    assert r.code == 0
    out = " ".join(r.out.split())
    assert "balanced" in out and "unsupported eventVersion 2.0" in out and "quarantine" in out


def test_tables(cli: Any, loaded_ws: Path) -> None:
    rows = {t["table"]: t for t in cli("-w", loaded_ws, "--json", "tables").json()}
    assert rows["cloudtrail"]["rows"] == 11 and rows["cloudtrail"]["files"] >= 1
    assert rows["cloudtrail"]["ocsf_class_uid"] == 6003
    assert rows["cloudtrail"]["first"].startswith("2016-07-14T19:15:45")
    assert rows["cloudtrail_insights"]["rows"] == 2 and rows["quarantine"]["rows"] == 0
    assert rows["observables"]["rows"] > 0
    text = cli("-w", loaded_ws, "tables")
    assert text.code == 0 and "cloudtrail" in text.out and "6003" in text.out
    schema = cli("-w", loaded_ws, "--json", "tables", "--schema", "cloudtrail").json()
    assert {"name": "principal_arn", "type": "VARCHAR"}.items() <= next(
        c for c in schema if c["name"] == "principal_arn").items()
    bad = cli("-w", loaded_ws, "tables", "--schema", "nope")
    assert bad.code == 2 and "unknown table 'nope'" in bad.err  # a usage error (README: exit 2)


SQL = "SELECT event_uid, event_time, src_ip_bin, resource_arns FROM cloudtrail ORDER BY event_uid LIMIT 3"


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl", "parquet"])
def test_query_formats(fmt: str, cli: Any, loaded_ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    args = ["-o", out] if fmt == "parquet" else []
    r = cli("-w", loaded_ws, "query", SQL, "--format", fmt, *args)
    assert r.code == 0, r.err
    if fmt == "table":
        assert "event_uid" in r.out and r.out.count("\n") > 3
        return
    if fmt == "parquet":
        t = pq.read_table(out)
        assert t.num_rows == 3 and t.column_names == ["event_uid", "event_time", "src_ip_bin", "resource_arns"]
        rows = t.to_pylist()
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.out)))
        assert len(rows[0]["src_ip_bin"]) == 32  # 16 bytes as hex
    elif fmt == "json":
        rows = json.loads(r.out)
        assert rows[0]["event_time"].endswith("+00:00")
    else:
        rows = [json.loads(line) for line in r.out.splitlines()]
    assert len(rows) == 3
    assert [x["event_uid"] for x in rows] == sorted(x["event_uid"] for x in rows)


def test_query_errors(cli: Any, loaded_ws: Path) -> None:
    r = cli("-w", loaded_ws, "query", "SELEC nonsense FROM")
    assert r.code == 5 and "error:" in r.err and "syntax error" in r.err.lower()
    r = cli("-w", loaded_ws, "query", "SELECT * FROM no_such_table")
    assert r.code == 5 and "no_such_table" in r.err
    r = cli("-w", loaded_ws, "query", "SELECT 1", "--format", "xml")
    assert r.code == 1 and "unknown format 'xml'" in r.err


def test_ingest_usage_errors(cli: Any, tmp_path: Path) -> None:
    r = cli("-w", tmp_path / "ws", "ingest", "--source", "syslog", CT_FIXTURES / "stratus")
    assert r.code == 2 and "unknown source 'syslog'" in r.err and "cloudtrail" in r.err
    r = cli("-w", tmp_path / "ws", "ingest", tmp_path / "missing.json")
    assert r.code == 3 and "missing.json: no such file or folder" in " ".join(r.err.split())
    # Nothing was committed by the failed runs.
    assert all(t["rows"] == 0 for t in cli("-w", tmp_path / "ws", "--json", "tables").json())


def test_unknown_options_and_commands_are_usage_errors(cli: Any, tmp_path: Path) -> None:
    """A mistyped option gets click's usage message and exit code 2, never a traceback."""
    r = cli("-w", tmp_path / "ws", "ingest", "--json", CT_FIXTURES / "stratus")
    assert r.code == 2 and "No such option: --json" in r.err and "Traceback" not in r.err + r.out
    r = cli("-w", tmp_path / "ws", "no-such-command")
    assert r.code == 2 and "No such command" in r.err


def test_version(cli: Any) -> None:
    import platform

    import duckdb

    from cairn import __version__

    r = cli("version")
    assert r.code == 0 and r.out == f"{__version__}\n"
    r = cli("--json", "version")
    assert r.code == 0 and r.json() == {"version": __version__, "python": platform.python_version(),
                                        "duckdb": duckdb.__version__}


def test_forced_source(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "odd.txt"
    src.write_text(json.dumps({"Records": json.loads((CT_FIXTURES / "stratus" / "aws.defense-evasion.cloudtrail-stop.json").read_text())}))
    r = cli("-w", tmp_path / "ws", "--json", "ingest", "--source", "cloudtrail", src)
    assert r.code == 0 and r.json()["loaded"] == 1
