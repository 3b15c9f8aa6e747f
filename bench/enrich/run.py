"""Benchmark of lake enrichment (``cairn.enrich.refresh``): N replayed events x ~1M+ indicators.

1. A workspace with the bundled real samples ingested (441 events, ~3,000 observables) and real intel
   loaded through the real loader: ipsum (all of it) and the maltrail static trails (all 1.85M rows;
   ``--small-intel``: ipsum only), plus the bundled ASN / cloud / Tor / warninglist tables.
2. The lake's ``observables`` replayed to N events: each replay copies every sample event's observables
   with a new event_uid and a time shifted by one hour per replay; IP observables are re-mapped per
   replay into a seeded pool of ``--pool`` distinct addresses (10% taken from the loaded single-IP
   indicators so that matches happen, the rest random public IPv4 and 5% IPv6), so the lake holds many
   distinct addresses as a real one does. Written as Parquet partitions and listed in the catalog as
   ``observables`` files exactly like an ingest's (ingesting 10M events through ``cairn ingest`` takes
   about an hour on this machine: see bench/ingest).
3. ``refresh`` in a child process (the enrichment of every observable, written back to the lake):
   wall and CPU (user + system of the child, from ``os.wait4``) and the child's own peak RSS (``VmHWM``).
4. Baseline in the same run: a per-event Python lookup (dict of exact indicators, per-prefix-length
   dicts of CIDR indicators, parent-domain dict, ``bisect`` over the ASN ranges, all with ``ipaddress``)
   over a sample of observable rows, scaled to the lake; the ratio is cairn's events/s over it.

Usage: python bench/enrich/run.py [--events N] [--small-intel] [--pool N] [--memory-limit 3GB]
                                  [--out DIR] [--reuse] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import ipaddress
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("CAIRN_BENCH_DATA", ROOT.parent / "shared" / "data"))
SAMPLES = ROOT / "src" / "cairn" / "data" / "samples"


def _q(p: Path | str) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def template(out: Path, small: bool, reuse: bool) -> Path:
    """Workspace with the samples and the intel loaded (kept between runs with --reuse)."""
    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.enrich.materialize import prepare
    from cairn.intel.feeds import load_target
    from cairn.intel.store import IntelStore
    from cairn.lake.ingest import Ingestor
    from cairn.workspace import Workspace

    root = out / ("template-small" if small else "template")
    if reuse and (root / "catalog.duckdb").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.open(root)
    with DuckDBEngine(ws.catalog_path, temp_directory=root / "tmp") as e:
        Ingestor(ws, e).run([str(SAMPLES)])
        store = IntelStore(ws, e)
        t = time.monotonic()
        r = load_target(store, str(DATA / "ti-stamparm-ipsum" / "ipsum.txt"), "ipsum")
        print(f"intel: ipsum {r.loaded:,} indicators ({time.monotonic() - t:.1f}s)", flush=True)
        if not small:
            csv = out / "maltrail.csv"
            if not csv.exists():
                with gzip.open(DATA / "ti-stamparm-maltrail" / "maltrail_static_trails.csv.gz", "rb") as src, \
                        csv.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            t = time.monotonic()
            r = load_target(store, str(csv), "maltrail", fmt="maltrail")
            print(f"intel: maltrail {r.loaded:,} indicators ({time.monotonic() - t:.1f}s)", flush=True)
        with ws.writer_lock():
            prepare(e, ws)
    return root


def address_pool(e, n: int, seed: int) -> pa.Table:
    """``n`` distinct addresses: 10% single-IP indicators, 85% random public IPv4, 5% IPv6."""
    from cairn.intel.ranges import bin_of

    rnd = random.Random(seed)
    known = [r[0] for r in e.rows("SELECT value FROM _cairn_enx_ind WHERE type = 'ip' AND prefix_len IN (32, 128) "
                                  "ORDER BY value")]
    rnd.shuffle(known)
    values = set(known[: n // 10])
    while len(values) < n * 95 // 100:
        a = ipaddress.IPv4Address(rnd.randrange(1 << 24, 224 << 24))
        if a.is_global:
            values.add(str(a))
    while len(values) < n:
        values.add(str(ipaddress.IPv6Address((0x2A00 << 112) | rnd.getrandbits(100))))
    vals = sorted(values)
    rnd.shuffle(vals)
    return pa.table({"idx": pa.array(range(len(vals)), pa.int64()), "value": vals,
                     "ip_bin": pa.array([bin_of(v) for v in vals], pa.binary())})


def replay(root: Path, events: int, pool: int, seed: int) -> dict:
    """Replace the lake's observables by ``events`` replayed events; returns counts."""
    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.workspace import Workspace

    ws = Workspace.open(root)
    with DuckDBEngine(ws.catalog_path, temp_directory=root / "tmp") as e:
        e.register("_pool_arrow", address_pool(e, pool, seed))
        e.execute("CREATE OR REPLACE TEMP TABLE _pool AS SELECT * FROM _pool_arrow")
        e.execute("CREATE OR REPLACE TEMP TABLE _base AS SELECT o.*, dense_rank() OVER (ORDER BY source, event_uid) - 1 "
                  "AS ev FROM observables o")
        base_events = int(e.scalar("SELECT max(ev) + 1 FROM _base"))
        replays = -(-events // base_events)
        stage = root / "staging" / "bench-replay"
        shutil.rmtree(stage, ignore_errors=True)
        target = stage / "observables"
        target.mkdir(parents=True)
        e.execute(
            f"""
            COPY (
              SELECT b.event_uid || '-r' || r.r AS event_uid, b.source,
                     b.event_time + to_hours(r.r) AS event_time,
                     CAST(b.event_time + to_hours(r.r) AS DATE) AS event_date, b.field, b.type,
                     CASE WHEN b.type = 'ip' THEN p.value ELSE b.value END AS value,
                     CASE WHEN b.type = 'ip' THEN p.ip_bin ELSE b.ip_bin END AS ip_bin
              FROM _base b CROSS JOIN range({replays}) r(r)
              LEFT JOIN _pool p ON b.type = 'ip' AND p.idx = hash(r.r, b.value, {seed}) % {pool}
              WHERE r.r * {base_events} + b.ev < {events}
            ) TO {_q(target)} (FORMAT parquet, PARTITION_BY (source, event_date), FILENAME_PATTERN 'part-{{i}}',
                               COMPRESSION zstd, ROW_GROUP_SIZE 122880)
            """
        )
        files = sorted(target.rglob("*.parquet"))
        with e.transaction():
            for old in e.rows("SELECT path FROM _cairn_files WHERE table_name = 'observables'"):
                (ws.lake / old[0]).unlink(missing_ok=True)
            e.execute("DELETE FROM _cairn_files WHERE table_name IN ('observables', 'enriched_observables', "
                      "'intel_matches')")
            e.execute("DROP TABLE IF EXISTS _cairn_enrich_state")
            e.execute("DROP TABLE IF EXISTS _cairn_enrich_inputs")
            for f in files:
                rel = Path("observables") / f.relative_to(target).with_name("bench-" + f.name)
                (ws.lake / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, ws.lake / rel)
                e.execute("INSERT INTO _cairn_files (table_name, path, partition_value, rows, run_id) "
                          "SELECT 'observables', ?, ?, count(*), 'bench-replay' FROM read_parquet(?)",
                          [rel.as_posix(), "/".join(rel.parts[1:-1]), str(ws.lake / rel)])
        from cairn.lake.catalog import Catalog

        Catalog(e, ws.lake).refresh_views(["observables"])
        rows = int(e.scalar("SELECT count(*) FROM observables"))
        distinct = int(e.scalar("SELECT count(*) FROM (SELECT DISTINCT type, value FROM observables)"))
        indicators = int(e.scalar("SELECT count(*) FROM _cairn_enx_ind"))
        asn = int(e.scalar("SELECT count(*) FROM own_asn"))
        shutil.rmtree(stage, ignore_errors=True)
    return {"events": events, "base_events": base_events, "replays": replays, "observables": rows,
            "distinct_values": distinct, "indicators": indicators, "asn_ranges": asn, "files": len(files)}


def child_refresh(root: str, memory_limit: str) -> None:
    """Runs in the child: one full refresh; prints its summary as JSON."""
    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.enrich import refresh
    from cairn.workspace import Workspace

    ws = Workspace.open(Path(root))
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp", memory_limit=memory_limit or None) as e:
        s = refresh(e, ws, full=True)
    out = s.to_dict()
    out["vm_hwm_mb"] = _vm_hwm_mb()
    print(json.dumps(out))


def _vm_hwm_mb() -> float:
    """This process's peak RSS since exec (``VmHWM``). ``ru_maxrss`` from ``wait4`` is not used for it: a child
    spawned with vfork starts from the parent's high-water mark, and the parent held the replay's memory."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run_child(root: Path, memory_limit: str) -> dict:
    t = time.monotonic()
    p = subprocess.Popen([sys.executable, __file__, "--child", str(root), "--memory-limit", memory_limit],
                         stdout=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    out = p.stdout.read().decode() if p.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"refresh child failed: {out}")
    summary = json.loads(out.strip().splitlines()[-1])
    return {"seconds": round(wall, 2), "cpu_seconds": round(ru.ru_utime + ru.ru_stime, 2),
            "peak_rss_mb": summary.pop("vm_hwm_mb"), "summary": summary}


class Baseline:
    """The per-event Python lookup: dicts and ``ipaddress``, one observable at a time."""

    def __init__(self, e) -> None:
        self.exact: dict[str, list[str]] = {}
        self.cidrs: dict[tuple[int, int], dict[int, list[str]]] = {}
        self.domains: dict[str, list[str]] = {}
        for uid, typ, value, plen, ver in e.rows(
                "SELECT indicator_uid, type, value, prefix_len, ip_version FROM _cairn_enx_ind"):
            if typ == "ip" and plen not in (32, 128):
                net = ipaddress.ip_network(value)
                self.cidrs.setdefault((ver, plen), {}).setdefault(int(net.network_address), []).append(uid)
            elif typ == "domain":
                self.domains.setdefault(value, []).append(uid)
            else:
                self.exact.setdefault(value, []).append(uid)
        rows = e.rows("SELECT range_start, asn FROM own_asn ORDER BY range_start")
        self.asn_starts = [int.from_bytes(r[0], "big") for r in rows]
        self.asn = [r[1] for r in rows]

    def lookup(self, typ: str, value: str) -> tuple[list[str], int | None]:
        hits: list[str] = []
        asn = None
        if typ == "ip":
            try:
                a = ipaddress.ip_address(value)
            except ValueError:
                return hits, None
            if a.version == 6 and a.ipv4_mapped:
                a = a.ipv4_mapped
            hits += self.exact.get(str(a), [])
            full = 32 if a.version == 4 else 128
            for (ver, plen), nets in self.cidrs.items():
                if ver == a.version:
                    hits += nets.get(int(a) >> (full - plen) << (full - plen), [])
            key = int(a) + (0xFFFF << 32) if a.version == 4 else int(a)
            i = bisect.bisect_right(self.asn_starts, key) - 1
            asn = self.asn[i] if i >= 0 else None
        elif typ in ("domain", "hostname"):
            labels = value.lower().rstrip(".").split(".")
            for n in range(len(labels)):
                hits += self.domains.get(".".join(labels[n:]), [])
        else:
            hits += self.exact.get(value, [])
        return hits, asn


def baseline(root: Path, sample: int) -> dict:
    from cairn.engines.duckdb_engine import DuckDBEngine

    with DuckDBEngine(root / "catalog.duckdb", read_only=True) as e:
        t = time.monotonic()
        b = Baseline(e)
        setup = time.monotonic() - t
        rows = e.rows(f"SELECT type, value FROM observables USING SAMPLE {int(sample)} ROWS (reservoir, 7)")
        total = int(e.scalar("SELECT count(*) FROM observables"))
    c0 = time.process_time()
    t = time.monotonic()
    hits = sum(len(b.lookup(typ, v)[0]) for typ, v in rows)
    wall = time.monotonic() - t
    cpu = time.process_time() - c0
    return {"sample_rows": len(rows), "sample_seconds": round(wall, 3), "sample_cpu_seconds": round(cpu, 3),
            "rows_per_s": round(len(rows) / wall), "setup_seconds": round(setup, 1), "sample_hits": hits,
            "scaled_seconds_for_lake": round(total / (len(rows) / wall), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--pool", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--small-intel", action="store_true")
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--baseline-sample", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "enrich")
    ap.add_argument("--reuse", action="store_true", help="Reuse the intel template workspace of an earlier run.")
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        child_refresh(a.child, a.memory_limit)
        return
    a.out.mkdir(parents=True, exist_ok=True)
    tpl = template(a.out, a.small_intel, a.reuse)
    root = a.out / f"ws-{a.events}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(tpl, root)
    t = time.monotonic()
    lake = replay(root, a.events, a.pool, a.seed)
    print(f"lake: {lake} ({time.monotonic() - t:.1f}s)", flush=True)
    res = run_child(root, a.memory_limit)
    base = baseline(root, a.baseline_sample)
    ev_s = lake["events"] / res["seconds"]
    base_ev_s = base["rows_per_s"] * lake["events"] / lake["observables"]
    report = {"lake": lake, "cairn": res, "baseline": base,
              "cairn_events_per_s": round(ev_s), "cairn_observables_per_s": round(lake["observables"] / res["seconds"]),
              "cairn_events_per_cpu_s": round(lake["events"] / res["cpu_seconds"]),
              "baseline_events_per_s": round(base_ev_s), "ratio": round(ev_s / base_ev_s, 1),
              "ratio_cpu": round((lake["events"] / res["cpu_seconds"])
                                 / (base["sample_rows"] / base["sample_cpu_seconds"] * lake["events"]
                                    / lake["observables"]), 2),
              "memory_limit": a.memory_limit, "cpus": os.cpu_count()}
    print(f"cairn refresh: {lake['events']:,} events / {lake['observables']:,} observables in {res['seconds']}s wall, "
          f"{res['cpu_seconds']}s CPU, peak RSS {res['peak_rss_mb']} MB -> {ev_s:,.0f} events/s "
          f"({report['cairn_observables_per_s']:,} observables/s); {res['summary']['matches']:,} matches")
    print(f"baseline (per-event Python, {base['sample_rows']:,} sampled rows): {base['rows_per_s']:,} rows/s = "
          f"{base_ev_s:,.0f} events/s; scaled to the lake {base['scaled_seconds_for_lake']}s")
    print(f"ratio cairn / baseline: {report['ratio']}x wall-clock, {report['ratio_cpu']}x per CPU second "
          f"(phases: {res['summary']['details']})")
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
