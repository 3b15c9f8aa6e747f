"""Generate a CloudTrail benchmark corpus by replaying real sessions.

The real records come from the shared data folder (``--data``):

* ``stratus-red-team-detonation-logs/*.json`` - JSON arrays of CloudTrail records;
* ``otrf-security-datasets-aws/ec2_proxy_s3_exfiltration_*.json`` - Logstash JSON
  lines; ``eventTime`` is taken from ``@timestamp`` and the Logstash artefacts
  ``@timestamp`` / ``@version`` are dropped (a trail file never has them);
* ``panther-analysis-tests/cloudtrail_tests.jsonl`` - the ``log`` of each test case,
  deduplicated; Panther's own ``p_*`` enrichment fields are dropped and test events
  lacking a field every trail record has (eventVersion 1.x, eventTime, eventID,
  eventSource, eventName, eventType, awsRegion, a 12-digit recipientAccountId, a
  userIdentity object) are left out rather than completed.

Records are grouped into sessions: same origin (Stratus technique file, OTRF file,
Panther rule file) and same identity (userIdentity arn / principalId / invokedBy),
split where two consecutive events are more than an hour apart. Each replay copies
one whole session (the last replay of a shard may be cut short to hit the exact
count) with:

* a new ``eventID`` (UUID) per record, and new ``requestID`` / ``sharedEventID``
  values mapped consistently within the replay (UUIDs stay UUIDs; other shapes keep
  their length and character classes);
* access key ids and unique ids (``AKIA``/``ASIA``/``AROA``/``AIDA``/... tokens,
  wherever they appear in the record) re-keyed consistently within the replay;
* ``eventTime`` and ``userIdentity.sessionContext.attributes.creationDate`` shifted by
  one offset per replay (intra-session spacing kept, format ``YYYY-MM-DDTHH:MM:SSZ``).
  Other fields, timestamps inside request/response payloads included, are copied
  verbatim: no field is invented.

Output: gzipped ``{"Records": [...]}`` trail files in the S3 key layout
``AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<rand16>.json.gz``,
a few hundred to ~2000 records each (``--per-file`` is the mean), plus
``.manifest.json`` (a dot file: ``cairn ingest`` skips it). The work is cut into shards
of fixed size, each with its own RNG derived from ``--seed``, so the output is
byte-identical for a seed whatever the number of worker processes.

    .venv/bin/python bench/ingest/generate.py --events 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import json
import os
import random
import re
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise
from multiprocessing import Pool
from pathlib import Path
from typing import Any

try:
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is optional

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    _loads = json.loads

GENERATOR_VERSION = 1
REPO = Path(__file__).resolve().parents[2]
SHARD_EVENTS = 250_000
SESSION_GAP = 3600  # seconds: a longer pause starts a new session
DEFAULT_START = "2024-08-01T00:00:00Z"

_MARK = re.compile(rb"@@(\d+)@@")
_KEY = re.compile(rb"(?<![A-Za-z0-9])(?:AKIA|ASIA|AROA|AIDA|AGPA|ANPA|ANVA|AIPA|APKA|ASCA)[A-Z0-9]{12,}(?![A-Za-z0-9])")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z?$")
_ZTIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_ACCOUNT = re.compile(r"^\d{12}$")
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_KEYCHARS = _UPPER + _DIGITS
_RAND16 = _LOWER + _UPPER + _DIGITS


def default_data_dir() -> Path:
    """``$CAIRN_BENCH_DATA`` or the shared data folder beside the repository."""
    env = os.environ.get("CAIRN_BENCH_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def default_out(events: int, seed: int, per_file: int) -> Path:
    """Where a corpus goes by default (git-ignored)."""
    return REPO / "bench" / "corpus" / f"cloudtrail-{events}-seed{seed}-k{per_file}"


def parse_time(value: Any) -> int | None:
    """Epoch seconds of an event time in any of the shapes the samples use, else None."""
    if not isinstance(value, str):
        return None
    m = _TIME.match(value.strip())
    if not m:
        return None
    return calendar.timegm((*(int(g) for g in m.groups()), 0, 0, 0))


def fmt_time(epoch: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# -- loading the real records --------------------------------------------------------


def _identity(rec: dict[str, Any]) -> str:
    ui = rec.get("userIdentity") or {}
    return str(ui.get("arn") or ui.get("principalId") or ui.get("invokedBy") or ui.get("type") or "")


def _usable(rec: dict[str, Any]) -> bool:
    """True when a record has every field a trail record always carries."""
    for f in ("eventID", "eventSource", "eventName", "eventType", "awsRegion"):
        if not isinstance(rec.get(f), str) or not rec[f]:
            return False
    version = rec.get("eventVersion")
    return (
        isinstance(version, str)
        and version.startswith("1.")
        and isinstance(rec.get("userIdentity"), dict)
        and isinstance(rec.get("recipientAccountId"), str)
        and bool(_ACCOUNT.match(rec["recipientAccountId"]))
        and parse_time(rec.get("eventTime")) is not None
    )


def load_records(data_dir: Path) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, int]]:
    """The real records as ``(group, record)`` and per-source counts (kept / dropped)."""
    out: list[tuple[str, dict[str, Any]]] = []
    stats: dict[str, int] = defaultdict(int)

    def keep(source: str, group: str, rec: dict[str, Any]) -> None:
        if _usable(rec):
            out.append((group, rec))
            stats[f"{source}_kept"] += 1
        else:
            stats[f"{source}_dropped"] += 1

    stratus = sorted((data_dir / "stratus-red-team-detonation-logs").glob("*.json"))
    for f in stratus:
        for rec in _loads(f.read_bytes()):
            keep("stratus", f"stratus/{f.stem}", rec)
    for f in sorted((data_dir / "otrf-security-datasets-aws").glob("ec2_proxy_s3_exfiltration_*.json")):
        for line in f.read_bytes().splitlines():
            if not line.strip():
                continue
            rec = _loads(line)
            stamp = rec.pop("@timestamp", None)
            rec.pop("@version", None)
            if "eventTime" not in rec and parse_time(stamp) is not None:
                rec["eventTime"] = stamp
            keep("otrf", f"otrf/{f.stem}", rec)
    panther = data_dir / "panther-analysis-tests" / "cloudtrail_tests.jsonl"
    if panther.exists():
        seen: set[bytes] = set()
        for line in panther.read_bytes().splitlines():
            if not line.strip():
                continue
            case = _loads(line)
            rec = case.get("log")
            if not isinstance(rec, dict):
                continue
            canon = json.dumps(rec, sort_keys=True).encode()
            if canon in seen:
                continue
            seen.add(canon)
            rec = {k: v for k, v in rec.items() if not k.startswith("p_")}
            keep("panther", f"panther/{case.get('source_file', '')}", rec)
    if not out:
        raise SystemExit(f"no CloudTrail records found under {data_dir}")
    return out, dict(stats)


# -- sessions as templates -----------------------------------------------------------


@dataclass
class Session:
    """One real session, pre-serialised: records are byte templates with numbered slots."""

    name: str
    slots: list[tuple[str, Any]]
    """(kind, payload): E new uuid, R/S reshaped id, K re-keyed key, T time offset (s)."""
    records: list[tuple[int, bytes, bytes, list[bytes | int]]]
    """(event time offset, account, region, template parts)."""


def build_sessions(records: list[tuple[str, dict[str, Any]]]) -> list[Session]:
    """Group records into sessions and turn each into a template."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for group, rec in records:
        groups[(group, _identity(rec))].append(rec)
    sessions: list[Session] = []
    for (group, ident), recs in sorted(groups.items()):
        recs = sorted(recs, key=lambda r: parse_time(r["eventTime"]))  # type: ignore[arg-type,return-value]
        run: list[dict[str, Any]] = []
        last = None
        for rec in recs:
            t = parse_time(rec["eventTime"])
            assert t is not None
            if run and last is not None and t - last > SESSION_GAP:
                sessions.append(_template(f"{group}|{ident}|{len(sessions)}", run))
                run = []
            run.append(rec)
            last = t
        if run:
            sessions.append(_template(f"{group}|{ident}|{len(sessions)}", run))
    return sessions


def _template(name: str, recs: list[dict[str, Any]]) -> Session:
    slots: list[tuple[str, Any]] = []
    index: dict[tuple[str, Any], int] = {}

    def mark(kind: str, payload: Any, unique: bool = False) -> str:
        key = (kind, payload)
        if unique or key not in index:
            index[key] = len(slots)
            slots.append(key)
        return f"@@{index[key]}@@"

    t0 = parse_time(recs[0]["eventTime"])
    assert t0 is not None
    out: list[tuple[int, bytes, bytes, list[bytes | int]]] = []
    for original in recs:
        rec = _loads(_dumps(original))  # deep copy
        t = parse_time(rec["eventTime"])
        assert t is not None
        rec["eventTime"] = mark("T", t - t0)
        rec["eventID"] = mark("E", None, unique=True)
        for f, kind in (("requestID", "R"), ("sharedEventID", "S")):
            if isinstance(rec.get(f), str) and rec[f]:
                rec[f] = mark(kind, rec[f])
        attrs = ((rec["userIdentity"].get("sessionContext") or {}).get("attributes")) or {}
        created = attrs.get("creationDate")
        if isinstance(created, str) and _ZTIME.match(created):
            attrs["creationDate"] = mark("T", parse_time(created) - t0)  # type: ignore[operator]
        raw = _dumps(rec)
        raw = _KEY.sub(lambda m: mark("K", m.group(0).decode()).encode(), raw)
        parts: list[bytes | int] = []
        pos = 0
        for m in _MARK.finditer(raw):
            parts.append(raw[pos : m.start()])
            parts.append(int(m.group(1)))
            pos = m.end()
        parts.append(raw[pos:])
        out.append((t - t0, rec["recipientAccountId"].encode(), rec["awsRegion"].encode(), parts))
    return Session(name, slots, out)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _reshape(rng: random.Random, value: str) -> str:
    """A new id of the same shape: UUIDs stay UUIDs, other strings keep character classes."""
    if _UUID.match(value):
        u = _uuid(rng)
        return u.upper() if value.isupper() else u
    out = []
    for ch in value:
        if "0" <= ch <= "9":
            out.append(_DIGITS[rng.randrange(10)])
        elif "A" <= ch <= "Z":
            out.append(_UPPER[rng.randrange(26)])
        elif "a" <= ch <= "z":
            out.append(_LOWER[rng.randrange(26)])
        else:
            out.append(ch)
    return "".join(out)


def _rekey(rng: random.Random, key: str) -> str:
    return key[:4] + "".join(_KEYCHARS[rng.randrange(36)] for _ in range(len(key) - 4))


def replay(session: Session, rng: random.Random, base: int, limit: int) -> list[tuple[int, bytes, bytes, bytes]]:
    """Render up to ``limit`` records of ``session`` starting at epoch ``base``."""
    vals: list[bytes] = []
    for kind, payload in session.slots:
        if kind == "E":
            v = _uuid(rng)
        elif kind == "T":
            v = fmt_time(base + payload)
        elif kind == "K":
            v = _rekey(rng, payload)
        else:
            v = _reshape(rng, payload)
        vals.append(v.encode())
    out = []
    for rel, acct, region, parts in session.records[:limit]:
        body = b"".join([vals[p] if isinstance(p, int) else p for p in parts])
        out.append((base + rel, acct, region, body))
    return out


# -- shards and files ----------------------------------------------------------------

_SESSIONS: list[Session] = []


def _init(data_dir: str) -> None:
    global _SESSIONS
    records, _ = load_records(Path(data_dir))
    _SESSIONS = build_sessions(records)


@dataclass(frozen=True)
class ShardJob:
    shard: int
    events: int
    seed: int
    start: int
    rate: float
    per_file: int
    out: str
    level: int


def run_shard(job: ShardJob) -> dict[str, int]:
    """Generate one shard's files; returns its counts."""
    rng = random.Random(f"cairn-bench/{job.seed}/{job.shard}")
    window_start = job.start + int(job.shard * SHARD_EVENTS / job.rate)
    window = max(1, int(job.events / job.rate))
    groups: dict[tuple[bytes, bytes], list[tuple[int, bytes]]] = defaultdict(list)
    n = 0
    replays = 0
    while n < job.events:
        s = _SESSIONS[rng.randrange(len(_SESSIONS))]
        base = window_start + rng.randrange(window)
        for t, acct, region, body in replay(s, rng, base, job.events - n):
            groups[(acct, region)].append((t, body))
            n += 1
        replays += 1
    stats = {"events": n, "files": 0, "bytes_gz": 0, "bytes_raw": 0, "replays": replays}
    out = Path(job.out)
    for (acct, region) in sorted(groups):
        recs = groups[(acct, region)]
        recs.sort(key=lambda r: r[0])
        # About per_file records a file (+-25%), no tiny remainders.
        m = max(1, round(len(recs) / job.per_file))
        step = len(recs) / m
        edges = [0] + [round(i * step + rng.uniform(-0.25, 0.25) * step) for i in range(1, m)] + [len(recs)]
        for lo, hi in pairwise(edges):
            chunk = recs[lo:hi]
            # Delivered a few minutes after the last event, on a 5-minute boundary.
            delivered = (chunk[-1][0] // 300 + 1) * 300
            stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
            a, r = acct.decode(), region.decode()
            folder = out / "AWSLogs" / a / "CloudTrail" / r / time.strftime("%Y/%m/%d", time.gmtime(delivered))
            folder.mkdir(parents=True, exist_ok=True)
            rand = "".join(_RAND16[rng.randrange(len(_RAND16))] for _ in range(16))
            data = b'{"Records":[' + b",".join(body for _, body in chunk) + b"]}"
            gz = gzip.compress(data, compresslevel=job.level, mtime=0)
            (folder / f"{a}_CloudTrail_{r}_{stamp}_{rand}.json.gz").write_bytes(gz)
            stats["files"] += 1
            stats["bytes_gz"] += len(gz)
            stats["bytes_raw"] += len(data)
    return stats


def generate(
    events: int,
    out: Path,
    *,
    seed: int = 1,
    per_file: int = 1000,
    data_dir: Path | None = None,
    workers: int | None = None,
    start: str = DEFAULT_START,
    rate: float = 10.0,
    level: int = 6,
    force: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Write the corpus; returns the manifest."""
    data_dir = data_dir or default_data_dir()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SystemExit(f"{out} is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    records, source_stats = load_records(data_dir)
    sessions = build_sessions(records)
    start_epoch = parse_time(start)
    if start_epoch is None:
        raise SystemExit(f"--start {start!r} is not YYYY-MM-DDTHH:MM:SSZ")
    jobs = []
    for shard, first in enumerate(range(0, events, SHARD_EVENTS)):
        jobs.append(
            ShardJob(shard, min(SHARD_EVENTS, events - first), seed, start_epoch, rate, per_file, str(out), level)
        )
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    started = time.monotonic()
    totals = {"events": 0, "files": 0, "bytes_gz": 0, "bytes_raw": 0, "replays": 0}
    with Pool(workers, initializer=_init, initargs=(str(data_dir),)) as pool:
        for done, stats in enumerate(pool.imap(run_shard, jobs), start=1):
            for k, v in stats.items():
                totals[k] += v
            if not quiet:
                el = time.monotonic() - started
                print(
                    f"\rgenerate: shard {done}/{len(jobs)}  {totals['events']:,} events  "
                    f"{totals['files']:,} files  {totals['bytes_gz'] / 1e6:,.0f} MB gz  {el:,.0f}s",
                    end="", file=sys.stderr, flush=True,
                )
    if not quiet:
        print(file=sys.stderr)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "events": totals["events"],
        "files": totals["files"],
        "bytes_gz": totals["bytes_gz"],
        "bytes_raw": totals["bytes_raw"],
        "replays": totals["replays"],
        "seed": seed,
        "per_file": per_file,
        "start": start,
        "rate": rate,
        "gzip_level": level,
        "sessions": len(sessions),
        "real_records": len(records),
        "real_records_by_source": source_stats,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / ".manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of a finished corpus, or None."""
    try:
        return json.loads((out / ".manifest.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="number of events (exact)")
    p.add_argument("--out", type=Path, help="output folder (default bench/corpus/cloudtrail-N-seedS-kK)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--per-file", type=int, default=1000, help="mean records per file (sizes K/2..3K/2)")
    p.add_argument("--data", type=Path, help="shared data folder (default $CAIRN_BENCH_DATA or ../shared/data)")
    p.add_argument("--workers", type=int, help="processes (default: one per core)")
    p.add_argument("--start", default=DEFAULT_START, help="simulated start time")
    p.add_argument("--rate", type=float, default=10.0, help="simulated events per second (sets the time span)")
    p.add_argument("--level", type=int, default=6, help="gzip level")
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    out = a.out or default_out(a.events, a.seed, a.per_file)
    m = generate(
        a.events, out, seed=a.seed, per_file=a.per_file, data_dir=a.data, workers=a.workers,
        start=a.start, rate=a.rate, level=a.level, force=a.force, quiet=a.quiet,
    )
    print(json.dumps({"out": str(out), **m}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
