"""Loading inventory files into the context tables: check everything, then one catalog transaction.

A load of one kind from one file *replaces* what that file gave before for that
kind, so loading a file again is idempotent and an edited file replaces its old
rows. Steps (the caller opens the workspace; the writer lock is taken here):

1. read and check every file (:mod:`cairn.context.readers`, :mod:`cairn.context.kinds`);
   any problem fails the whole command (:class:`InventoryError` lists them all) unless
   ``skip_invalid``, which leaves the bad records (and unreadable files) out and reports them;
2. plan one load per (file, kind): the kinds found in the file, plus, when the kind is
   detected (``auto``), the kinds the file gave before (a section removed from a file
   empties that kind for the file). A load whose fingerprint (file content, kind,
   records left out) equals the current load's is ``unchanged`` and writes nothing;
3. write each new load's rows as one Parquet file into staging;
4. one catalog transaction: move the files into ``lake/context/<table>/``, swap the
   ``_cairn_files`` entries of the replaced loads for the new ones, record the loads in
   ``_ctx_loads`` and the run in ``_cairn_runs``, refresh the views. A run killed before
   the commit leaves nothing visible; files of replaced loads are deleted after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from cairn.context.kinds import KINDS, Checked, check_records
from cairn.context.problems import InventoryError, Problem
from cairn.context.readers import read_inventory
from cairn.context.tables import CTX_LOADS, LOADS_DDL, to_arrow
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import ConfigError, InputError
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace

FORMAT_VERSION = 1
"""Bump when the rows a file yields change for the same bytes, so unchanged files are reloaded."""
KIND_CHOICES = ("auto", *KINDS)


@dataclass
class LoadReport:
    """What happened to one kind of one file."""

    file: str
    """As given."""
    source_file: str
    """Absolute path: the identity of the source."""
    kind: str
    status: str
    """loaded; unchanged (same content as the current load); removed (the file no longer has this kind,
    or it was unloaded); failed (an unreadable file left out under --skip-invalid); empty (no records)."""
    rows: int = 0
    invalid: int = 0
    replaced_rows: int = 0
    content_hash: str = ""
    load_id: str | None = None
    problems: list[str] = field(default_factory=list)
    """Records (or the file) left out, with the reason."""
    notes: list[str] = field(default_factory=list)
    """Remarks that did not stop a record (a CIDR with host bits set)."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Plan:
    report: LoadReport
    rows: list[Checked]
    fingerprint: str
    old_load: str | None = None
    staged: Path | None = None


def load_files(ws: Workspace, engine: DuckDBEngine, files: list[str | Path], *, kind: str = "auto",
               skip_invalid: bool = False) -> list[LoadReport]:
    """Load inventory ``files`` (see the module docstring); returns one report per file and kind."""
    if kind not in KIND_CHOICES:
        raise ConfigError(f"unknown kind {kind!r}; choose one of {', '.join(KIND_CHOICES)}")
    problems: list[Problem] = []
    parsed = []
    seen: set[str] = set()
    for f in files:
        source_file = str(Path(f).expanduser().resolve())
        if source_file in seen:
            continue
        seen.add(source_file)
        read = read_inventory(Path(f).expanduser(), str(f), None if kind == "auto" else kind)
        # Problems of one record (a CSV row with extra cells, a YAML item that is not a mapping) leave
        # that record out; only problems of the file as a whole (record is None) fail the file.
        file_problems = [p for p in read.problems if p.record is None or p.kind not in KINDS]
        checked = {}
        for k, recs in read.records.items():
            good, bad, notes = check_records(KINDS[k], recs)
            bad = sorted([p for p in read.problems if p.kind == k and p.record is not None] + bad,
                         key=lambda p: (p.line or 0, p.record or 0))
            checked[k] = (good, bad, notes)
        problems += sorted(file_problems + [p for _, bad, _ in checked.values() for p in bad],
                           key=lambda p: p.line or 0)
        parsed.append((str(f), source_file, read, file_problems, checked))
    if problems and not skip_invalid:
        raise InventoryError(problems)
    loaded_at = dt.datetime.now(dt.UTC)
    run_id = f"ctx-{loaded_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    with ws.writer_lock():
        engine.execute(LOADS_DDL)
        plans: list[_Plan] = []
        skipped: list[LoadReport] = []  # unreadable (under skip_invalid) or empty files
        for given, source_file, read, file_problems, checked in parsed:
            if file_problems:  # the file as a whole could not be read: keep what it gave before
                every = sorted(file_problems + [p for _, bad, _ in checked.values() for p in bad],
                               key=lambda p: p.line or 0)
                skipped.append(LoadReport(given, source_file, kind, "failed", content_hash=read.content_hash,
                                         problems=[str(p) for p in every]))
                continue
            kinds = set(checked) | ({kind} if kind != "auto" else _current_kinds(engine, source_file))
            if not kinds:
                skipped.append(LoadReport(given, source_file, kind, "empty", content_hash=read.content_hash))
            for k in (k for k in KINDS if k in kinds):
                good, bad, notes = checked.get(k, ([], [], []))
                status = "loaded" if k in checked else "removed"
                invalid = _records_left_out(bad)
                report = LoadReport(given, source_file, k, status, rows=len(good), invalid=invalid,
                                    content_hash=read.content_hash, problems=[str(p) for p in bad],
                                    notes=[str(n) for n in notes])
                fp = hashlib.sha256(f"{FORMAT_VERSION}|{k}|{read.content_hash}|{invalid}".encode()).hexdigest()
                plans.append(_Plan(report, good, fp))
        _commit(ws, engine, plans, run_id, loaded_at)
    order = {source_file: i for i, (_, source_file, _, _, _) in enumerate(parsed)}
    kinds_order = list(KINDS)
    return sorted([p.report for p in plans] + skipped,
                  key=lambda r: (order[r.source_file], kinds_order.index(r.kind) if r.kind in KINDS else -1))


def _records_left_out(bad: list[Problem]) -> int:
    """How many records ``bad`` leaves out (a record with two bad fields counts once)."""
    return len({p.record for p in bad if p.record is not None}) + sum(1 for p in bad if p.record is None)


def unload_files(ws: Workspace, engine: DuckDBEngine, files: list[str | Path], *,
                 missing_ok: bool = True) -> list[LoadReport]:
    """Remove from the context tables everything the given files loaded (their loads become replaced).

    A file with nothing loaded gives no report, or, unless ``missing_ok``, raises :class:`InputError`
    (exit code 3) before anything is removed."""
    loaded_at = dt.datetime.now(dt.UTC)
    run_id = f"ctx-{loaded_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    with ws.writer_lock():
        engine.execute(LOADS_DDL)
        plans = []
        missing: list[str] = []
        for f in files:
            source_file = str(Path(f).expanduser().resolve())
            kinds = _current_kinds(engine, source_file)
            if not kinds:
                missing.append(str(f))
            for k in (k for k in KINDS if k in kinds):
                plans.append(_Plan(LoadReport(str(f), source_file, k, "removed"), [], ""))
        if missing and not missing_ok:
            raise InputError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not loaded; nothing "
                             "was unloaded (loaded files: cairn context show loads)")
        _commit(ws, engine, plans, run_id, loaded_at)
    return [p.report for p in plans]


def _current_kinds(engine: DuckDBEngine, source_file: str, source: str = "file") -> set[str]:
    return {r[0] for r in engine.rows(
        "SELECT kind FROM _ctx_loads WHERE source = ? AND source_file = ? AND is_current", [source, source_file])}


@dataclass
class CollectedLoad:
    """Rows of one kind a collector produced for one scope (``aws://organizations``, ...)."""

    scope: str
    """Identity of the source, in place of a file path (``source_file`` of the rows and of ctx_loads)."""
    kind: str
    rows: list[Checked]
    content_hash: str
    problems: list[str] = field(default_factory=list)
    remove: bool = False
    """Remove what the scope loaded for this kind (the scope is gone, e.g. an account left the org)."""


def load_collected(ws: Workspace, engine: DuckDBEngine, source: str, loads: list[CollectedLoad]) -> list[LoadReport]:
    """Load collector rows (``source`` such as ``aws``): each (scope, kind) replaces what it loaded before,
    unchanged content only marks the current load as checked (``checked_at``), in one catalog transaction."""
    loaded_at = dt.datetime.now(dt.UTC)
    run_id = f"ctx-{source}-{loaded_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    with ws.writer_lock():
        engine.execute(LOADS_DDL)
        plans = []
        for c in loads:
            status = "removed" if c.remove else "loaded"
            report = LoadReport(c.scope, c.scope, c.kind, status, rows=0 if c.remove else len(c.rows),
                                invalid=len(c.problems), content_hash=c.content_hash, problems=list(c.problems))
            fp = hashlib.sha256(f"{FORMAT_VERSION}|{c.kind}|{c.content_hash}|{len(c.problems)}".encode()).hexdigest()
            plans.append(_Plan(report, [] if c.remove else c.rows, fp))
        _commit(ws, engine, plans, run_id, loaded_at, source)
    return [p.report for p in plans]


def _commit(ws: Workspace, engine: DuckDBEngine, plans: list[_Plan], run_id: str, loaded_at: dt.datetime,
            source: str = "file") -> None:
    stage = ws.staging / run_id
    todo: list[_Plan] = []
    for p in plans:
        r = p.report
        cur = engine.rows("SELECT load_id, fingerprint, rows FROM _ctx_loads WHERE source = ? AND "
                          "source_file = ? AND kind = ? AND is_current", [source, r.source_file, r.kind])
        p.old_load = cur[0][0] if cur else None
        if r.status == "removed":
            if cur:
                r.replaced_rows = int(cur[0][2])
                todo.append(p)
            continue
        if cur and cur[0][1] == p.fingerprint:
            r.status, r.load_id = "unchanged", p.old_load
            continue
        r.replaced_rows = int(cur[0][2]) if cur else 0
        r.load_id = f"{run_id}-{len(todo):03d}"
        if p.rows:
            table = to_arrow(r.kind, p.rows, load_id=r.load_id, loaded_at=loaded_at, source_file=r.source_file,
                             source=source)
            p.staged = stage / f"{r.load_id}.parquet"
            p.staged.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, p.staged, compression="zstd")
        todo.append(p)
    unchanged = [p.old_load for p in plans if p.report.status == "unchanged"]
    old_paths: list[str] = []
    try:
        with engine.transaction():
            for load_id in unchanged:
                engine.execute("UPDATE _ctx_loads SET checked_at = ? WHERE load_id = ?", [loaded_at, load_id])
            touched = {KINDS[p.report.kind].table for p in todo}
            for p in todo:
                _swap(ws, engine, p, loaded_at, old_paths, source)
            if todo:
                summary = [p.report.to_dict() for p in plans]
                engine.execute("INSERT INTO _cairn_runs VALUES (?, ?, ?, now(), 'committed', ?)",
                               [run_id, "context-load" if source == "file" else f"context-sync-{source}", loaded_at,
                                json.dumps(summary, default=str)])
            Catalog(engine, ws.lake).refresh_views([*sorted(touched), CTX_LOADS.name])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for rel in old_paths:
        (ws.lake / rel).unlink(missing_ok=True)


def _swap(ws: Workspace, engine: DuckDBEngine, p: _Plan, loaded_at: dt.datetime, old_paths: list[str],
          source: str = "file") -> None:
    """Replace the old load of (file, kind) by the new one (inside the caller's transaction)."""
    r = p.report
    table = KINDS[r.kind].table
    if p.old_load:
        old_paths += [row[0] for row in engine.rows(
            "SELECT path FROM _cairn_files WHERE table_name = ? AND run_id = ?", [table, p.old_load])]
        engine.execute("DELETE FROM _cairn_files WHERE table_name = ? AND run_id = ?", [table, p.old_load])
        engine.execute("UPDATE _ctx_loads SET is_current = false, replaced_at = ? WHERE load_id = ?",
                       [loaded_at, p.old_load])
    if r.status == "removed":
        return
    if p.staged is not None:
        rel = f"context/{table}/{r.load_id}.parquet"
        dest = ws.lake / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p.staged, dest)
        engine.execute(
            "INSERT INTO _cairn_files (table_name, path, partition_value, rows, min_time, max_time, run_id) "
            "VALUES (?, ?, NULL, ?, ?, ?, ?)", [table, rel, r.rows, loaded_at, loaded_at, r.load_id])
    engine.execute(
        "INSERT INTO _ctx_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, true, NULL, ?)",
        [r.load_id, r.kind, table, source, r.source_file, r.rows, r.invalid, r.content_hash, p.fingerprint,
         loaded_at, json.dumps(r.problems)])
