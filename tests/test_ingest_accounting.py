"""read = loaded + duplicates + quarantined, re-ingesting adds nothing, duplicates load once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import CT_FIXTURES, stratus_records
from ctdata import gz, records_doc, write

RECORDS = stratus_records()


def _lake_files(lake: Any) -> list[str]:
    return sorted(p.relative_to(lake.ws.lake).as_posix() for p in lake.ws.lake.rglob("*.parquet"))


def test_reingest_adds_nothing(lake: Any) -> None:
    first = lake.ingest(CT_FIXTURES)
    assert first.loaded == first.records_read - first.quarantined > 0
    before, files = lake.snapshot(), _lake_files(lake)
    again = lake.ingest(CT_FIXTURES)
    assert again.records_read == first.records_read
    assert (again.loaded, again.duplicates) == (0, first.loaded)
    assert again.quarantined == first.quarantined and again.quarantined_new == 0
    assert lake.snapshot() == before and _lake_files(lake) == files
    runs = lake.rows("SELECT summary->>'loaded' FROM _cairn_runs ORDER BY started_at")
    assert [int(r[0]) for r in runs] == [first.loaded, 0]


def test_duplicates_within_a_file_and_across_files_load_once(make_lake: Any, tmp_path: Path) -> None:
    a, b = RECORDS[:6], RECORDS[4:]
    write(tmp_path / "in", "a.json.gz", gz(records_doc([*a, a[0], a[0]])))  # same eventID three times
    write(tmp_path / "in", "b.json", records_doc(b))  # overlaps a in RECORDS[4:6]
    write(tmp_path / "in", "c.jsonl", json.dumps(a[1]).encode() + b"\n" + json.dumps(b[-1]).encode() + b"\n")
    lake = make_lake()
    s = lake.ingest(tmp_path / "in")
    read = 8 + len(b) + 2
    assert (s.records_read, s.loaded, s.duplicates, s.quarantined) == (read, len(RECORDS), read - len(RECORDS), 0)
    assert s.tables["cloudtrail"].read == read and s.tables["cloudtrail"].duplicates == read - len(RECORDS)
    ids = [r[0] for r in lake.rows("SELECT event_uid FROM cloudtrail")]
    assert sorted(ids) == sorted(r["eventID"] for r in RECORDS)
    # observables are written once per loaded event too
    assert lake.scalar("SELECT count(DISTINCT event_uid) FROM observables") == len(RECORDS)
    assert lake.scalar(
        "SELECT count(*) FROM (SELECT event_uid, field, value FROM observables GROUP BY ALL HAVING count(*) > 1)"
    ) == 0


def test_duplicates_across_batches(make_lake: Any, tmp_path: Path) -> None:
    lake = make_lake()
    (lake.root / "cairn.toml").write_text("[ingest]\nbatch_files = 2\n")
    lake.close()
    lake = make_lake()
    for i in range(6):  # every file holds RECORDS[i:i+3]: each record arrives up to 3 times
        write(tmp_path / "in", f"f{i}.json", records_doc(RECORDS[i:i + 3]))
    s = lake.ingest(tmp_path / "in")
    assert s.records_read == 18 and s.loaded == 8 and s.duplicates == 10
    assert lake.scalar("SELECT count(*) FROM cloudtrail") == 8
    # Which copy is kept does not depend on batching: the first file wins.
    assert lake.scalar("SELECT count(*) FROM cloudtrail WHERE origin LIKE '%f0.json'") == 3


def test_quarantine_is_not_duplicated_by_reingest(lake: Any, tmp_path: Path) -> None:
    write(tmp_path / "in", "bad.json", records_doc([*RECORDS[:2], {"x": 1}, 5]))
    s1 = lake.ingest(tmp_path / "in")
    assert (s1.loaded, s1.quarantined, s1.quarantined_new) == (2, 2, 2)
    s2 = lake.ingest(tmp_path / "in")
    assert (s2.loaded, s2.duplicates, s2.quarantined, s2.quarantined_new) == (0, 2, 2, 0)
    assert lake.scalar("SELECT count(*) FROM quarantine") == 2
