"""Benchmark of intel loading and IP lookups (see README.md next to this file).

1. Load the maltrail static trails (1.85M indicators) into INDICATOR_SCHEMA rows with SQL
   (straight from the CSV: the feeds store is not used here) -> indicators/s, peak RSS.
2. 5M indicators (maltrail replayed with re-keyed values) in a child process -> peak RSS.
3. 1M seeded IPv4/IPv6 addresses against the segment index of the bundled ASN table plus the
   maltrail CIDRs: DuckDB ASOF lookups/s, next to numpy searchsorted over the same sorted
   16-byte segment starts (the limit) and a per-item ipaddress + bisect loop (sampled, scaled).

Usage: python bench/intel/run.py [--maltrail PATH] [--probes N]
"""

from __future__ import annotations

import argparse
import bisect
import ipaddress
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.ownership.asn import bundled_table
from cairn.intel.ranges import build_index, match_sql
from cairn.lake.addresses import ip_to_bin

MALTRAIL = Path(__file__).resolve().parents[3] / "shared/data/ti-stamparm-maltrail/maltrail_static_trails.csv.gz"

# maltrail CSV -> INDICATOR_SCHEMA columns (ip/cidr ranges computed in SQL on the 16-byte form).
LOAD_SQL = """
WITH raw AS (
    SELECT indicator, indicator_type, category, trail, reference, row_number() OVER () AS n
    FROM read_csv(?, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')
), typed AS (
    SELECT *, CASE WHEN indicator_type IN ('ip', 'ip_port', 'cidr') THEN 'ip' ELSE indicator_type END AS type,
           CASE WHEN indicator_type = 'ip_port' THEN split_part(indicator, ':', 1)
                WHEN indicator_type = 'cidr' THEN split_part(indicator, '/', 1) ELSE indicator END AS host,
           CASE WHEN indicator_type = 'cidr' THEN CAST(split_part(indicator, '/', 2) AS INTEGER)
                WHEN indicator_type IN ('ip', 'ip_port') THEN 32 END AS plen
    FROM raw {replay}
), v4 AS (
    SELECT *, CASE WHEN type = 'ip' THEN
        (CAST(split_part(host, '.', 1) AS UBIGINT) << 24) + (CAST(split_part(host, '.', 2) AS UBIGINT) << 16)
        + (CAST(split_part(host, '.', 3) AS UBIGINT) << 8) + CAST(split_part(host, '.', 4) AS UBIGINT) END AS a
    FROM typed WHERE type <> 'ip' OR regexp_full_match(host, '[0-9]{1,3}(\\.[0-9]{1,3}){3}')
)
SELECT sha256(concat_ws('|', 'maltrail', type, indicator)) AS indicator_uid, 'maltrail' AS source,
       'bench' AS feed_version, type, lower(indicator) AS value, NULL AS hash_type,
       CASE WHEN type = 'ip' THEN unhex('00000000000000000000FFFF' ||
            lpad(hex(CAST((a >> (32 - plen)) << (32 - plen) AS UINTEGER)), 8, '0')) END AS range_start,
       CASE WHEN type = 'ip' THEN unhex('00000000000000000000FFFF' ||
            lpad(hex(CAST(((a >> (32 - plen)) << (32 - plen)) + (1 << (32 - plen)) - 1 AS UINTEGER)), 8, '0'))
            END AS range_end,
       plen AS prefix_len, CASE WHEN type = 'ip' THEN 4 END AS ip_version,
       CASE WHEN indicator_type = 'ip_port' THEN TRY_CAST(split_part(indicator, ':', 2) AS INTEGER) END AS port,
       NULL::TIMESTAMPTZ AS first_seen, NULL::TIMESTAMPTZ AS last_seen, NULL::TIMESTAMPTZ AS valid_from,
       NULL::TIMESTAMPTZ AS valid_until, NULL::INTEGER AS confidence, NULL AS severity, category AS threat_type,
       [trail] AS malware_family, []::VARCHAR[] AS tags, reference, NULL AS tlp, true AS detect,
       'row ' || n AS locator, now() AS loaded_at
FROM v4
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(csv: Path, out: Path, replay: int) -> tuple[int, float]:
    """Load (replayed ``replay`` times) into Parquet; returns (rows, seconds)."""
    e = DuckDBEngine(memory_limit="1GB", threads=2, temp_directory=out.parent / "tmp")
    rp = ""
    if replay > 1:  # re-key: the k-th replay gets 'rK.' in front of domains, a shifted first octet for IPs
        rp = (f", range(0, {replay}) r(k) ") + ""
    sql = LOAD_SQL.replace("{replay}", rp)
    if replay > 1:
        sql = sql.replace("SELECT indicator, indicator_type", "SELECT indicator AS indicator0, indicator_type", 1)
        sql = sql.replace("FROM raw , range", "FROM (SELECT * FROM raw) , range")
        sql = sql.replace("SELECT *, CASE WHEN indicator_type IN", "SELECT * EXCLUDE (indicator0), "
                          "CASE WHEN k = 0 THEN indicator0 WHEN indicator_type IN ('ip', 'ip_port', 'cidr') "
                          "THEN coalesce(CAST((TRY_CAST(split_part(indicator0, '.', 1) AS INTEGER) + k) % 224 AS VARCHAR) "
                          "|| '.' || split_part(indicator0, '.', 2) || '.' || split_part(indicator0, '.', 3) || '.' "
                          "|| split_part(indicator0, '.', 4), indicator0) "
                          "ELSE 'r' || k || '.' || indicator0 END AS indicator, CASE WHEN indicator_type IN", 1)
    t = time.perf_counter()
    e.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)", [str(csv)])
    secs = time.perf_counter() - t
    n = int(e.scalar("SELECT count(*) FROM read_parquet(?)", [str(out)]))
    e.close()
    return n, secs


def probes(n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        if i % 4 == 3:  # 25% IPv6, mostly in allocated space
            out.append(ipaddress.IPv6Address((0x2000 + rnd.getrandbits(12)) << 112 | rnd.getrandbits(112)).packed)
        else:
            out.append(ip_to_bin(ipaddress.IPv4Address(rnd.getrandbits(32))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--maltrail", type=Path, default=MALTRAIL)
    ap.add_argument("--probes", type=int, default=1_000_000)
    ap.add_argument("--child-replay", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=Path("bench/out/intel"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.child_replay:
        n, secs = load(a.maltrail, a.out / f"replay{a.child_replay}.parquet", a.child_replay)
        print(f"{n} {secs} {peak_rss_mb()}")
        return
    results = []
    # 1. maltrail
    n, secs = load(a.maltrail, a.out / "maltrail.parquet", 1)
    results.append(("load maltrail (SQL from CSV)", f"{n:,} indicators", f"{n / secs:,.0f} indicators/s",
                    f"peak RSS {peak_rss_mb():,.0f} MB", ""))
    # 2. 5M in a child
    replay = -(-5_000_000 // n)
    out = subprocess.run([sys.executable, __file__, "--maltrail", str(a.maltrail), "--child-replay", str(replay),
                          "--out", str(a.out)], capture_output=True, text=True, check=True).stdout.split()
    n5, secs5, rss5 = int(out[0]), float(out[1]), float(out[2])
    results.append((f"load {replay}x re-keyed", f"{n5:,} indicators", f"{n5 / secs5:,.0f} indicators/s",
                    f"peak RSS {rss5:,.0f} MB", "PASS" if rss5 <= 1536 and n5 >= 5_000_000 else "FAIL"))
    # 3. lookups
    e = DuckDBEngine(threads=os.cpu_count())
    e.register("asn_src", bundled_table(e))
    e.execute(f"CREATE TABLE ind AS SELECT range_start, range_end, prefix_len FROM read_parquet('{a.out}/maltrail.parquet') "
              "WHERE type = 'ip' AND prefix_len < 32")
    e.execute("CREATE VIEW src AS SELECT 'asn' AS family, range_start, range_end, 0 AS prefix_len FROM asn_src "
              "UNION ALL SELECT 'indicator', range_start, range_end, prefix_len FROM ind")
    t = time.perf_counter()
    stats = build_index(e, "src", prefix="bx")
    build_s = time.perf_counter() - t
    pr = probes(a.probes, 42)
    e.register("p_arrow", pa.table({"ip_bin": pa.array(pr, pa.binary())}))
    e.execute("CREATE TABLE p AS SELECT DISTINCT ip_bin FROM p_arrow")
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        hits = e.scalar(f"SELECT count(*) FROM ({match_sql('p', prefix='bx')})")
        best = min(best, time.perf_counter() - t)
    n_probe = int(e.scalar("SELECT count(*) FROM p"))
    results.append(("index build", f"{stats['segments']:,} segments", f"{build_s:.1f} s",
                    f"{stats['cover']:,} cover rows", ""))
    rate = n_probe / best
    # numpy: searchsorted of the same probes over the same sorted 16-byte segment starts.
    starts = np.array(e.arrow("SELECT seg_start FROM bx_seg ORDER BY seg_start")["seg_start"].to_pylist(), dtype="S16")
    q = np.array(pr, dtype="S16")
    t = time.perf_counter()
    idx = np.searchsorted(starts, q, side="right")
    np_s = time.perf_counter() - t
    assert idx.shape[0] == len(pr)
    np_rate = len(pr) / np_s
    # per-item ipaddress + bisect over python ints (sampled)
    ints = [int.from_bytes(s, "big") for s in starts.tolist()]
    sample = [ipaddress.ip_address(b[12:] if b[:12] == b"\0" * 10 + b"\xff\xff" else b) for b in pr[:20000]]
    t = time.perf_counter()
    for addr in sample:
        key = int(addr) + (0xFFFF00000000 if addr.version == 4 else 0)
        bisect.bisect_right(ints, key)
    py_rate = len(sample) / (time.perf_counter() - t)
    results.append(("lookup DuckDB ASOF (segment index)", f"{n_probe:,} IPs, {hits:,} hits", f"{rate:,.0f} lookups/s",
                    f"{best:.2f} s", "PASS" if rate >= 1e6 else "FAIL"))
    results.append(("lookup numpy searchsorted S16 (limit)", f"{len(pr):,} IPs", f"{np_rate:,.0f} lookups/s",
                    f"{np_s:.2f} s", "PASS" if np_rate / rate <= 3 else "FAIL"))
    results.append(("lookup ipaddress + bisect loop", f"{len(sample):,} sampled", f"{py_rate:,.0f} lookups/s",
                    f"{len(pr) / py_rate:.1f} s scaled to {len(pr):,}", ""))
    w = [max(len(str(r[i])) for r in results) for i in range(5)]
    for r in results:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    print(f"targets: >=1M lookups/s: {'PASS' if rate >= 1e6 else 'FAIL'}; within 3x of searchsorted: "
          f"{'PASS' if np_rate / rate <= 3 else 'FAIL'} ({np_rate / rate:.2f}x); 5M indicators <= 1.5 GB: "
          f"{'PASS' if rss5 <= 1536 else 'FAIL'}")


if __name__ == "__main__":
    main()
