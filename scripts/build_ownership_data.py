"""Build the bundled IP ownership tables (ASN, AS organisation, country) for cairn.

Input: the open range tables of https://github.com/sapics/ip-location-db as CSV
(``asn-ipv4.csv[.gz]``, ``asn-ipv6.csv[.gz]``: start,end,asn,org — CC BY 4.0
RouteViews / DB-IP / NRO; ``geo-whois-asn-country-ipv4.csv[.gz]``,
``geo-whois-asn-country-ipv6.csv[.gz]``: start,end,country — NRO / CC0).

Output (``src/cairn/data/ownership/`` by default), zstd Parquet:

- ``ip-asn-country-v4.parquet``: ``range_start``/``range_end`` (uint32), ``asn`` (uint32, null when
  unknown), ``country`` (dictionary-encoded ISO code, null when unknown);
- ``ip-asn-country-v6.parquet``: the same with 16-byte ``range_start``/``range_end``;
- ``as-org.parquet``: ``asn`` -> ``as_org`` (one organisation name per ASN).

ASN and country ranges are merged into one set of non-overlapping ranges (the
elementary intervals of both, adjacent equal intervals joined again), so one
lookup gives both. Where an input has overlapping rows (upstream warns of a few
incorrect ones) the later start wins. Usage::

    python scripts/build_ownership_data.py /work/shared/data/ip-ownership-asn-country [OUT_DIR]
"""

from __future__ import annotations

import csv
import gzip
import ipaddress
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MAX_BYTES = 5 * 1024 * 1024


def _open(folder: Path, stem: str) -> Iterator[list[str]]:
    for name in (f"{stem}.csv.gz", f"{stem}.csv"):
        p = folder / name
        if p.exists():
            opener = gzip.open if name.endswith(".gz") else open
            with opener(p, "rt", encoding="utf-8", newline="") as fh:
                yield from csv.reader(fh)
            return
    raise SystemExit(f"missing {stem}.csv[.gz] in {folder}")


def _ranges(folder: Path, stem: str) -> list[tuple[int, int, object]]:
    out = []
    for row in _open(folder, stem):
        lo, hi = int(ipaddress.ip_address(row[0])), int(ipaddress.ip_address(row[1]))
        if hi < lo:
            continue
        payload = (int(row[2]), row[3]) if len(row) > 3 else row[2].upper()
        out.append((lo, hi, payload))
    out.sort(key=lambda r: (r[0], r[1]))
    # Clip overlaps: a range ends where the next one starts.
    clipped = []
    for i, (lo, hi, p) in enumerate(out):
        if i + 1 < len(out) and out[i + 1][0] <= hi:
            hi = out[i + 1][0] - 1
        if hi >= lo:
            clipped.append((lo, hi, p))
    return clipped


def merge(a: list[tuple[int, int, object]], b: list[tuple[int, int, object]]) -> list[tuple[int, int, object, object]]:
    """Non-overlapping ranges carrying (payload of a, payload of b); gaps of both are dropped."""
    cuts = sorted({lo for lo, _, _ in a} | {hi + 1 for _, hi, _ in a} | {lo for lo, _, _ in b} | {hi + 1 for _, hi, _ in b})
    out: list[tuple[int, int, object, object]] = []
    ia = ib = 0
    for k in range(len(cuts) - 1):
        lo, hi = cuts[k], cuts[k + 1] - 1
        while ia < len(a) and a[ia][1] < lo:
            ia += 1
        while ib < len(b) and b[ib][1] < lo:
            ib += 1
        pa_ = a[ia][2] if ia < len(a) and a[ia][0] <= lo else None
        pb_ = b[ib][2] if ib < len(b) and b[ib][0] <= lo else None
        if pa_ is None and pb_ is None:
            continue
        if out and out[-1][1] + 1 == lo and out[-1][2] == pa_ and out[-1][3] == pb_:
            out[-1] = (out[-1][0], hi, pa_, pb_)
        else:
            out.append((lo, hi, pa_, pb_))
    return out


def _table(rows: list[tuple[int, int, object, object]], v6: bool) -> pa.Table:
    if v6:
        starts = pa.array([lo.to_bytes(16, "big") for lo, *_ in rows], pa.binary(16))
        ends = pa.array([hi.to_bytes(16, "big") for _, hi, *_ in rows], pa.binary(16))
    else:
        starts = pa.array([lo for lo, *_ in rows], pa.uint32())
        ends = pa.array([hi for _, hi, *_ in rows], pa.uint32())
    asn = pa.array([a[0] if a else None for _, _, a, _ in rows], pa.uint32())
    country = pa.array([c for *_, c in rows], pa.string()).dictionary_encode()
    return pa.table({"range_start": starts, "range_end": ends, "asn": asn, "country": country})


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", compression_level=19, use_dictionary=True,
                   row_group_size=1 << 20)
    size = path.stat().st_size
    print(f"{path.name}: {table.num_rows:,} rows, {size / 1e6:.2f} MB")
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is larger than {MAX_BYTES} bytes")


def main(argv: list[str]) -> None:
    """Entry point."""
    if not argv:
        raise SystemExit(__doc__)
    src = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "src/cairn/data/ownership"
    out.mkdir(parents=True, exist_ok=True)
    orgs: dict[int, str] = {}
    for fam, v6 in (("ipv4", False), ("ipv6", True)):
        asn = _ranges(src, f"asn-{fam}")
        country = _ranges(src, f"geo-whois-asn-country-{fam}")
        for _, _, (number, org) in asn:
            orgs.setdefault(number, org)
        _write(_table(merge(asn, country), v6), out / f"ip-asn-country-v{6 if v6 else 4}.parquet")
    org_table = pa.table({
        "asn": pa.array(sorted(orgs), pa.uint32()),
        "as_org": pa.array([orgs[k] for k in sorted(orgs)], pa.string()),
    })
    _write(org_table, out / "as-org.parquet")


if __name__ == "__main__":
    main(sys.argv[1:])
