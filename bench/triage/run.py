"""Triage latency on lakes of replayed CloudTrail events (100k, 1M, 10M by default).

For each size: the lake is built once (``bench/ingest/generate.py`` corpus + ``cairn ingest``, reused
when present), the triage index is brought up to date (timed, untimed for the triages), then the same
number of alerts is triaged, each naming the access key of an event drawn at random from the lake at
that event's time (reservoir sample, fixed seed). Every size runs in its own child process, so peak
RSS is per size. Measured per triage: wall time and CPU time (user + system of the process).

Two ways are measured in the same run:

- ``index``: the product path (the triage index: time-ordered parts + per-identity digest);
- ``lake``: the baseline, the same triage reading the lake's views directly (``use_index=False``).

Targets (issue 6): median(10M) <= 3 x median(100k), and median(10M) < 1 s.

    .venv/bin/python bench/triage/run.py                       # 100k, 1M, 10M
    .venv/bin/python bench/triage/run.py --events 100000 1000000 --alerts 15 --json-out bench/out/triage.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _build(n: int, corpus_root: Path, ws_root: Path) -> Path:
    ws = ws_root / f"ws-{n}"
    if (ws / "catalog.duckdb").exists():
        return ws
    corpus = corpus_root / f"cloudtrail-{n}-seed1-k1000"
    if not (corpus / ".manifest.json").exists():
        subprocess.run([sys.executable, str(ROOT / "bench/ingest/generate.py"), "--events", str(n), "--seed", "1",
                        "--quiet"], check=True)
    cairn = str(Path(sys.executable).parent / "cairn")
    subprocess.run([cairn, "-q", "--json", "-w", str(ws), "ingest", str(corpus / "AWSLogs")], check=True,
                   stdout=subprocess.DEVNULL)
    return ws


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one(n: int, ws_path: Path, alerts: int, seed: int, lake_alerts: int, fresh: bool) -> dict[str, Any]:
    """Run in the child: index update, then the triages; returns the measurements."""
    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.lake.catalog import Catalog
    from cairn.triage import triage, update_index
    from cairn.triage.index import index_dir
    from cairn.workspace import Workspace

    ws = Workspace.open(ws_path)
    e = DuckDBEngine(ws.catalog_path)
    Catalog(e, ws.lake)
    rows = e.scalar("SELECT count(*) FROM cloudtrail")
    if fresh:
        import shutil

        for t in ("_triage_indexed", "_triage_parts", "_triage_digest"):
            e.execute(f"DROP TABLE IF EXISTS {t}")
        shutil.rmtree(index_dir(ws), ignore_errors=True)
    c0, t0 = _cpu(), time.perf_counter()
    upd = update_index(e, ws)
    index_s, index_cpu = time.perf_counter() - t0, _cpu() - c0
    index_mb = sum(p.stat().st_size for p in index_dir(ws).glob("*.parquet")) / 1e6
    lake_mb = sum(p.stat().st_size for p in (ws.lake / "cloudtrail").rglob("*.parquet")) / 1e6
    picks = e.rows(
        "SELECT access_key_id, event_time FROM (SELECT access_key_id, event_time FROM cloudtrail "
        f"WHERE access_key_id LIKE 'A%IA%') USING SAMPLE reservoir({int(alerts)} ROWS) REPEATABLE ({int(seed)})")
    warm = {"identity": picks[0][0], "time": picks[0][1].isoformat()}
    triage(e, ws, warm)  # builds the enrichment reference tables once, warms caches
    triage(e, ws, warm, use_index=False)
    out: dict[str, Any] = {"events": n, "rows": rows, "index_update": upd.to_dict(), "index_seconds": index_s,
                           "index_cpu": index_cpu, "index_mb": index_mb, "lake_mb": lake_mb, "modes": {}}
    for mode, use_index in (("index", True), ("lake", False)):
        walls, cpus, found, stages = [], [], [], []
        for key, at in (picks if use_index else picks[:lake_alerts]):
            c0, t0 = _cpu(), time.perf_counter()
            rep = triage(e, ws, {"identity": key, "time": at.isoformat()}, use_index=use_index)
            walls.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
            found.append(rep.data["counts"]["events"])
            stages.append(rep.data["timings"])
        out["modes"][mode] = {
            "median_s": statistics.median(walls), "p90_s": sorted(walls)[int(0.9 * (len(walls) - 1))],
            "median_cpu_s": statistics.median(cpus), "events_found_median": statistics.median(found),
            "stage_median_s": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
        }
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    e.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    p.add_argument("--alerts", type=int, default=15, help="alerts triaged per lake (median reported)")
    p.add_argument("--lake-alerts", type=int, default=5, help="alerts triaged the baseline way (lake views)")
    p.add_argument("--fresh-index", action="store_true", help="drop the triage index first (time a full build)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--corpus-root", type=Path, default=ROOT / "bench/corpus")
    p.add_argument("--ws-root", type=Path, default=ROOT / "bench/out/triage")
    p.add_argument("--json-out", type=Path)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.ws_root / f"ws-{a.one}", a.alerts, a.seed, a.lake_alerts, a.fresh_index),
                         default=str))
        return
    results = []
    for n in a.events:
        ws = _build(n, a.corpus_root, a.ws_root)
        res = subprocess.run([sys.executable, __file__, "--one", str(n), "--alerts", str(a.alerts), "--seed",
                              str(a.seed), "--ws-root", str(a.ws_root), "--lake-alerts", str(a.lake_alerts),
                              *(["--fresh-index"] if a.fresh_index else [])], capture_output=True, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if res.returncode:
            sys.exit(f"{n:,} events: the child failed:\n{res.stderr[-3000:]}")
        r = json.loads(res.stdout.strip().splitlines()[-1])
        r["workspace"] = str(ws)
        results.append(r)
        idx, lake = r["modes"]["index"], r["modes"]["lake"]
        print(f"{n:>11,} events: triage median {idx['median_s'] * 1000:7.1f} ms (CPU {idx['median_cpu_s'] * 1000:6.1f} ms,"
              f" p90 {idx['p90_s'] * 1000:7.1f} ms) | lake views {lake['median_s'] * 1000:7.1f} ms "
              f"(x{lake['median_s'] / idx['median_s']:.1f}) | index {r['index_mb']:.0f} MB for a "
              f"{r['lake_mb']:.0f} MB lake, update {r['index_seconds']:.1f}s | peak RSS {r['peak_rss_mb']:.0f} MB",
              flush=True)
    base = results[0]["modes"]["index"]["median_s"]
    print(f"\nratio to {results[0]['events']:,} events (median wall):")
    for r in results:
        idx = r["modes"]["index"]
        print(f"  {r['events']:>11,}: x{idx['median_s'] / base:.2f}  stages: "
              + ", ".join(f"{k} {v * 1000:.0f}ms" for k, v in idx["stage_median_s"].items()))
    last = results[-1]["modes"]["index"]["median_s"]
    if len(results) > 1:
        print(f"{'PASS' if last <= 3 * base else 'FAIL'}  median({results[-1]['events']:,}) <= 3 x "
              f"median({results[0]['events']:,}): {last / base:.2f}")
    print(f"{'PASS' if last < 1 else 'FAIL'}  median({results[-1]['events']:,}) < 1 s: {last:.3f} s")
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
