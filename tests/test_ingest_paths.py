"""The ingest's fast paths give the same lake as its general ones, and CAIRN_PROFILE reports steps.

* every key new and unique (the valid typed rows are written as they are) vs repeated keys
  (first occurrence per key kept);
* a batch of one event date (plain write into its partition folder) vs a few dates (one
  filtered write per date) vs many dates (partitioned write);
* observables (one unnest of parallel lists) against values read from the records in Python.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cairn.lake.ingest as ingest_module
from cairn.lake.addresses import classify
from conftest import stratus_records
from ctdata import records_doc, write

RECORDS = stratus_records()
# origin differs (two folders); locator may too: the copy a key keeps is the first by (origin, locator) text
COMPARED = "* EXCLUDE (origin, locator, ingest_run)"


def _table(lake: Any) -> list[tuple[Any, ...]]:
    return lake.rows(f"SELECT {COMPARED} FROM cloudtrail ORDER BY event_uid")


def _observables(lake: Any) -> list[tuple[Any, ...]]:
    return lake.rows("SELECT * FROM observables ORDER BY ALL")


def test_streamed_and_deduplicating_paths_write_the_same_rows(make_lake: Any, tmp_path: Path) -> None:
    write(tmp_path / "a", "t.json", records_doc(RECORDS))
    # The same records plus a repeat of the first: this batch takes the deduplicating path.
    write(tmp_path / "b", "t.json", records_doc([*RECORDS, RECORDS[0]]))
    streamed, deduped = make_lake("a"), make_lake("b")
    sa, sb = streamed.ingest(tmp_path / "a"), deduped.ingest(tmp_path / "b")
    assert (sa.loaded, sa.duplicates) == (len(RECORDS), 0)
    assert (sb.loaded, sb.duplicates) == (len(RECORDS), 1)
    assert _table(streamed) == _table(deduped)
    assert _observables(streamed) == _observables(deduped)
    assert streamed.scalar("SELECT count(*) FROM cloudtrail") == len(RECORDS)


def _dates(records: list[dict[str, Any]]) -> set[str]:
    return {r["eventTime"][:10] for r in records}


def test_one_date_and_many_dates_batches_land_in_their_partitions(
    make_lake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = [r["eventTime"][:10] for r in RECORDS]
    busiest = max(set(days), key=days.count)
    one_day = [r for r in RECORDS if r["eventTime"].startswith(busiest)]
    assert len(_dates(RECORDS)) > 1 and len(one_day) > 1
    write(tmp_path / "one", "t.json", records_doc(one_day))
    write(tmp_path / "many", "t.json", records_doc(RECORDS))
    write(tmp_path / "partitioned", "t.json", records_doc(RECORDS))
    for name, records in (("one", one_day), ("many", RECORDS), ("partitioned", RECORDS)):
        # "partitioned": more dates than cairn writes one by one, so one partitioned COPY
        monkeypatch.setattr(ingest_module, "MAX_DATE_WRITES", 1 if name == "partitioned" else 8)
        lake = make_lake(name)
        lake.ingest(tmp_path / name)
        folders = {p.parent.name for p in (lake.ws.lake / "cloudtrail").rglob("*.parquet")}
        assert folders == {f"event_date={d}" for d in _dates(records)}
        assert lake.scalar("SELECT count(*) FROM cloudtrail WHERE event_date <> CAST(event_time AS DATE)") == 0
        listed = lake.rows(
            "SELECT DISTINCT partition_value FROM _cairn_files WHERE table_name = 'cloudtrail' ORDER BY 1"
        )
        assert [r[0] for r in listed] == sorted(folders)
        assert lake.scalar("SELECT count(*) FROM cloudtrail") == len(records)
        # each file holds its date's records in arrival order
        for f in (lake.ws.lake / "cloudtrail").rglob("*.parquet"):
            day = f.parent.name.removeprefix("event_date=")
            ids = [r[0] for r in lake.rows(f"SELECT event_uid FROM read_parquet('{f}')")]
            assert ids == [r["eventID"] for r in records if r["eventTime"].startswith(day)]


def _expected_observables(r: dict[str, Any]) -> set[tuple[str, str, str]]:
    ui = r.get("userIdentity") or {}
    issuer = ((ui.get("sessionContext") or {}).get("sessionIssuer") or {})
    rp = r.get("requestParameters") if isinstance(r.get("requestParameters"), dict) else {}
    creds = (r.get("responseElements") or {}).get("credentials") if isinstance(r.get("responseElements"), dict) else None
    pairs = [
        ("userIdentity.arn", "arn", ui.get("arn")),
        ("userIdentity.sessionContext.sessionIssuer.arn", "arn", issuer.get("arn")),
        ("userIdentity.accessKeyId", "access_key", ui.get("accessKeyId")),
        ("userIdentity.accountId", "account", ui.get("accountId")),
        ("recipientAccountId", "account", r.get("recipientAccountId")),
        ("userIdentity.userName", "user", ui.get("userName")),
        ("requestParameters.bucketName", "resource", rp.get("bucketName")),
        ("requestParameters.roleArn", "arn", rp.get("roleArn")),
        ("requestParameters.userName", "user", rp.get("userName")),
        ("responseElements.credentials.accessKeyId", "access_key", (creds or {}).get("accessKeyId")),
    ]
    pairs += [("resources[].ARN", "resource", x.get("ARN")) for x in r.get("resources") or [] if isinstance(x, dict)]
    kind, ip, _, domain = classify(r.get("sourceIPAddress"))
    if kind == "ip":
        pairs.append(("sourceIPAddress", "ip", ip))
    if kind == "hostname":
        pairs.append(("sourceIPAddress", "hostname", domain))
    host = (r.get("tlsDetails") or {}).get("clientProvidedHostHeader")
    if host:
        pairs.append(("tlsDetails.clientProvidedHostHeader", "hostname", host.rstrip(".").lower()))
    return {(f, t, v) for f, t, v in pairs if isinstance(v, str) and v}


def test_observables_match_the_records(lake: Any, tmp_path: Path) -> None:
    write(tmp_path / "in", "t.json", records_doc(RECORDS))
    lake.ingest(tmp_path / "in")
    got: dict[str, set[tuple[str, str, str]]] = {}
    for uid, f, t, v in lake.rows("SELECT event_uid, field, type, value FROM observables WHERE source = 'cloudtrail'"):
        got.setdefault(uid, set()).add((f, t, v))
    expected = {r["eventID"]: _expected_observables(r) for r in RECORDS}
    assert {k: v for k, v in got.items()} == {k: v for k, v in expected.items() if v}
    # IP observables carry the 16-byte form of their value
    bad = lake.scalar(
        "SELECT count(*) FROM observables WHERE type = 'ip' AND ip_bin IS DISTINCT FROM "
        "(SELECT any_value(src_ip_bin) FROM cloudtrail c WHERE c.src_ip = observables.value)"
    )
    assert bad == 0


def test_profile_reports_steps_when_asked(lake: Any, tmp_path: Path, monkeypatch: Any) -> None:
    write(tmp_path / "in", "t.json", records_doc(RECORDS[:20]))
    out = tmp_path / "profile.jsonl"
    monkeypatch.setenv("CAIRN_PROFILE", str(out))
    s = lake.ingest(tmp_path / "in")
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["run"] == s.run_id and data["records"] == s.records_read > 0
    for step in ("plan", "frame+records", "typed", "write table", "write observables", "commit"):
        assert data["steps"][step]["calls"] >= 1, step
    assert data["cpu_s"] >= 0 and data["wall_s"] >= max(v["wall_s"] for v in data["steps"].values())


def test_profile_is_off_by_default(lake: Any, tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.delenv("CAIRN_PROFILE", raising=False)
    write(tmp_path / "in", "t.json", records_doc(RECORDS[:5]))
    lake.ingest(tmp_path / "in")
    assert "CAIRN_PROFILE" not in capsys.readouterr().err
