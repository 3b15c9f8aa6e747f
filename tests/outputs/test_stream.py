"""Streaming ``cairn enrich``: same typed rows and same enrichment as ingest + refresh, nothing written,
every record accounted for; the CLI in every format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cairn.demo import samples_dir
from cairn.enrich.relation import MATCH_COLUMNS, OBSERVABLE_COLUMNS
from cairn.enrich.tables import event_tables
from cairn.lake.catalog import all_specs
from cairn.outputs.stream import enrich_inputs
from outputs.ocsf_schema import validate
from outputs.outputs_support import prepare_workspace

ROUTE53 = samples_dir() / "route53" / "panther" / "vpcdns-resolver-queries.jsonl"


def _rows(engine: Any, sql: str) -> list[tuple[Any, ...]]:
    return sorted(engine.rows(sql), key=repr)


def test_same_enrichment_as_the_lake(enriched: Any) -> None:
    e, s = enriched.engine, enriched.stream
    cols = ", ".join(OBSERVABLE_COLUMNS)
    lake = _rows(e, f"SELECT {cols} FROM enriched_observables")
    stream = _rows(e, f"SELECT {cols} FROM {s.observables}")
    assert len(lake) > 2000 and lake == stream
    mcols = ", ".join(MATCH_COLUMNS)
    lake_m = _rows(e, f"SELECT {mcols} FROM intel_matches")
    assert lake_m and lake_m == _rows(e, f"SELECT {mcols} FROM {s.matches}")
    assert any(r[MATCH_COLUMNS.index("value")] == "webservicepag.webhop.net" for r in lake_m)


def test_same_typed_rows_and_enriched_views(enriched: Any) -> None:
    e, s = enriched.engine, enriched.stream
    specs = all_specs()
    assert set(s.views) == {t for t in event_tables() if e.scalar(f"SELECT count(*) FROM {t}")}
    for table, view in s.views.items():
        cols = ", ".join(c.name for c in specs[table].columns if c.name != "ingest_run")
        lake = _rows(e, f"SELECT {cols}, max_score_id, list_sort(enrichment) FROM {table}_enriched")
        assert lake == _rows(e, f"SELECT {cols}, max_score_id, list_sort(enrichment) FROM {view}"), table


def test_nothing_is_written_to_the_lake(tmp_path: Path) -> None:
    ws, engine = prepare_workspace(tmp_path / "ws")
    try:
        r = enrich_inputs(engine, ws, [str(samples_dir())])
        assert r.summary.balanced and r.summary.loaded == 441
        # only the reference tables (ownership, warninglists: built on first use) may have files
        written = {x[0] for x in engine.rows("SELECT DISTINCT table_name FROM _cairn_files")}
        assert not written & {*event_tables(), "observables", "enriched_observables", "intel_matches", "quarantine"}
        assert not any((ws.lake / t).exists() for t in (*event_tables(), "observables", "enriched_observables"))
        assert engine.scalar("SELECT count(*) FROM cloudtrail") == 0
        # enriching the same input twice gives the same rows (no dedup against the previous run)
        again = enrich_inputs(engine, ws, [str(ROUTE53)])
        assert again.summary.loaded == 8 and list(again.views) == ["route53"]
    finally:
        engine.close()


def test_bad_records_are_counted_and_strict_fails(scratch: Any, tmp_path: Path) -> None:
    from cairn.errors import StrictModeError

    bad = tmp_path / "mixed.jsonl"
    lines = ROUTE53.read_text().splitlines()
    bad.write_text("\n".join([lines[0], '{"query_name": "cut', lines[1]]) + "\n")
    r = enrich_inputs(scratch.engine, scratch.ws, [str(bad)], source="route53")
    assert r.summary.loaded == 2 and r.summary.quarantined == 1 and r.summary.balanced
    assert r.rejected[0][1].locator == "line 2" and "JSON" in r.rejected[0][1].reason
    with pytest.raises(StrictModeError):
        enrich_inputs(scratch.engine, scratch.ws, [str(bad)], source="route53", strict=True)


def test_stdin(scratch: Any) -> None:
    r = enrich_inputs(scratch.engine, scratch.ws, ["-"], stdin=io.BytesIO(ROUTE53.read_bytes()))
    assert r.summary.loaded == 8
    origins = {x[0] for x in scratch.engine.rows("SELECT DISTINCT origin FROM _mem_route53")}
    assert origins == {"<stdin>"}


# -- the command ---------------------------------------------------------------------------------


def test_cli_ocsf_and_json(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    r = cli("-w", ws_dir, "enrich", ROUTE53)
    assert r.code == 0, r.err
    events = [json.loads(line) for line in r.out.splitlines()]
    assert len(events) == 8 and all(e["class_uid"] == 4003 and not validate(e) for e in events)
    assert "enriched 8 of 8 records" in r.err
    out = tmp_path / "flat.jsonl"
    r = cli("-w", ws_dir, "--json", "enrich", ROUTE53, "--format", "json", "-o", out)
    assert r.code == 0, r.err
    assert r.json()["written"] == {"route53": 8} and r.json()["read"] == 8
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    flagged = [x for x in rows if x["query_domain"] == "webservicepag.webhop.net"]
    assert flagged and flagged[0]["max_score_id"] >= 7 and isinstance(flagged[0]["raw"], dict)
    assert all("ip_bin" not in e for x in rows for e in x["enrichment"])


def test_ocsf_keeps_the_request_and_response_as_they_were(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    """api.request.data / api.response.data are requestParameters / responseElements: their nulls, empty
    lists and objects and array positions stay (``tags: [null, "b"]`` came out as ``["b"]``)."""
    req = {"instanceId": "i-0123456789abcdef0", "groupSet": {"items": []}, "tags": [None, "b"],
           "description": None, "disableApiTermination": {"value": False}}
    rec = {"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "ec2.amazonaws.com",
           "eventName": "ModifyInstanceAttribute", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
           "eventID": "00000000-0000-4000-8000-00000000abcd", "recipientAccountId": "123456789012",
           "requestID": "5f6e7d8c-0000-4000-8000-000000000001",
           "userIdentity": {"type": "IAMUser", "accountId": "123456789012", "userName": "u"},
           "requestParameters": req, "responseElements": {"_return": True, "items": []}}
    f = tmp_path / "ct.json"
    f.write_text(json.dumps({"Records": [rec]}))
    r = cli("-w", ws_dir, "enrich", f, "-s", "cloudtrail")
    assert r.code == 0, r.err
    [ev] = [json.loads(line) for line in r.out.splitlines()]
    assert ev["api"]["request"]["data"] == req
    assert ev["api"]["response"]["data"] == {"_return": True, "items": []}
    assert not validate(ev)


def test_cli_quiet_still_names_unreadable_records(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "notime.json"
    f.write_text(json.dumps({"Records": [{"eventVersion": "1.08", "eventSource": "s3.amazonaws.com",
                                          "eventName": "GetObject", "eventID": "x1"}]}))
    r = cli("-q", "-w", ws_dir, "enrich", f, "-s", "cloudtrail", "-o", tmp_path / "out.jsonl")
    assert r.code == 0 and "enriched" not in r.err
    assert "unreadable:" in r.err and "eventTime is missing" in r.err


def test_cli_output_to_a_folder_is_refused_cleanly(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    r = cli("-w", ws_dir, "enrich", ROUTE53, "-f", "json", "-o", tmp_path)
    assert r.code != 0 and "is a folder" in r.err and "Traceback" not in r.err
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_parquet_and_csv(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    r = cli("-w", ws_dir, "enrich", samples_dir(), "--format", "parquet", "-o", tmp_path / "pq")
    assert r.code == 0, r.err
    files = sorted(p.name for p in (tmp_path / "pq").iterdir())
    assert files == ["cloudtrail.parquet", "guardduty_findings.parquet", "route53.parquet",
                     "securityhub_findings.parquet", "vpcflow.parquet"]
    t = pq.read_table(tmp_path / "pq" / "cloudtrail.parquet")
    assert t.num_rows == 413 and "max_score_id" in t.column_names and "enrichment" in t.column_names
    r = cli("-w", ws_dir, "enrich", ROUTE53, "--format", "csv")
    assert r.code == 0 and len(list(csv.DictReader(io.StringIO(r.out)))) == 8 and "max_score_id" in r.out.splitlines()[0]
    r = cli("-w", ws_dir, "enrich", samples_dir(), "--format", "csv")
    assert r.code == 2 and "give -o FOLDER" in r.err
    r = cli("-w", ws_dir, "enrich", ROUTE53, "--format", "parquet")
    assert r.code == 2 and "needs -o" in r.err
    r = cli("-w", ws_dir, "enrich", ROUTE53, "--format", "xml")
    assert r.code == 2 and "unknown format" in r.err


def test_cli_missing_input(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    r = cli("-w", ws_dir, "enrich", tmp_path / "nope.json")
    assert r.code == 3 and "nope.json" in r.err


def test_cli_s3_prefix(cli: Any, ws_dir: Path, moto: str) -> None:
    """An s3:// prefix through the local moto server (as the ingest tests do)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="dns-logs")
    s3.put_object(Bucket="dns-logs", Key="resolver/2022/06/25/q.jsonl", Body=ROUTE53.read_bytes())
    r = cli("-w", ws_dir, "enrich", "s3://dns-logs/resolver/", "--format", "json")
    assert r.code == 0, r.err
    rows = [json.loads(line) for line in r.out.splitlines()]
    assert len(rows) == 8 and {x["origin"] for x in rows} == {"s3://dns-logs/resolver/2022/06/25/q.jsonl"}
