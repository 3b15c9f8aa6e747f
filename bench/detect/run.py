"""Detection benchmark: SigmaHQ's CloudTrail rules over replayed events, cairn next to Zircolite's approach.

For one corpus (``bench/ingest/generate.py``, generated when missing) in one run:

* ``cairn_detect``  - ``cairn detect`` with the 57 SigmaHQ CloudTrail rules on a lake holding the corpus
  (ingested once beforehand, untimed here: that is ``bench/ingest``); the rule state is reset before the
  run, so every event is read, matched and turned into alerts (hit ledger, alerts table, commit);
* ``cairn_ingest``  - ``cairn ingest`` of the corpus into a fresh workspace (timed, for the row below);
* ``cairn_total``   - ``cairn_ingest`` + ``cairn_detect``: loading included, like the SQLite row;
* ``sqlite``        - the Zircolite approach (``zircolite_sqlite.py``): records flattened into an in-memory
  SQLite table, the same rules converted with pySigma's SQLite backend (``pysigma-backend-sqlite``), every
  query run. It runs in its own venv (``bench/out/venv-sqlite``, created on first use) so that the
  backend's pySigma pin cannot clash with cairn's.

Each approach is a child process; wall time around it, CPU time (user + system) and peak RSS from
``os.wait4``. Ratio = events/s of cairn ÷ events/s of SQLite (target: cairn_total >= 20x).

    .venv/bin/python bench/detect/run.py --events 1000000 --json-out bench/out/detect.json
    .venv/bin/python bench/detect/run.py --events 20000          # smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
_spec = importlib.util.spec_from_file_location("bench_ingest_run", REPO / "bench" / "ingest" / "run.py")
assert _spec and _spec.loader
_ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ingest)
_spawn, ensure_corpus = _ingest._spawn, _ingest.ensure_corpus  # corpus and child measurement of bench/ingest

SQLITE_PKGS = ["pysigma==2.0.1", "pysigma-backend-sqlite==2.1.1"]
DEFAULT_RULES = REPO.parent / "shared" / "data" / "sigma-aws-cloudtrail-rules" / "rules"


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_sqlite_venv(path: Path, log: Path) -> Path:
    """A venv with pySigma's SQLite backend (kept apart from cairn's pySigma)."""
    py = path / "bin" / "python"
    if py.exists() and subprocess.call([str(py), "-c", "import sigma.backends.sqlite"],
                                       stderr=subprocess.DEVNULL) == 0:
        return py
    _progress(f"creating {path} with {' '.join(SQLITE_PKGS)} ...")
    subprocess.check_call([sys.executable, "-m", "venv", str(path)])
    with open(log, "ab") as fh:
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", *SQLITE_PKGS], stdout=fh, stderr=fh)
    return py


def _config(path: Path, rules: Path) -> Path:
    path.write_text("[detect]\n"
                    f"sigma = [{json.dumps(str(rules))}]\n"
                    "native = []\nintel_match = false\nenrich = false\ndispatch = false\n", encoding="utf-8")
    return path


def _reset_detect(ws: Path) -> None:
    import duckdb

    con = duckdb.connect(str(ws / "catalog.duckdb"))
    for t in ("_cairn_detect_checkpoints", "_cairn_alert_events", "_cairn_alerts"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    con.execute("DELETE FROM _cairn_runs WHERE kind = 'detect'")
    con.close()


def _rule_counts(ws: Path) -> dict[str, int]:
    """Events each rule matched in the cairn run (from the hit ledger)."""
    import duckdb

    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT rule_id, count(*) FROM _cairn_alert_events GROUP BY 1").fetchall())
    finally:
        con.close()


def _row(name: str, events: int, seconds: float, cpu: float, rss: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {"approach": name, "events": events, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "events_per_s": round(events / seconds) if seconds else None,
            "events_per_cpu_s": round(events / cpu) if cpu else None, "peak_rss_mb": round(rss / 1e6), **extra}


def run(events: int, args: argparse.Namespace) -> dict[str, Any]:
    work = args.work_dir / str(events)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "run.log"
    corpus, manifest = ensure_corpus(events, args.corpus_dir, args.seed, args.per_file, log)
    cairn = [args.cairn, "-q", "--json"]
    ws = work / "ws"
    cfg = _config(work / "cairn.toml", args.rules)
    results: list[dict[str, Any]] = []

    # cairn ingest (fresh workspace each run): the loading part of cairn_total
    shutil.rmtree(ws, ignore_errors=True)
    _progress(f"[{events:,}] cairn ingest ...")
    sec, cpu, rc, rss, out = _spawn([*cairn, "--workspace", str(ws), "--config", str(cfg), "ingest",
                                     str(corpus / "AWSLogs")], log)
    if rc != 0:
        raise SystemExit(f"cairn ingest failed (exit {rc}); see {log}")
    loaded = json.loads(out).get("loaded", 0)
    ingest = _row("cairn_ingest", loaded, sec, cpu, rss, {})
    results.append(ingest)

    # cairn detect, the rules alone (state reset so that everything is read)
    best: dict[str, Any] | None = None
    for _ in range(args.repeat):
        _reset_detect(ws)
        _progress(f"[{events:,}] cairn detect ...")
        sec, cpu, rc, rss, out = _spawn([*cairn, "--workspace", str(ws), "--config", str(cfg), "detect"], log)
        if rc != 0:
            raise SystemExit(f"cairn detect failed (exit {rc}); see {log}")
        s = json.loads(out)
        row = _row("cairn_detect", loaded, sec, cpu, rss, {
            "rules": s["rules"].get("sigma", 0), "hits": s["hits"], "alerts": len(s["new_alerts"]),
            "failed_rules": len(s["failed_sigma"])})
        if best is None or row["seconds"] < best["seconds"]:
            best = row
    assert best is not None
    results.append(best)
    cairn_counts = _rule_counts(ws)
    results.append(_row("cairn_total", loaded, ingest["seconds"] + best["seconds"],
                        ingest["cpu_seconds"] + best["cpu_seconds"], max(ingest["peak_rss_mb"], best["peak_rss_mb"])
                        * 10**6, {}))

    # Zircolite approach
    if not args.skip_sqlite:
        py = ensure_sqlite_venv(args.sqlite_venv, log)
        _progress(f"[{events:,}] SQLite (Zircolite approach) ...")
        sec, cpu, rc, rss, out = _spawn([str(py), str(HERE / "zircolite_sqlite.py"), str(corpus), str(args.rules)], log)
        if rc != 0:
            raise SystemExit(f"SQLite approach failed (exit {rc}); see {log}")
        z = json.loads(out)
        results.append(_row("sqlite", z["events"], sec, cpu, rss, {
            "rules": z["converted"], "hits": sum(z["matches"].values()), "failed_rules": len(z["failed"]),
            "load_seconds": z["load_seconds"], "rules_seconds": z["rules_seconds"], "columns": z["columns"],
            "query_errors": len(z["query_errors"])}))
        (work / "sqlite_matches.json").write_text(json.dumps(z, indent=1), encoding="utf-8")
        differ = {r: {"cairn": cairn_counts.get(r, 0), "sqlite": n} for r, n in z["matches"].items()
                  if cairn_counts.get(r, 0) != n}
        results[-1]["rules_same_matches"] = len(z["matches"]) - len(differ)
        results[-1]["rules_different_matches"] = differ
        base = results[-1]["events_per_s"]
        for r in results:
            r["x_sqlite"] = round(r["events_per_s"] / base, 1) if base and r["events_per_s"] else None
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)
    return {"events": events, "corpus": str(corpus), "files": manifest.get("files"), "results": results}


def table(res: dict[str, Any]) -> str:
    head = "| approach | events | seconds | CPU s | events/s | events/CPU-s | peak RSS MB | rules | matches | x SQLite |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["results"]:
        lines.append(f"| {r['approach']} | {r['events']:,} | {r['seconds']:,.1f} | {r['cpu_seconds']:,.1f} | "
                     f"{r['events_per_s'] or 0:,} | {r['events_per_cpu_s'] or 0:,} | {r['peak_rss_mb']:,} | "
                     f"{r.get('rules', '')} | {r.get('hits', '')} | {r.get('x_sqlite', '')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="Sigma rules folder (SigmaHQ CloudTrail)")
    p.add_argument("--corpus-dir", type=Path, default=REPO / "bench" / "corpus")
    p.add_argument("--work-dir", type=Path, default=REPO / "bench" / "out" / "detect")
    p.add_argument("--sqlite-venv", type=Path, default=REPO / "bench" / "out" / "venv-sqlite")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--per-file", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=1, help="cairn detect runs; the fastest counts")
    p.add_argument("--cairn", default=str(Path(sys.executable).with_name("cairn")))
    p.add_argument("--skip-sqlite", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the workspace")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    if not args.rules.is_dir():
        raise SystemExit(f"no rules folder {args.rules}")
    started = time.time()
    res = run(args.events, args)
    res.update(machine={"python": platform.python_version(), "cpus": os.cpu_count(),
                        "load_avg": os.getloadavg()}, started=started)
    print(table(res))
    by = {r["approach"]: r for r in res["results"]}
    if by["cairn_detect"].get("x_sqlite") is not None:
        for name, what in (("cairn_detect", "cairn detect on the lake"), ("cairn_total", "cairn ingest + detect")):
            for unit, key in (("wall", "events_per_s"), ("cpu", "events_per_cpu_s")):
                ratio = by[name][key] / by["sqlite"][key]
                verdict = "PASS" if ratio >= 20 else "FAIL"
                print(f"{verdict}  {what} / SQLite (loading included) >= 20 at {args.events:,} events "
                      f"({unit}): {ratio:.1f}")
        sq = by["sqlite"]
        print(f"rules with the same number of matches in cairn and SQLite: {sq['rules_same_matches']} of "
              f"{sq['rules']}; different: {sorted(sq['rules_different_matches'])}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
