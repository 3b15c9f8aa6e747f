"""VPC Flow Logs ingest benchmark: ``cairn ingest`` of replayed flow records, next to DuckDB's own
CSV reader (the parse-only limit) and a plain-Python loop, in one run.

The corpus replays the real default-format (v2) records of the AWS documentation examples bundled as
test fixtures (``tests/fixtures/vpcflow/default-v2.log``, NODATA and SKIPDATA lines included): each
replay keeps every field of a record but re-keys its addresses from a seeded pool of ``--distinct``
public IPv4/IPv6 addresses (mapped consistently within the replay, IPv4 to IPv4, IPv6 to IPv6) and
moves ``start`` to the replay's time (one second after the previous replay's, so no two replays are
the same record), keeping each record's duration (``end - start``). Files of ``--per-file`` records, gzipped, with S3
delivery names and the header line, go to ``bench/corpus/vpcflow-<events>-seed<seed>/`` (never
committed). Busy VPCs see many distinct addresses: the pool size is what makes address work show.

Approaches: ``cairn`` (``cairn --json ingest`` in a fresh workspace, a child process: wall, CPU, peak
RSS), ``duckdb_read_csv`` (``read_csv`` of the same files, space-separated, into typed columns and a
count: parse only), ``python_loop`` (gzip, split, ``ipaddress`` on both addresses, int fields).

Usage: python bench/ingest/flows.py [--events 1000000] [--distinct 400000] [--repeat 2]
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import ROOT, bench_main

SAMPLE = ROOT / "tests" / "fixtures" / "vpcflow" / "default-v2.log"


def generate(out: Path, events: int, distinct: int, per_file: int, seed: int) -> Path:
    """The replayed corpus (reused when complete)."""
    done = out.with_name(out.name + ".complete")
    if done.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(seed)
    lines = SAMPLE.read_text().splitlines()
    header, records = lines[0], [ln.split(" ") for ln in lines[1:] if ln.strip()]
    v4 = [str(ipaddress.IPv4Address(rng.randrange(0x01000000, 0xDF000000))) for _ in range(distinct * 3 // 4)]
    v6 = [str(ipaddress.IPv6Address((0x2600 << 112) | rng.getrandbits(100))) for _ in range(distinct - len(v4))]
    base = 1732838400  # 2024-11-29T00:00Z
    written, file_no, buf = 0, 0, []

    def flush() -> None:
        nonlocal file_no, buf
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(base + file_no * per_file // len(records)))
        name = f"123456789010_vpcflowlogs_us-east-1_fl-1234abcd_{stamp}_{file_no:08x}.log.gz"
        with gzip.open(out / name, "wt", compresslevel=6) as fh:
            fh.write(header + "\n" + "\n".join(buf) + "\n")
        file_no, buf = file_no + 1, []

    replay = 0
    while written < events:
        mapping: dict[str, str] = {}
        at = base + replay  # one second apart: ~1.7 days for 1M records
        for rec in records:
            if written >= events:
                break
            r = list(rec)
            for i in (3, 4):
                if r[i] != "-":
                    pool = v6 if ":" in r[i] else v4
                    r[i] = mapping.setdefault(r[i], rng.choice(pool))
            if r[10] != "-" and r[11] != "-":
                r[10], r[11] = str(at), str(at + int(r[11]) - int(r[10]))
            buf.append(" ".join(r))
            written += 1
            if len(buf) >= per_file:
                flush()
        replay += 1
    if buf:
        flush()
    done.write_text(json.dumps({"events": events, "distinct": distinct, "files": file_no}))
    return out


def child(approach: str, corpus: Path) -> None:
    """Runs in a child process (baselines): prints the record count."""
    files = sorted(str(p) for p in corpus.glob("*.log.gz"))
    if approach == "duckdb_read_csv":
        import duckdb

        con = duckdb.connect()
        n = con.execute(
            "SELECT count(*), count(DISTINCT srcaddr) FROM read_csv(?, delim = ' ', header = true, "
            "columns = {'version': 'INTEGER', 'account_id': 'VARCHAR', 'interface_id': 'VARCHAR', "
            "'srcaddr': 'VARCHAR', 'dstaddr': 'VARCHAR', 'srcport': 'INTEGER', 'dstport': 'INTEGER', "
            "'protocol': 'INTEGER', 'packets': 'BIGINT', 'bytes': 'BIGINT', 'start': 'BIGINT', 'end': 'BIGINT', "
            "'action': 'VARCHAR', 'log_status': 'VARCHAR'}, nullstr = '-')", [files]).fetchone()[0]
    else:
        n = 0
        for f in files:
            with gzip.open(f, "rt") as fh:
                next(fh)
                for line in fh:
                    v = line.split()
                    if v[3] != "-":
                        ipaddress.ip_address(v[3]), ipaddress.ip_address(v[4])
                        int(v[5]), int(v[6]), int(v[7]), int(v[8]), int(v[9])
                    int(v[10]), int(v[11])
                    n += 1
    print(n)


def main() -> None:
    bench_main(__file__, name="vpcflow", limit="duckdb_read_csv", distinct=400_000,
               distinct_help="size of the address pool",
               generate=generate, child=child)


if __name__ == "__main__":
    main()
