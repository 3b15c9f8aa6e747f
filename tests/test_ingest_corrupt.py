"""Damaged and odd inputs: each case names the exact reason, the locator and the raw bytes
kept in the quarantine, and the records around the damage still load."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import stratus_records
from ctdata import gz, json_lines, lookup_events

RECORDS = stratus_records()
GZIP_EOF = "damaged gzip stream (Compressed file ended before the end-of-stream marker was reached)"


def dumps(value: Any) -> bytes:
    """Pretty enough that the engine's re-serialised text differs from the file's bytes."""
    return json.dumps(value, indent=1).encode()


def records_file(elements: list[bytes]) -> bytes:
    return b'{"Records": [\n' + b",\n".join(elements) + b"\n]}\n"


def cut_gzip(data: bytes) -> bytes:
    """A gzip stream of ``data`` that stops before its end-of-stream marker."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


@dataclass
class Case:
    files: dict[str, bytes]
    loaded: int
    # (file name, locator, reason, raw bytes); reason ending in "..." is a prefix
    quarantined: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def _truncated_gzip() -> Case:
    elements = [dumps(r) for r in RECORDS[:5]]
    data = records_file(elements)
    start = data.index(elements[3])
    quote = data.index(b'"eventName": "', start) + len(b'"eventName": ')
    cut = quote + 5
    return Case(
        {"trail.json.gz": cut_gzip(data[:cut])},
        loaded=3,
        quarantined=[("trail.json.gz", f"byte {start}",
                      f"{GZIP_EOF}; {cut} bytes recovered; invalid JSON in Records[4]: "
                      f"Unterminated string starting at (byte {quote})", data[start:cut])],
    )


def _truncated_gzip_lines() -> Case:
    data = json_lines(RECORDS[:4])
    cut = len(data) - 40
    line4 = data[data.rindex(b"\n", 0, len(data) - 1) + 1:cut]
    return Case(
        {"cwl.jsonl.gz": cut_gzip(data[:cut])},
        loaded=3,
        quarantined=[("cwl.jsonl.gz", "line 4", f"{GZIP_EOF}; {cut} bytes recovered; line 4 is cut off", line4)],
    )


def _bad_json_in_records() -> Case:
    elements = [dumps(r) for r in RECORDS[:4]]
    elements[2] = b'{"eventVersion": "1.08", "eventTime": , "eventName": "X"}'
    data = records_file(elements)
    start = data.index(elements[2])
    return Case(
        {"bad.json": data},
        loaded=2,
        quarantined=[("bad.json", f"byte {start}",
                      f"invalid JSON in Records[3]: Expecting value (byte {start + elements[2].index(b': ,') + 2})",
                      data[start:])],
    )


def _bad_json_line() -> Case:
    lines = [json.dumps(r).encode() for r in RECORDS[:4]]
    lines[2] = b'{"eventVersion": "1.08", "eventTime" "2024-01-01T00:00:00Z"}'
    return Case(
        {"lines.jsonl": b"\n".join(lines) + b"\n"},
        loaded=3,
        quarantined=[("lines.jsonl", "line 3", "invalid JSON: Expecting ':' delimiter: line 1 column 38 (char 37)",
                      lines[2])],
    )


def _bad_first_line() -> Case:
    lines = [json.dumps(r).encode() for r in RECORDS[:4]]
    lines[0] = lines[0][:120]
    return Case(
        {"first.jsonl": b"\n".join(lines) + b"\n"},
        loaded=3,
        quarantined=[("first.jsonl", "line 1", "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 121 (char 120)",
                      lines[0])],
    )


def _wrong_types() -> Case:
    time_number = dict(RECORDS[0], eventTime=1732635322)
    time_object = dict(RECORDS[1], eventTime={"a": 1})
    identity_string = dict(RECORDS[2], userIdentity="arn:aws:iam::1:user/x")
    no_name = {k: v for k, v in RECORDS[3].items() if k != "eventName"}
    elements = [dumps(time_number), dumps(time_object), dumps(identity_string), b"7", dumps(no_name),
                b'"a string"', dumps(RECORDS[4])]
    return Case(
        {"types.json": records_file(elements)},
        loaded=1,
        quarantined=[
            ("types.json", "Records[1]", "eventTime is not a timestamp: 1732635322", elements[0]),
            ("types.json", "Records[2]", 'eventTime is not a timestamp: {"a":1}', elements[1]),
            ("types.json", "Records[3]", "userIdentity is not an object", elements[2]),
            ("types.json", "Records[4]", "record is not a JSON object (found a number)", b"7"),
            ("types.json", "Records[5]", "eventSource or eventName is missing", elements[4]),
            ("types.json", "Records[6]", "record is not a JSON object (found a string)", b'"a string"'),
        ],
    )


def _non_utf8_record() -> Case:
    elements = [dumps(r) for r in RECORDS[:3]]
    elements[1] = elements[1].replace(b'"userAgent": "', b'"userAgent": "caf\xe9 \xff', 1)
    data = records_file(elements)
    return Case(
        {"latin1.json": data},
        loaded=2,
        quarantined=[("latin1.json", f"Records[2] (byte {data.index(elements[1])})", "not valid UTF-8", elements[1])],
    )


def _non_utf8_line() -> Case:
    lines = [json.dumps(r).encode() for r in RECORDS[:3]]
    lines[1] = lines[1].replace(b'"userAgent": "', b'"userAgent": "\xc3\x28', 1)
    col = lines[1].index(b"\xc3") + 1
    return Case(
        {"latin1.jsonl": b"\n".join(lines) + b"\n"},
        loaded=2,
        quarantined=[("latin1.jsonl", "line 2", f"not valid UTF-8 at column {col}", lines[1])],
    )


def _huge_record() -> Case:
    big = dict(RECORDS[0], requestParameters={"userData": "QUFB" * 5_000_000})  # 20 MB
    return Case({"big.json.gz": gz(json.dumps({"Records": [big, RECORDS[1]]}).encode())}, loaded=2)


def _empty_files() -> Case:
    return Case(
        {"empty.json": b"", "blank.json": b" \n\t\r\n  ", "empty.json.gz": gz(b""), "ok.json": dumps(RECORDS[:1])},
        loaded=1,
        skipped={"empty file": 3},
    )


def _event_versions() -> Case:
    v2 = dict(RECORDS[0], eventVersion="2.0")
    v199 = dict(RECORDS[1], eventVersion="1.99")
    vbad = dict(RECORDS[2], eventVersion="one")
    elements = [dumps(v2), dumps(v199), dumps(vbad)]
    return Case(
        {"versions.json": b"[" + b",".join(elements) + b"]"},
        loaded=1,
        quarantined=[
            ("versions.json", "[1]", "unsupported eventVersion 2.0 (only major version 1 is known)", elements[0]),
            ("versions.json", "[3]", "unsupported eventVersion one (only major version 1 is known)", elements[2]),
        ],
    )


def _unknown_file() -> Case:
    data = b"hello world\nthis is not a log of any kind\n"
    return Case(
        {"notes.txt": data, "ok.json": dumps(RECORDS[:1])},
        loaded=1,
        quarantined=[("notes.txt", "file", "cannot tell which source this is ...", data)],
    )


def _lookup_event_not_json() -> Case:
    doc = lookup_events(RECORDS[:2])
    doc["Events"][0]["CloudTrailEvent"] = '{"eventVersion": "1.08", "eventTime": '
    data = json.dumps(doc, indent=2).encode()
    start = data.index(b"{", data.index(b'"Events"'))
    end = data.index(b'"CloudTrailEvent"', start)
    end = data.index(b"}", end) + 1
    return Case(
        {"lookup.json": data},
        loaded=1,
        quarantined=[("lookup.json", "Events[1] CloudTrailEvent", "CloudTrailEvent is not valid JSON",
                      data[start:end])],
    )


def _eventbridge_bad_detail() -> Case:
    env = {"version": "0", "id": "1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
           "detail": dict(RECORDS[0], eventTime="yesterday")}
    return Case(
        {"eb.jsonl": json_lines([env, {**env, "detail": RECORDS[1]}])},
        loaded=1,
        quarantined=[("eb.jsonl", "line 1 detail", "eventTime is not a timestamp: yesterday",
                      json.dumps(env["detail"], separators=(",", ":")).encode())],
    )


CASES = {
    "truncated gzip": _truncated_gzip,
    "truncated gzip json lines": _truncated_gzip_lines,
    "invalid JSON in Records": _bad_json_in_records,
    "invalid JSON line": _bad_json_line,
    "invalid first JSON line": _bad_first_line,
    "wrong types": _wrong_types,
    "non-UTF-8 record": _non_utf8_record,
    "non-UTF-8 line": _non_utf8_line,
    "empty and blank files": _empty_files,
    "event versions": _event_versions,
    "file no source claims": _unknown_file,
    "LookupEvents CloudTrailEvent not JSON": _lookup_event_not_json,
    "EventBridge detail unusable": _eventbridge_bad_detail,
}


@pytest.mark.parametrize("name", list(CASES))
def test_corrupted_input(name: str, lake: Any, tmp_path: Path) -> None:
    case = CASES[name]()
    src = tmp_path / "in"
    src.mkdir()
    for fname, data in case.files.items():
        (src / fname).write_bytes(data)
    s = lake.ingest(src)
    q = lake.quarantine()
    assert s.loaded == case.loaded, q
    assert s.quarantined == len(case.quarantined) == len(q) == s.quarantined_new
    assert s.records_read == case.loaded + len(case.quarantined) and s.duplicates == 0
    assert s.skipped == case.skipped and s.files_skipped == sum(case.skipped.values())
    assert s.files == len(case.files)
    assert lake.scalar("SELECT count(*) FROM cloudtrail") == case.loaded
    got = sorted((Path(r["origin"]).name, r["locator"], r["reason"], r["raw"]) for r in q)
    for (g_file, g_loc, g_reason, g_raw), (w_file, w_loc, w_reason, w_raw) in zip(
            got, sorted(case.quarantined), strict=True):
        assert (g_file, g_loc) == (w_file, w_loc)
        if w_reason.endswith("..."):
            assert g_reason.startswith(w_reason[:-3]), g_reason
        else:
            assert g_reason == w_reason
        assert g_raw == w_raw
    assert all(r["origin"] == str((src / Path(r["origin"]).name).resolve()) for r in q)
    assert {r["source"] for r in q} <= {"cloudtrail", "unknown"}


def test_huge_record_keeps_its_size(lake: Any, tmp_path: Path) -> None:
    case = _huge_record()
    (tmp_path / "big.json.gz").write_bytes(case.files["big.json.gz"])
    s = lake.ingest(tmp_path / "big.json.gz")
    assert (s.records_read, s.loaded, s.quarantined) == (2, 2, 0)
    assert lake.scalar("SELECT max(length(request_parameters->>'userData')) FROM cloudtrail") == 20_000_000


def test_batch_with_one_unreadable_file_loads_every_record_once(make_lake: Any, tmp_path: Path) -> None:
    """The engine reads a batch's documents in one statement; when one file fails, the
    statement leaves nothing behind and the files are framed one by one."""
    src = tmp_path / "in"
    src.mkdir()
    good = RECORDS[:6]
    (src / "a.json").write_bytes(dumps({"Records": good[:3]}))
    (src / "b.json").write_bytes(records_file([dumps(r) for r in good[3:5]]).replace(b'"userAgent": "', b'"userAgent": "\xff', 1))
    (src / "c.json").write_bytes(dumps(good[5:]))
    lake = make_lake()
    s = lake.ingest(src)
    assert (s.records_read, s.loaded, s.duplicates, s.quarantined) == (6, 5, 0, 1)
    assert sorted(r[0] for r in lake.rows("SELECT event_uid FROM cloudtrail")) == sorted(
        r["eventID"] for i, r in enumerate(good) if i != 3)
    assert lake.scalar("SELECT count(*) FROM cloudtrail WHERE origin LIKE '%a.json'") == 3


def test_strict_loads_nothing_and_exits_4(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "ok.json").write_bytes(dumps({"Records": RECORDS[:3]}))
    (src / "v2.json").write_bytes(dumps([dict(RECORDS[3], eventVersion="2.0")]))
    ws = tmp_path / "ws"
    r = cli("-w", ws, "ingest", "--strict", src)
    assert r.code == 4, r
    err = " ".join(r.err.split())
    assert "--strict: 1 record(s) would be quarantined; nothing was loaded" in err
    assert "v2.json:[1]: unsupported eventVersion 2.0" in err
    t = cli("-w", ws, "--json", "tables").json()
    assert all(row["rows"] == 0 and row["files"] == 0 for row in t)
    assert not list((ws / "lake").rglob("*.parquet"))
    assert not list((ws / "staging").iterdir())
    # Without --strict the same input loads, and --strict on clean input succeeds.
    assert cli("-w", ws, "ingest", src).code == 0
    r = cli("-w", tmp_path / "ws2", "--json", "ingest", "--strict", src / "ok.json")
    assert r.code == 0 and r.json()["loaded"] == 3
