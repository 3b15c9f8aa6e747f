"""ASFF output writes every time of a recorded Security Hub finding in UTC ASFF form
(``YYYY-MM-DDTHH:MM:SS.mmmZ``), whatever the fraction digits (1-9) and the offset (``+HH:MM``,
``+HHMM``, ``Z`` or none): checked against datetime arithmetic, and end to end on the bundled sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.demo import samples_dir
from cairn.outputs.asff import timestamp
from cairn.outputs.asff_enriched import TIME_FIELDS, normalise_times

SH = samples_dir() / "securityhub" / "panther" / "asff-findings.jsonl"


def _expected(utc: datetime, digits: str) -> str:
    """ASFF form of ``utc`` (whole seconds) plus the fraction ``digits`` cut to milliseconds."""
    ms = int(digits[:3].ljust(3, "0"))
    return f"{utc + timedelta(milliseconds=ms):%Y-%m-%dT%H:%M:%S.%f}"[:23] + "Z"


def _offset(minutes: int, basic: bool) -> str:
    sign = "-" if minutes < 0 else "+"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}{'' if basic else ':'}{m:02d}"


@given(
    utc=st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2098, 12, 30)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)),
    digits=st.text("0123456789", min_size=1, max_size=9),
    offset=st.integers(-14 * 60, 14 * 60),
    zone=st.sampled_from(["offset", "Z", "none"]),
    basic=st.booleans(),
    sep=st.sampled_from(["T", " "]),
    mark=st.sampled_from([".", ","]),
)
def test_any_iso_time_becomes_utc_asff(utc: datetime, digits: str, offset: int, zone: str, basic: bool, sep: str,
                                       mark: str) -> None:
    minutes = offset if zone == "offset" else 0
    local = utc + timedelta(minutes=minutes)
    clock = f"{local:%Y%m%d}{sep}{local:%H%M%S}" if basic else f"{local:%Y-%m-%d}{sep}{local:%H:%M:%S}"
    suffix = {"offset": _offset(minutes, basic), "Z": "Z", "none": ""}[zone]
    text = f"{clock}{mark}{digits}{suffix}"
    want = _expected(utc, digits)
    assert timestamp(text) == want, text
    finding = normalise_times({k: text for k in TIME_FIELDS})
    assert finding == {k: want for k in TIME_FIELDS}, text


@pytest.mark.parametrize("text, want", [
    ("2021-09-28T18:10:00.123456+02:00", "2021-09-28T16:10:00.123Z"),  # the QA report's: was 18:10:00.123Z
    ("2021-09-28T18:10:00.5+02:00", "2021-09-28T16:10:00.500Z"),  # was left as recorded
    ("2021-09-28T18:10:00.987654321-05:30", "2021-09-28T23:40:00.987Z"),
    ("2021-09-28T23:59:59.9999999-01:00", "2021-09-29T00:59:59.999Z"),  # cut, not rounded into the next second
    ("2021-09-28T18:10:00+02:00", "2021-09-28T16:10:00.000Z"),
    ("2021-09-28T18:10:00.1Z", "2021-09-28T18:10:00.100Z"),
    ("2021-09-28 18:10:00.000000000", "2021-09-28T18:10:00.000Z"),  # the export form of the samples
    ("20210928T181000.5+0200", "2021-09-28T16:10:00.500Z"),
    ("20210928T181000,123456789Z", "2021-09-28T18:10:00.123Z"),
])
def test_timestamp_table(text: str, want: str) -> None:
    assert timestamp(text) == want


def test_text_that_is_no_time_is_left_as_recorded() -> None:
    assert normalise_times({"CreatedAt": "yesterday", "UpdatedAt": "", "Id": "x"}) == {
        "CreatedAt": "yesterday", "UpdatedAt": "", "Id": "x"}


# (recorded, ASFF): the lake reads CreatedAt / UpdatedAt / ... itself, so the basic form goes in ProcessedAt only.
CASES = [
    ("2021-09-28T18:10:00.123456+02:00", "2021-09-28T16:10:00.123Z"),
    ("2021-09-28T18:10:00.5+02:00", "2021-09-28T16:10:00.500Z"),
    ("2021-09-28T18:10:00.987654321-05:30", "2021-09-28T23:40:00.987Z"),
    ("2021-09-28 18:10:00.123456789", "2021-09-28T18:10:00.123Z"),
    ("2021-09-28T18:10:00.1234567Z", "2021-09-28T18:10:00.123Z"),
]


def test_cli_asff_times_are_utc(cli: Any, ws_dir: Path, tmp_path: Path) -> None:
    sample = json.loads(SH.read_text().splitlines()[0])
    lines = []
    for i, (recorded, _) in enumerate(CASES):
        f = {**sample, "Id": f"{sample['Id']}-t{i}", **{k: recorded for k in TIME_FIELDS}}
        f["ProcessedAt"] = "20210928T181000.5+0200"
        lines.append(json.dumps(f))
    src = tmp_path / "times.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = cli("-w", ws_dir, "enrich", src, "-f", "asff")
    assert r.code == 0, r.err
    got = {f["Id"]: f for f in map(json.loads, r.out.splitlines())}
    assert len(got) == len(CASES)
    for i, (_, want) in enumerate(CASES):
        f = got[f"{sample['Id']}-t{i}"]
        assert {k: f[k] for k in TIME_FIELDS} == {**{k: want for k in TIME_FIELDS},
                                                  "ProcessedAt": "2021-09-28T16:10:00.500Z"}
