"""ASFF output of a finding whose UserDefinedFields are already (nearly) full: the finding's own pairs stay,
cairn adds what fits within 50 pairs, and what did not fit is never silent: cairn's Note says so and
the count is reported (``AsffStats`` / a warning of logger ``cairn.outputs``).

The findings are the bundled Security Hub sample with UserDefinedFields made here."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cairn.demo import samples_dir
from cairn.outputs.asff import NOTE_TEXT_MAX, UDF_MAX_PAIRS, check_finding
from cairn.outputs.asff_enriched import AsffStats, enrich_finding, iter_findings
from cairn.outputs.stream import enrich_inputs

SH = samples_dir() / "securityhub" / "panther" / "asff-findings.jsonl"
SAMPLE = json.loads(SH.read_text().splitlines()[0])
HEAD = "cairn: 0 of 5 observables flagged (worst: 0 Unknown)."  # the sample's 5 observables, no verdict
OWNED = HEAD + " Owners: account shared-services (owner platform-team)"  # with the bundled inventory
OWNERS = "account shared-services (owner platform-team)"
TAIL = "[cairn enriched this finding; UserDefinedFields is full (50 pairs): no room for {}]"
FOREIGN = {"Text": "Analyst: benign scanner", "UpdatedBy": "alice", "UpdatedAt": "2024-05-01T00:00:00.000Z"}


def _own(n: int) -> dict[str, str]:
    return {f"team_key_{i:02d}": f"value {i}" for i in range(n)}


def _finding(tag: str, own: int, note: dict[str, str] | None = None) -> dict[str, Any]:
    f = {**SAMPLE, "Id": f"{SAMPLE['Id']}-{tag}", "UserDefinedFields": _own(own)}
    if note:
        f["Note"] = note
    return f


FINDINGS = [_finding("full", 50), _finding("partial", 49), _finding("foreign", 50, FOREIGN),
            _finding("room", 47)]
NO_ROOM = {f"{SAMPLE['Id']}-{tag}" for tag in ("full", "partial", "foreign")}


def _write(tmp_path: Path) -> Path:
    src = tmp_path / "udf.jsonl"
    src.write_text("".join(json.dumps(f) + "\n" for f in FINDINGS), encoding="utf-8")
    return src


def test_cli_full_user_defined_fields(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    r = cli("-w", ws_dir, "enrich", _write(tmp_path), "-f", "asff")
    assert r.code == 0, r.err
    got = {f["Id"].rsplit("-", 1)[-1]: f for f in map(json.loads, r.out.splitlines())}
    # no room at all: the finding's 50 pairs as they were; the Note says cairn enriched it and what did not fit
    full = got["full"]
    assert full["UserDefinedFields"] == _own(50)
    assert full["Note"]["Text"] == OWNED + " " + TAIL.format("cairn_enriched, cairn_max_score, cairn_owners")
    assert full["Note"]["UpdatedBy"] == "cairn"
    # room for one: the marker
    partial = got["partial"]
    assert partial["UserDefinedFields"] == {**_own(49), "cairn_enriched": "true"}
    assert partial["Note"]["Text"] == OWNED + " " + TAIL.format("cairn_max_score, cairn_owners")
    # someone else's Note stays: the finding carries no cairn key, and that is counted
    foreign = got["foreign"]
    assert foreign["UserDefinedFields"] == _own(50) and foreign["Note"] == FOREIGN
    # room enough (3 pairs): as before, nothing said
    room = got["room"]
    assert room["UserDefinedFields"] == {**_own(47), "cairn_enriched": "true", "cairn_max_score": "0 Unknown",
                                         "cairn_owners": OWNERS}
    assert room["Note"]["Text"] == OWNED
    for f in got.values():
        assert len(f["UserDefinedFields"]) <= UDF_MAX_PAIRS and len(f["Note"]["Text"]) <= NOTE_TEXT_MAX
        assert set(check_finding(f)) <= set(check_finding(SAMPLE))
    err = " ".join(r.err.split())  # the enrich summary says it, after its first line
    assert err.startswith("enriched 4 of 4 records")
    first, second = err.split("; duplicates 0, unreadable 0 ", 1)[1].split(" 1 of them ")
    second = "1 of them " + second
    head, ids = first.split(" E.g. ")
    assert head == ("3 of 4 ASFF findings had no room left in UserDefinedFields (50 pairs at most; the finding's own "
                    "are kept) for some of cairn's keys (cairn_enriched, cairn_max_score ...); cairn's Note says so "
                    "unless the Note is someone else's.")
    assert set(ids.split(", ")) == NO_ROOM
    js = cli("-w", ws_dir, "--json", "enrich", _write(tmp_path), "-f", "asff", "-o", tmp_path / "out.jsonl").json()
    assert {**js["asff"], "examples": set(js["asff"]["examples"])} == {
        "findings": 4, "udf_no_room": 3, "unmarked": 1, "examples": NO_ROOM}
    assert second == ("1 of them keep someone else's Note and carry no cairn marker (an EventBridge rule on "
                      "cairn_enriched will not recognise them)")


def test_stats_count_what_did_not_fit(scratch: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = enrich_inputs(scratch.engine, scratch.ws, [str(_write(tmp_path))])
    stats = AsffStats()
    with caplog.at_level(logging.WARNING, logger="cairn.outputs"):
        findings = list(iter_findings(scratch.engine, "securityhub_findings", r.views["securityhub_findings"],
                                      r.matches, stats=stats))
    assert len(findings) == 4
    assert {**stats.to_dict(), "examples": set(stats.examples)} == {
        "findings": 4, "udf_no_room": 3, "unmarked": 1, "examples": NO_ROOM}
    assert not [rec for rec in caplog.records if rec.name == "cairn.outputs"]  # the caller reports them
    assert AsffStats().warnings() == []


def test_the_no_room_note_stays_within_512_characters() -> None:
    flagged = [{"field": "Network.SourceIpV4/V6", "type": "ip", "value": f"198.51.100.{i}", "score_id": 10,
                "score": "Malicious", "why": "listed by a feed " * 20, "asn": 64500, "as_org": "Org " * 30,
                "account_name": "a" * 100, "account_owner": "o" * 100} for i in range(3)]
    f = enrich_finding(_finding("long", 49), flagged, [], "2024-05-23T12:00:00Z")
    assert f["UserDefinedFields"] == {**_own(49), "cairn_enriched": "true"}
    text = f["Note"]["Text"]
    tail = TAIL.format("cairn_max_score, cairn_flagged, cairn_owners")
    assert len(text) <= NOTE_TEXT_MAX and text.startswith("cairn: 3 of 3 observables flagged") and text.endswith(
        "… " + tail)
