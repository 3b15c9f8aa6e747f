"""Route 53 Resolver query logs ingest benchmark: ``cairn ingest`` of replayed records, next to
DuckDB's newline-delimited ``read_json`` (the parse-only limit) and a plain-Python loop, in one run.

The corpus replays the real record of the AWS documentation example bundled as a test fixture
(``tests/fixtures/route53/aws-docs/resolver-query-log-example.json``) and the Panther test events of
``tests/fixtures/route53/panther`` (their ``log``, Panther's ``p_*`` fields dropped): each replay keeps
every field but re-keys ``srcaddr`` from a seeded pool of ``--distinct`` private addresses, the query
name from a seeded pool of names under the record's own registrable domain, ``srcport``, and sets
``query_timestamp`` one second after the previous replay. JSON lines, gzipped, ``--per-file`` records a
file, in ``bench/corpus/route53-<events>-d<distinct>-seed<seed>/`` (never committed).

Usage: python bench/ingest/route53.py [--events 1000000] [--distinct 50000] [--repeat 2]
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import ROOT, bench_main

FIX = ROOT / "tests" / "fixtures" / "route53"


def samples() -> list[dict]:
    """The real records: the AWS doc example and the Panther test events' logs."""
    doc = json.loads((FIX / "aws-docs" / "resolver-query-log-example.json").read_text())
    recs = doc if isinstance(doc, list) else [doc]
    for line in (FIX / "panther" / "vpcdns_route53_resolver_tests.jsonl").read_text().splitlines():
        log = json.loads(line).get("log") or {}
        if log.get("query_name") and log.get("query_timestamp"):
            recs.append({k: v for k, v in log.items() if not k.startswith("p_")})
    return recs


def generate(out: Path, events: int, distinct: int, per_file: int, seed: int) -> Path:
    """The replayed corpus (reused when complete)."""
    done = out.with_name(out.name + ".complete")
    if done.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(seed)
    recs = samples()
    pool = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(distinct)]
    base = 1732838400  # 2024-11-29T00:00Z
    written, file_no, buf = 0, 0, []

    def flush() -> None:
        nonlocal file_no, buf
        with gzip.open(out / f"resolver-{file_no:05d}.log.gz", "wt", compresslevel=6) as fh:
            fh.write("\n".join(buf) + "\n")
        file_no, buf = file_no + 1, []

    replay = 0
    while written < events:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + replay))
        for rec in recs:
            if written >= events:
                break
            r = copy.deepcopy(rec)
            labels = str(r["query_name"]).rstrip(".").split(".")
            r["query_name"] = f"h{rng.randrange(distinct)}." + ".".join(labels[-2:]) + "."
            r["srcaddr"] = rng.choice(pool)
            r["srcport"] = str(rng.randrange(1024, 65535))
            r["query_timestamp"] = stamp
            buf.append(json.dumps(r))
            written += 1
            if len(buf) >= per_file:
                flush()
        replay += 1
    if buf:
        flush()
    done.write_text(json.dumps({"events": events, "files": file_no, "samples": len(recs)}))
    return out


def child(approach: str, corpus: Path) -> None:
    """Runs in a child process (baselines): prints the record count."""
    files = sorted(str(p) for p in corpus.glob("*.log.gz"))
    if approach == "duckdb_read_json":
        import duckdb

        n = duckdb.connect().execute(
            "SELECT count(*), count(DISTINCT srcaddr) FROM read_json(?, format = 'newline_delimited', columns = "
            "{'query_timestamp': 'VARCHAR', 'query_name': 'VARCHAR', 'srcaddr': 'VARCHAR', 'srcport': 'VARCHAR', "
            "'answers': 'JSON', 'srcids': 'JSON', 'rcode': 'VARCHAR', 'query_type': 'VARCHAR'})", [files]).fetchone()[0]
    else:
        n = 0
        for f in files:
            with gzip.open(f, "rt") as fh:
                for line in fh:
                    if line.strip():
                        json.loads(line)
                        n += 1
    print(n)


def main() -> None:
    bench_main(__file__, name="route53", limit="duckdb_read_json", distinct=50_000,
               distinct_help="size of the source address and name pools",
               generate=generate, child=child)


if __name__ == "__main__":
    main()
