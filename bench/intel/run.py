"""Benchmark of intel feed loading and IP lookups, through cairn's real code paths (see README.md here).

1. The full maltrail static trail set (1.85M rows) through the real loader (``IntelStore`` via
   ``cairn.intel.feeds.load_target``, as ``cairn intel load FILE --source maltrail``) in a child
   process: indicators/s, wall and CPU time, peak RSS of the child.
2. A >= 5M-indicator maltrail CSV made by ``gen_indicators.py`` (maltrail + ipsum, replayed with
   re-keyed values), loaded the same way in a child process: indicators/s and peak RSS (<= 1.5 GB).
3. 1M seeded addresses (75% IPv4, 25% IPv6) as an observables relation ``(type, value, ip_bin)``
   through ``cairn.intel.lookup.run_lookup`` in the workspace of step 1 (ASN, cloud, special,
   Tor, warninglists and the maltrail indicators: every family a real lookup matches); next to
   numpy ``searchsorted`` over the same sorted segment starts (the limit: find each address's
   segment and read its ASN) and a per-item ``ipaddress`` + ``bisect`` loop (sampled, scaled).
   The ASN of every address is checked to agree between the three. Informational, no target: numpy
   also expanding every address's range match rows (as ``_cairn_ipx_hit`` row indices, the work
   ``run_lookup``'s range part does, minus the strings), with the row count checked against
   ``run_lookup``'s. Also timed once: the same
   addresses as text through the Python API (``prepare`` + ``lookup_prepared``: what ``cairn
   lookup`` does before printing), for what a user waits for end to end.

Usage: python bench/intel/run.py [--quick] [--maltrail PATH] [--probes N] [--out DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import bisect
import ipaddress
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.ranges import V4_BASE
from cairn.lake.addresses import ip_to_bin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_indicators import IPSUM, MALTRAIL, write_feed

RSS_TARGET_MB = 1536


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- 1, 2: loads ---------------------------------------------------------------------------------

def child_load(path: Path, ws_dir: Path) -> None:
    """Runs in a child process: one real load into a fresh workspace; prints a JSON line."""
    from cairn.intel.feeds import load_target
    from cairn.intel.store import IntelStore, LoadSettings
    from cairn.workspace import Workspace

    shutil.rmtree(ws_dir, ignore_errors=True)
    ws = Workspace.open(ws_dir)
    engine = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")  # as the CLI opens it
    store = IntelStore(ws, engine)  # [intel] memory_limit: default
    wall, cpu = time.perf_counter(), time.process_time()
    r = load_target(store, str(path), "maltrail", fmt="maltrail", settings=LoadSettings())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.close()
    print(json.dumps({"parsed": r.parsed, "loaded": r.loaded, "duplicates": r.duplicates, "rejected": r.rejected,
                      "unsupported": r.unsupported, "sanity": r.sanity_dropped, "wall": wall, "cpu": cpu,
                      "rss_mb": peak_rss_mb(), "memory_limit": store.memory_limit}))


def run_load(path: Path, ws_dir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child-load", str(path), "--child-ws", str(ws_dir)],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"load of {path} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- 3: lookups ----------------------------------------------------------------------------------

def probes(n: int, seed: int) -> list[bytes]:
    """``n`` 16-byte keys: every 4th an IPv6 address in 2000::/4 (mostly allocated space), else IPv4."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        if i % 4 == 3:
            out.append(ipaddress.IPv6Address((0x2000 + rnd.getrandbits(12)) << 112 | rnd.getrandbits(112)).packed)
        else:
            out.append(ip_to_bin(ipaddress.IPv4Address(rnd.getrandbits(32))))
    return out


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of that run, result) over ``repeat`` runs."""
    best, best_cpu, result = float("inf"), 0.0, None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        w, c = time.perf_counter() - w, time.process_time() - c
        if w < best:
            best, best_cpu = w, c
    return best, best_cpu, result


class NumpyIndex:
    """The same segments as ``_cairn_ipx_seg4`` / ``_seg6`` as sorted numpy integer arrays, plus the ASN of
    each segment (ASN ranges do not overlap: at most one per segment; 0 a range without ASN, -1 none).

    IPv4: ``searchsorted`` on uint32. IPv6 (128-bit keys): ``searchsorted`` on the high 64 bits, then, for
    the probes whose high half equals some segment start's, a vectorised binary search on the low 64 bits
    within that run of equal high halves (a handful of rounds: runs are short)."""

    def __init__(self, e: DuckDBEngine, prefix: str) -> None:
        t4 = e.arrow(f"SELECT k, seg_id FROM {prefix}_seg4 ORDER BY k")
        self.k4 = t4["k"].to_numpy().astype(np.uint32)
        self.s4 = t4["seg_id"].to_numpy()
        t6 = e.arrow("SELECT CAST(k >> 64 AS UBIGINT) AS hi, CAST(k & CAST(18446744073709551615 AS UHUGEINT) "
                     f"AS UBIGINT) AS lo, seg_id FROM {prefix}_seg6 ORDER BY k")
        self.hi6, self.lo6 = t6["hi"].to_numpy(), t6["lo"].to_numpy()
        self.s6 = t6["seg_id"].to_numpy()
        nseg = int(e.scalar(f"SELECT count(*) FROM {prefix}_seg"))
        self.asn = np.full(nseg, -1, dtype=np.int64)
        ca = e.arrow(f"SELECT c.seg_id, coalesce(a.asn, 0) AS asn FROM {prefix}_cover c "
                     f"JOIN own_asn a USING (range_start, range_end) WHERE c.family = 'asn'")
        self.asn[ca["seg_id"].to_numpy()] = ca["asn"].to_numpy()
        # Every segment's match rows (``_hit``, ordered by segment) as offsets into that table.
        hit_seg = e.arrow(f"SELECT seg_id FROM {prefix}_hit ORDER BY seg_id")["seg_id"].to_numpy()
        self.hit_off = np.searchsorted(hit_seg, np.arange(nseg + 1))

    @staticmethod
    def split(buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """16-byte big-endian keys -> (is_v4 mask, high 64 bits, low 64 bits)."""
        words = np.frombuffer(buf, dtype=">u8").reshape(-1, 2)
        hi, lo = words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)
        v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        return v4, hi, lo

    def lookup(self, v4: np.ndarray, hi: np.ndarray, lo: np.ndarray, *, presort: bool = False) -> np.ndarray:
        """ASN (or -1) of each probe."""
        out = np.full(len(v4), -1, dtype=np.int64)
        q4 = (lo[v4] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        if presort:
            order = np.argsort(q4, kind="stable")
            q4 = q4[order]
        i4 = np.searchsorted(self.k4, q4, side="right") - 1
        a4 = np.where(i4 >= 0, self.asn[self.s4[np.maximum(i4, 0)]], -1)
        if presort:
            a4 = a4[np.argsort(order, kind="stable")]
        out[v4] = a4
        qh, ql = hi[~v4], lo[~v4]
        left = np.searchsorted(self.hi6, qh, side="left")
        right = np.searchsorted(self.hi6, qh, side="right")
        idx = left - 1  # no start with this high half: the last start below it
        run = np.nonzero(left < right)[0]
        if len(run):
            a, b, want = left[run], right[run], ql[run]
            while True:
                active = a < b
                if not active.any():
                    break
                mid = (a + b) // 2
                ok = active & (self.lo6[np.minimum(mid, len(self.lo6) - 1)] <= want)
                a = np.where(ok, mid + 1, a)
                b = np.where(active & ~ok, mid, b)
            idx[run] = a - 1
        out[~v4] = np.where(idx >= 0, self.asn[self.s6[np.maximum(idx, 0)]], -1)
        return out


    def segment_ids(self, v4: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Segment id (or -1) of each probe: the same searches as :meth:`lookup`."""
        out = np.full(len(v4), -1, dtype=np.int64)
        i4 = np.searchsorted(self.k4, (lo[v4] & np.uint64(0xFFFFFFFF)).astype(np.uint32), side="right") - 1
        out[v4] = np.where(i4 >= 0, self.s4[np.maximum(i4, 0)], -1)
        qh, ql = hi[~v4], lo[~v4]
        left = np.searchsorted(self.hi6, qh, side="left")
        right = np.searchsorted(self.hi6, qh, side="right")
        idx = left - 1
        run = np.nonzero(left < right)[0]
        if len(run):
            a, b, want = left[run], right[run], ql[run]
            while (a < b).any():
                active = a < b
                mid = (a + b) // 2
                ok = active & (self.lo6[np.minimum(mid, len(self.lo6) - 1)] <= want)
                a = np.where(ok, mid + 1, a)
                b = np.where(active & ~ok, mid, b)
            idx[run] = a - 1
        out[~v4] = np.where(idx >= 0, self.s6[np.maximum(idx, 0)], -1)
        return out

    def match_rows(self, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probe index, ``_hit`` row index) of every range match: what ``run_lookup``'s range part returns,
        as integers instead of rows with their strings."""
        found = np.flatnonzero(seg >= 0)
        start, stop = self.hit_off[seg[found]], self.hit_off[seg[found] + 1]
        count = stop - start
        first = np.cumsum(count) - count
        rows = np.arange(count.sum()) - np.repeat(first - start, count)
        return np.repeat(found, count), rows


def python_loop(sample: list[bytes], starts: list[int], seg_ids: list[int], asn: list[int]) -> list[int]:
    """Per item: ipaddress parses the 16-byte key, bisect finds the segment, then its ASN."""
    out = []
    for b in sample:
        addr = ipaddress.IPv6Address(b)
        mapped = addr.ipv4_mapped
        key = V4_BASE + int(mapped) if mapped is not None else int(addr)
        i = bisect.bisect_right(starts, key) - 1
        out.append(asn[seg_ids[i]] if i >= 0 else -1)
    return out


def lookups(ws_dir: Path, n_probes: int, sample_n: int, repeat: int) -> tuple[list[tuple], dict]:
    """Step 3, in the workspace of step 1, opened as ``cairn lookup`` opens it."""
    from cairn.intel import api
    from cairn.intel.lookup import INDEX_PREFIX, ensure_index, matches_text_sql, run_lookup
    from cairn.lake.addresses import bin_to_ip
    from cairn.workspace import Workspace

    rows: list[tuple] = []
    ws = Workspace.open(ws_dir)
    e = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")
    e.execute("SET enable_progress_bar = false")
    wall, cpu = time.perf_counter(), time.process_time()
    api.ensure(e, ws)  # ownership + warninglist tables (built once per workspace)
    ref_wall, ref_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    ensure_index(e)
    fam = dict(e.rows(f"SELECT family, count(*) FROM (SELECT DISTINCT family, range_start, range_end "
                      f"FROM {INDEX_PREFIX}_cover) GROUP BY 1"))
    n_seg, n_hit = (e.scalar(f"SELECT count(*) FROM {INDEX_PREFIX}_{t}") for t in ("seg", "hit"))
    rows.append(("reference tables + index build", ", ".join(f"{v:,} {k}" for k, v in sorted(fam.items())),
                 f"{n_seg:,} segments, {n_hit:,} hit rows",
                 f"{time.perf_counter() - wall:.1f} s (CPU {time.process_time() - cpu:.1f} s); "
                 f"tables {ref_wall:.1f} s (CPU {ref_cpu:.1f} s)", ""))

    pr = probes(n_probes, 42)
    texts = [bin_to_ip(b) for b in pr]
    e.register("bench_obs_a", pa.table({"type": pa.array(["ip"] * n_probes), "value": texts,
                                        "ip_bin": pa.array(pr, pa.binary())}))
    e.execute("CREATE OR REPLACE TEMP TABLE bench_obs AS SELECT * FROM bench_obs_a")  # the observables relation
    e.unregister("bench_obs_a")
    n_distinct = int(e.scalar("SELECT count(DISTINCT ip_bin) FROM bench_obs"))

    # The real path: what `cairn lookup` and enrichment run.
    w_lk, c_lk, _ = timed(lambda: run_lookup(e, "bench_obs", "_bench"), repeat)
    hits = dict(e.rows("SELECT family, count(*) FROM _bench_matches GROUP BY 1"))
    rate = n_probes / w_lk
    # What a user of the Python API (and `cairn lookup`, before printing) waits for: text in, one row per value
    # out with verdict, ownership and warninglists.
    w_api, c_api, api_rows = timed(lambda: api.lookup_prepared(e, ws, api.prepare(texts)).num_rows, 1)

    # numpy: the limit, over the same sorted segment starts
    npx = NumpyIndex(e, INDEX_PREFIX)
    buf = b"".join(pr)

    def np_job(presort: bool = False) -> np.ndarray:
        v4, hi, lo = NumpyIndex.split(buf)
        return npx.lookup(v4, hi, lo, presort=presort)

    w_np, c_np, np_asn = timed(np_job, repeat)
    w_nps, c_nps, np_asn_sorted = timed(lambda: np_job(True), repeat)

    def np_rows_job() -> tuple[np.ndarray, np.ndarray]:
        v4, hi, lo = NumpyIndex.split(buf)
        return npx.match_rows(npx.segment_ids(v4, hi, lo))

    w_npr, c_npr, (_, np_rows) = timed(np_rows_job, repeat)
    range_rows = int(e.scalar("SELECT count(*) FROM _bench_matches WHERE match_kind <> 'exact'"))
    limit_ratio = w_lk / w_np

    # the per-item loop, sampled
    seg = e.arrow(f"SELECT seg_start, seg_id FROM {INDEX_PREFIX}_seg ORDER BY seg_start")
    starts = [int.from_bytes(b, "big") for b in seg["seg_start"].to_pylist()]
    seg_ids = seg["seg_id"].to_pylist()
    asn_list = npx.asn.tolist()
    sample = pr[:sample_n]
    w_py, _c_py, py_asn = timed(lambda: python_loop(sample, starts, seg_ids, asn_list), 1)
    py_rate = len(sample) / w_py

    # the three answers agree (ASN of every probe; bundled ASN data only in this workspace)
    e.register("np_res", pa.table({"ip_bin": pa.array(pr, pa.binary()), "asn": pa.array(np_asn)}))
    differ = e.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT ip_bin, asn FROM np_res WHERE asn >= 0) n "
        f"FULL JOIN (SELECT DISTINCT o.ip_bin, TRY_CAST(m.matched AS BIGINT) AS asn FROM ({matches_text_sql('_bench')}) m "
        "JOIN bench_obs o USING (type, value) WHERE m.family = 'asn') d USING (ip_bin) "
        "WHERE n.asn IS DISTINCT FROM coalesce(d.asn, CASE WHEN d.ip_bin IS NOT NULL THEN 0 END)")
    agree = differ == 0 and list(np_asn[:sample_n]) == py_asn and (np_asn == np_asn_sorted).all()
    e.close()

    rows += [
        ("lookup run_lookup (real path)", f"{n_probes:,} IPs ({n_distinct:,} distinct), "
         + ", ".join(f"{v:,} {k}" for k, v in sorted(hits.items())),
         f"{rate:,.0f} lookups/s", f"{w_lk:.3f} s (CPU {c_lk:.3f} s)", "PASS" if rate >= 1e6 else "FAIL"),
        ("lookup api (text in, verdict rows out)", f"{api_rows:,} rows: normalise, look up, verdicts, ownership",
         f"{n_probes / w_api:,.0f} lookups/s", f"{w_api:.3f} s (CPU {c_api:.3f} s)", ""),
        ("lookup numpy searchsorted (limit)", f"{n_probes:,} IPs, uint32 / 2x uint64 keys, ASN only",
         f"{n_probes / w_np:,.0f} lookups/s", f"{w_np:.3f} s (CPU {c_np:.3f} s)",
         f"{'PASS' if limit_ratio <= 3 else 'FAIL'} run_lookup/limit {limit_ratio:.2f}x "
         f"(CPU {c_lk / max(c_np, 1e-9):.2f}x)"),
        ("lookup numpy sort + searchsorted", f"{n_probes:,} IPs, probes sorted first",
         f"{n_probes / w_nps:,.0f} lookups/s", f"{w_nps:.3f} s (CPU {c_nps:.3f} s)",
         f"run_lookup/this {w_lk / w_nps:.2f}x"),
        ("lookup numpy + match rows (no target)", f"{len(np_rows):,} range match rows as indices "
         f"({range_rows:,} in run_lookup)", f"{n_probes / w_npr:,.0f} lookups/s",
         f"{w_npr:.3f} s (CPU {c_npr:.3f} s)", f"run_lookup/this {w_lk / w_npr:.2f}x"),
        ("lookup ipaddress + bisect loop", f"{len(sample):,} sampled", f"{py_rate:,.0f} lookups/s",
         f"{n_probes / py_rate:.1f} s scaled to {n_probes:,}", ""),
        ("answers agree (ASN per IP)", "run_lookup = numpy = loop", "yes" if agree else f"NO ({differ} differ)", "",
         "PASS" if agree else "FAIL"),
    ]
    return rows, {"rate": rate, "ratio": limit_ratio, "agree": agree}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--maltrail", type=Path, default=MALTRAIL)
    ap.add_argument("--probes", type=int, default=None, help="addresses to look up (default 1M; --quick 100k)")
    ap.add_argument("--big", type=int, default=None, help="rows of the replayed CSV (default 6.2M: >= 5M stored)")
    ap.add_argument("--repeat", type=int, default=5, help="lookup runs; the fastest counts")
    ap.add_argument("--quick", action="store_true", help="smoke run: 200k-row maltrail slice, 400k replay, 100k IPs")
    ap.add_argument("--out", type=Path, default=Path("bench/out/intel"))
    ap.add_argument("--child-load", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-ws", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_load:
        child_load(a.child_load, a.child_ws)
        return
    a.out.mkdir(parents=True, exist_ok=True)
    n_probes = a.probes or (100_000 if a.quick else 1_000_000)
    big_rows = a.big or (400_000 if a.quick else 6_200_000)
    load0 = os.getloadavg()
    print(f"cpus {os.cpu_count()}, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}"
          f"{' (quick run: targets not meaningful)' if a.quick else ''}", flush=True)
    rows: list[tuple] = []

    src = a.maltrail
    if a.quick:  # the first 200k rows, as a real maltrail CSV
        src = a.out / "maltrail-200k.csv"
        write_feed(src, 200_000, maltrail=a.maltrail, ipsum=None)
    ws1 = a.out / ("ws-quick" if a.quick else "ws-maltrail")
    r1 = run_load(src, ws1)
    rows.append(("load maltrail (real loader)", f"{r1['parsed']:,} parsed, {r1['loaded']:,} stored",
                 f"{r1['parsed'] / r1['wall']:,.0f} indicators/s",
                 f"{r1['wall']:.1f} s (CPU {r1['cpu']:.1f} s), peak RSS {r1['rss_mb']:,.0f} MB", ""))
    print(*rows[-1], sep="  ", flush=True)

    big = a.out / f"indicators-{big_rows}.csv"
    write_feed(big, big_rows, maltrail=src if a.quick else a.maltrail, ipsum=IPSUM)
    r5 = run_load(big, a.out / "ws-big")
    ok5 = r5["rss_mb"] <= RSS_TARGET_MB and (a.quick or r5["loaded"] >= 5_000_000)
    rows.append((f"load {big_rows / 1e6:.1f}M-row replay (real loader)",
                 f"{r5['parsed']:,} parsed, {r5['loaded']:,} stored", f"{r5['parsed'] / r5['wall']:,.0f} indicators/s",
                 f"{r5['wall']:.1f} s (CPU {r5['cpu']:.1f} s), peak RSS {r5['rss_mb']:,.0f} MB",
                 f"{'PASS' if ok5 else 'FAIL'} <= {RSS_TARGET_MB} MB (memory_limit {r5['memory_limit']})"))
    print(*rows[-1], sep="  ", flush=True)
    shutil.rmtree(a.out / "ws-big", ignore_errors=True)

    lk_rows, lk = lookups(ws1, n_probes, 2_000 if a.quick else 20_000, a.repeat)
    rows += lk_rows
    load1 = os.getloadavg()
    print()
    w = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip())
    print(f"load average at the end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print(f"targets: 5M indicators <= 1.5 GB peak RSS: {'PASS' if ok5 else 'FAIL'}; >= 1M lookups/s: "
          f"{'PASS' if lk['rate'] >= 1e6 else 'FAIL'} ({lk['rate']:,.0f}); within 3x of numpy searchsorted: "
          f"{'PASS' if lk['ratio'] <= 3 else 'FAIL'} ({lk['ratio']:.2f}x); answers agree: "
          f"{'PASS' if lk['agree'] else 'FAIL'}")


if __name__ == "__main__":
    main()
