"""Which inputs an ingest reads: each distinct file once, links followed, what is not input counted.

* a file named twice, a folder given twice, a folder plus a file in it: read once, the repeats
  counted as skipped "given more than once" (a copy under another name is still a different file);
* broken links, link loops, FIFOs: skipped with a reason, never a crash or a silent drop;
* links to folders are followed.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import InputError
from cairn.lake.ingest import GIVEN_TWICE, RunSummary
from cairn.lake.memory import MemoryIngestor
from cairn.sources.files import walk_local
from cairn.workspace import Workspace
from conftest import bundled_stratus_dir, stratus_records
from ctdata import records_doc, write

RECORDS = stratus_records()[:3]
FLOW = (
    "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK\n"
    "this is not a flow record\n"
    "2 123456789012 eni-1 10.0.0.3 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK\n"
)


def _counts(s: RunSummary) -> tuple[int, int, int, int, int]:
    return s.records_read, s.loaded, s.duplicates, s.quarantined, s.files_skipped


@pytest.fixture
def ct3(tmp_path: Path) -> Path:
    """A ``{"Records": [...]}`` document of 3 events (read by the engine, joined back by path)."""
    return write(tmp_path / "in", "ct3.json", records_doc(RECORDS))


def test_a_file_given_twice_or_thrice_is_read_once(lake: Any, ct3: Path) -> None:
    s = lake.ingest(ct3, ct3, ct3.parent / "." / ct3.name)
    assert _counts(s) == (3, 3, 0, 0, 2)
    assert s.files == 3 and s.skipped == {GIVEN_TWICE: 2}
    assert lake.scalar("SELECT count(*) FROM cloudtrail") == 3


def test_a_folder_given_twice_or_with_a_file_in_it_is_read_once(lake: Any) -> None:
    folder = bundled_stratus_dir()
    one = folder / "aws.defense-evasion.cloudtrail-stop.json"
    s = lake.ingest(folder, one, folder)
    # 35 log files and a LICENSE: the file, then the whole second folder, are repeats
    assert _counts(s) == (310, 310, 0, 0, 2 + 36) and s.files == 36 + 1 + 36
    assert s.skipped == {"documentation file": 2, GIVEN_TWICE: 36}


def test_a_copy_under_another_name_is_another_file(lake: Any, ct3: Path) -> None:
    copy = write(ct3.parent, "copy.json", ct3.read_bytes())
    s = lake.ingest(ct3, copy)
    assert _counts(s) == (6, 3, 3, 0, 0)


def test_text_file_given_twice_counts_its_bad_line_once(lake: Any, tmp_path: Path) -> None:
    flow = write(tmp_path, "flow.log", FLOW.encode())
    s = lake.ingest(flow, flow)
    assert _counts(s) == (3, 2, 0, 1, 1) and s.skipped == {GIVEN_TWICE: 1}
    assert [(q["origin"], q["locator"]) for q in lake.quarantine()] == [(str(flow), "line 2")]


def test_broken_link_loop_and_fifo_are_skipped(lake: Any, ct3: Path, tmp_path: Path) -> None:
    d = tmp_path / "dang"
    write(d, "ct3.json", ct3.read_bytes())
    (d / "broken.json").symlink_to("/nonexistent/x.json")
    (d / "self.json").symlink_to(d / "self.json")
    os.mkfifo(d / "pipe.json")
    (d / "sub").mkdir()
    (d / "sub" / "up").symlink_to("..")
    s = lake.ingest(d)
    assert _counts(s) == (3, 3, 0, 0, 4)
    assert s.skipped == {"broken symbolic link": 1, "symbolic link loop": 2, "not a regular file": 1}


def test_links_to_folders_are_followed(lake: Any, ct3: Path, tmp_path: Path) -> None:
    (tmp_path / "linkdir").mkdir()
    (tmp_path / "linkdir" / "logs").symlink_to(ct3.parent)
    s = lake.ingest(tmp_path / "linkdir")
    assert _counts(s) == (3, 3, 0, 0, 0) and s.skipped == {}
    # the real folder and a link to it: the same files
    s = lake.ingest(ct3.parent, tmp_path / "linkdir")
    assert _counts(s) == (3, 0, 3, 0, 1) and s.skipped == {GIVEN_TWICE: 1}


def test_walk_names_what_it_skips(tmp_path: Path) -> None:
    (tmp_path / "broken.json").symlink_to(tmp_path / "gone")
    (tmp_path / "loop").symlink_to(tmp_path)
    found = {(Path(f.origin).name, f.skip) for f in walk_local(str(tmp_path))}
    assert found == {("broken.json", "broken symbolic link"), ("loop", "symbolic link loop")}


def test_a_broken_link_given_by_name_is_an_error(lake: Any, tmp_path: Path) -> None:
    (tmp_path / "bl.json").symlink_to("/nonexistent/x.json")
    with pytest.raises(InputError, match=r"bl\.json: broken symbolic link \(to /nonexistent/x\.json\)"):
        lake.ingest(tmp_path / "bl.json")


def test_enrich_reads_a_file_given_twice_once(tmp_path: Path, ct3: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    engine = DuckDBEngine(ws.catalog_path)
    try:
        ing = MemoryIngestor(ws, engine, stdin=io.BytesIO(b""))
        d = tmp_path / "dang"
        write(d, "ct3.json", ct3.read_bytes())
        (d / "broken.json").symlink_to("/nonexistent/x.json")
        s = ing.run([str(ct3), str(ct3), str(d)])
        assert s.balanced and _counts(s) == (6, 3, 3, 0, 2)
        assert s.skipped == {GIVEN_TWICE: 1, "broken symbolic link": 1}
        assert engine.scalar("SELECT count(*) FROM _mem_cloudtrail") == 3
    finally:
        engine.close()


def test_overlapping_s3_prefixes_read_each_object_once(cli: Any, moto: str, tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="overlap-bucket")
    s3.put_object(Bucket="overlap-bucket", Key="AWSLogs/a/ct3.json", Body=records_doc(RECORDS))
    r = cli("-w", tmp_path / "ws", "--json", "ingest", "s3://overlap-bucket/AWSLogs/", "s3://overlap-bucket/AWSLogs/a/")
    assert r.code == 0, r.err
    s = r.json()
    assert s["balanced"] and (s["records_read"], s["loaded"], s["duplicates"]) == (3, 3, 0)
    assert s["skipped"] == {GIVEN_TWICE: 1}


def test_hidden_files_and_folders_are_skipped_and_counted(lake: Any, tmp_path: Path) -> None:
    root = tmp_path / "logs"
    write(root, "ct3.json", records_doc(RECORDS))
    write(root, ".ct3.json.swp", records_doc(RECORDS))  # an editor's copy: not input
    write(root / ".git" / "objects", "ct.json", records_doc(RECORDS))  # never walked into
    s = lake.ingest(root)
    assert _counts(s) == (3, 3, 0, 0, 2)
    assert s.skipped == {"hidden file": 1, "hidden folder": 1}
    hidden = write(tmp_path / "explicit", ".named.json", records_doc(RECORDS))
    assert _counts(lake.ingest(hidden)) == (3, 0, 3, 0, 0)  # a path given itself is read
