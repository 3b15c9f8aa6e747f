"""Shared runner of the replayed-corpus ingest benchmarks (``flows.py``, ``route53.py``): ``cairn ingest``
next to the engine's own reader (the parse-only limit) and a plain-Python loop, each in a child process
(wall, CPU, peak RSS), the fastest of ``--repeat`` runs."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def spawn(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run ``cmd``: wall s, CPU s, peak RSS MB, stdout."""
    t = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, ru = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed: {err.decode()[-2000:]}")
    return time.monotonic() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out.decode()


def bench_main(script: str, *, name: str, limit: str, distinct: int, distinct_help: str,
               generate: Callable[[Path, int, int, int, int], Path], child: Callable[[str, Path], None]) -> None:
    """Command line of one benchmark: ``generate(out, events, distinct, per_file, seed)`` makes the corpus,
    ``child(approach, corpus)`` runs a baseline (``limit`` or ``python_loop``) and prints its record count."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--distinct", type=int, default=distinct, help=distinct_help)
    ap.add_argument("--per-file", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="runs per approach; the fastest counts")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / name)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.corpus)
        return
    corpus = generate(ROOT / "bench" / "corpus" / f"{name}-{a.events}-d{a.distinct}-seed{a.seed}", a.events,
                      a.distinct, a.per_file, a.seed)
    gz = sum(p.stat().st_size for p in corpus.glob("*.log.gz"))
    load = os.getloadavg()
    print(f"cpus {os.cpu_count()}, load average {load[0]:.2f}; corpus {corpus} ({gz / 1e6:.0f} MB gz)", flush=True)
    runs: dict[str, tuple[float, float, float]] = {}
    cairn = str(Path(sys.executable).with_name("cairn"))
    for approach in ("cairn", limit, "python_loop"):
        best: tuple[float, float, float] | None = None
        for _ in range(a.repeat):
            if approach == "cairn":
                ws = a.work / "ws"
                shutil.rmtree(ws, ignore_errors=True)
                wall, cpu, rss, out = spawn([cairn, "--workspace", str(ws), "--json", "-q", "ingest", str(corpus)])
                summary = json.loads(out)
                assert summary["loaded"] + summary["duplicates"] == a.events, summary
            else:
                wall, cpu, rss, out = spawn([sys.executable, script, "--child", approach, "--corpus", str(corpus)])
                assert int(out.split()[-1]) == a.events, out
            if best is None or wall < best[0]:
                best = (wall, cpu, rss)
        assert best is not None
        runs[approach] = best
        print(f"{approach:17} {best[0]:6.2f} s (CPU {best[1]:.2f} s)  {a.events / best[0]:>10,.0f} records/s  "
              f"peak RSS {best[2]:,.0f} MB", flush=True)
    c = runs["cairn"][0]
    print(f"cairn / {limit.removeprefix('duckdb_')} {runs[limit][0] / c:.2f} of the parse-only limit's throughput; "
          f"cairn / plain loop {runs['python_loop'][0] / c:.2f}x (no target: issue 2's targets are for CloudTrail)")
