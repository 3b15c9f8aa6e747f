"""Ingest: inputs -> items -> records -> typed rows -> lake, with full accounting.

One run is one transaction on the catalog. Parquet files are staged under
``staging/<run>/`` and moved into the lake just before the commit that lists
them; a run that dies leaves only unlisted files, which the next writer sweeps.
Every record read ends up loaded, a duplicate, or in the quarantine, and the
summary checks ``read == loaded + duplicates + quarantined``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cairn.config import Config
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import EngineError, InputError, StrictModeError
from cairn.lake.addresses import ip_map
from cairn.lake.catalog import Catalog
from cairn.lake.schema import OBSERVABLES, QUARANTINE, TableSpec
from cairn.lake.timing import StepTimer
from cairn.sources import get_source
from cairn.sources import s3 as s3io
from cairn.sources.base import Sniff, Source
from cairn.sources.detect import detect, is_json_lines, sniff
from cairn.sources.files import InputFile, read_all, walk_local
from cairn.sources.framing import (
    ITEMS_SCHEMA,
    Rejected,
    document_items_sql,
    is_multi_document,
    items_table,
    line_items,
    line_items_table,
    line_table,
    salvage_document,
)
from cairn.workspace import Workspace

MAX_OBJECT_SIZE = 1 << 30
MAX_DATE_WRITES = 8
"""A batch spanning more partition dates is written with one partitioned COPY."""
GIVEN_TWICE = "given more than once"
"""Skip reason of an input met again in one run: it is read once."""
QUARANTINE_SCHEMA = pa.schema(
    [
        ("quarantine_uid", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("origin", pa.string()),
        ("locator", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.binary()),
        ("ingest_run", pa.string()),
    ]
)


@dataclass
class TableCounts:
    """Per-table accounting."""

    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0


@dataclass
class RunSummary:
    """What one ingest run did."""

    run_id: str
    files: int = 0
    files_skipped: int = 0
    bytes_read: int = 0
    records_read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantined_new: int = 0
    tables: dict[str, TableCounts] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    committed: bool = False

    @property
    def balanced(self) -> bool:
        """read == loaded + duplicates + quarantined."""
        return self.records_read == self.loaded + self.duplicates + self.quarantined

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        d = asdict(self)
        d["balanced"] = self.balanced
        return d


ProgressFn = Callable[[str, int], None]


@dataclass
class _Planned:
    file: InputFile
    source: Source
    lines: bool
    size: int
    compressed: bool = False
    multi: bool = True


class _Batch:
    """The staging tables and rejects of one batch (implements FrameContext)."""

    def __init__(self, engine: DuckDBEngine, config: Config, source: Source) -> None:
        self.engine = engine
        self.config = config
        self.source = source
        self.rejected: list[Rejected] = []
        # Files whose items the engine read from JSON documents (re-serialised text).
        self.engine_documents: dict[str, Path] = {}
        self.framing_sql: str | None = None
        self.arrow_items: list[pa.Table] = []
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE _items "
            "(origin VARCHAR, locator VARCHAR, item VARCHAR, header VARCHAR)"
        )
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE _records_all AS SELECT * FROM ({source.records_sql}) LIMIT 0"
        )

    def add_items(self, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
        if not rows:
            return
        table = items_table(list(rows))
        self.engine.register("_items_in", table)
        try:
            self.engine.execute("INSERT INTO _items SELECT * FROM _items_in")
        finally:
            self.engine.unregister("_items_in")

    def add_items_arrow(self, table: pa.Table) -> None:
        """Queue items held in Arrow (the columns of ``_items``) for :meth:`flush_items_arrow`."""
        if table.num_rows:
            self.arrow_items.append(table.select(ITEMS_SCHEMA.names).cast(ITEMS_SCHEMA))

    def flush_items_arrow(self) -> None:
        """Run the records SQL over every queued item in one statement, straight from Arrow (never
        copied into ``_items``). Unordered: an order-keeping INSERT from an Arrow scan runs on one
        thread, and the engine parallelises a scan only over many rows (1M Route 53 lines: copy into
        ``_items`` 1.4 s + records 0.55 s -> 0.4 s). So these records land in no particular order."""
        if not self.arrow_items:
            return
        self.engine.register("_items_in", pa.concat_tables(self.arrow_items))
        try:
            with self.engine.unordered():
                self.engine.execute(f"INSERT INTO _records_all WITH _items AS (SELECT * FROM _items_in) "
                                    f"SELECT * FROM ({self.source.records_sql})")
        finally:
            self.engine.unregister("_items_in")
            self.arrow_items = []

    def add_items_sql(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        self.engine.execute(f"INSERT INTO _items SELECT * FROM ({sql})", params)

    def reject(self, rejected: Rejected) -> None:
        self.rejected.append(rejected)


class Ingestor:
    """Loads inputs into a workspace's lake."""

    KNOWN_KEYS = "_cairn_keys"
    """Table of committed keys a new record is deduplicated against."""

    def __init__(
        self,
        workspace: Workspace,
        engine: DuckDBEngine,
        *,
        source: str = "auto",
        strict: bool | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        self.ws = workspace
        self.engine = engine
        self.catalog = Catalog(engine, workspace.lake)
        self.forced = None if source in ("auto", "", None) else get_source(source)
        cfg = workspace.config.ingest
        self.strict = cfg.strict if strict is None else strict
        self.progress = progress or (lambda what, n: None)
        self._s3: Any = None
        self.timer = StepTimer()
        """Step timings, reported when ``CAIRN_PROFILE`` is set (:mod:`cairn.lake.timing`)."""

    # -- planning -----------------------------------------------------------------

    def _inputs(self, targets: Iterable[str], run_dir: Path) -> Iterable[InputFile | Rejected | str]:
        """Each distinct input once, or ``skip:<reason>`` for what is not read.

        A file met again (named twice, or in two folders given) is read once and counted as
        skipped, "given more than once"; the ``_paths`` join of engine-read documents needs
        each path once. Local files are told apart by their resolved real path.
        """
        for target in targets:
            if target.startswith("s3://"):
                if self._s3 is None:
                    self._s3 = s3io.client(self.ws.config.aws)
                for obj in s3io.list_objects(self._s3, target):
                    skip = self.forced.skip_file(obj.origin, None) if self.forced else _digest_key(obj.origin)
                    if not skip and not self._first_time(obj.origin):
                        skip = GIVEN_TWICE
                    if skip:
                        yield f"skip:{skip}"
                        continue
                    path = s3io.download(self._s3, obj, run_dir / "s3")
                    yield InputFile(obj.origin, path, obj.size)
            else:
                for f in walk_local(target):
                    if f.skip:
                        yield f"skip:{f.skip}"
                        continue
                    origin = str(Path(f.origin).resolve())
                    yield InputFile(origin, f.path, f.size) if self._first_time(origin) else f"skip:{GIVEN_TWICE}"

    def _first_time(self, origin: str) -> bool:
        """True the first time ``origin`` is met in this run."""
        if origin in self._seen:
            return False
        self._seen.add(origin)
        return True

    def _plan(self, f: InputFile, summary: RunSummary) -> _Planned | Rejected | None:
        if f.size == 0:
            summary.files_skipped += 1
            summary.skipped["empty file"] = summary.skipped.get("empty file", 0) + 1
            return None
        s = sniff(f)
        if not s.head.strip():
            summary.files_skipped += 1
            summary.skipped["empty file"] = summary.skipped.get("empty file", 0) + 1
            return None
        source = self.forced or detect(s)
        skip = (source.skip_file(f.origin, s) if source else None) or _digest_sniff(f.origin, s)
        if skip:
            summary.files_skipped += 1
            summary.skipped[skip] = summary.skipped.get(skip, 0) + 1
            return None
        if source is None:
            raw = f.path.read_bytes()
            return Rejected(
                f.origin,
                "file",
                "cannot tell which source this is (not CloudTrail, VPC Flow, Route 53, GuardDuty "
                "or Security Hub); pass --source",
                raw,
            )
        lines = source.framing == "json" and is_json_lines(s)
        multi = source.framing == "json" and not lines and is_multi_document(s.head)
        return _Planned(f, source, lines, f.size, f.compressed, multi)

    # -- the run ------------------------------------------------------------------

    def run(self, targets: Sequence[str]) -> RunSummary:
        """Ingest every input under ``targets`` in one run."""
        started = time.monotonic()
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        summary = RunSummary(run_id=run_id)
        with self.ws.writer_lock():
            self.catalog.sweep(self.ws.staging)
            run_dir = self.ws.staging / run_id
            run_dir.mkdir(parents=True)
            self.engine.execute(
                "CREATE OR REPLACE TEMP TABLE _run_keys (table_name VARCHAR, key_hash UHUGEINT)"
            )
            try:
                self._run(targets, run_dir, summary)
                self._finish(run_dir, summary, started)
            finally:
                _rmtree(run_dir)
                self.engine.execute("DROP TABLE IF EXISTS _run_keys")
        self.timer.report(run=run_id, records=summary.records_read)
        return summary

    def _run(self, targets: Sequence[str], run_dir: Path, summary: RunSummary) -> None:
        cfg = self.ws.config.ingest
        pending: dict[tuple[str, int, bool, bool, bool, str], list[_Planned]] = {}
        pending_bytes: dict[tuple[str, int, bool, bool, bool, str], int] = {}
        self._quarantine: list[Rejected | tuple[str, Rejected]] = []
        self._batch_no = 0
        self._seen: set[str] = set()
        for item in self._inputs(targets, run_dir):
            if isinstance(item, str):
                summary.files += 1
                summary.files_skipped += 1
                reason = item.removeprefix("skip:")
                summary.skipped[reason] = summary.skipped.get(reason, 0) + 1
                continue
            summary.files += 1
            summary.bytes_read += item.size
            with self.timer.step("plan"):
                planned = self._plan(item, summary)
            self.progress("file", item.size)
            if planned is None:
                continue
            if isinstance(planned, Rejected):
                self._add_quarantine(summary, "unknown", [planned])
                continue
            # Files of one delivery day (from an S3-style key) batch together: a batch
            # of one partition date is written without splitting (see _write). A source and
            # its EventBridge router share a name but not their records SQL: keyed by object.
            key = (planned.source.name, id(planned.source), planned.lines, planned.compressed, planned.multi,
                   _key_day(item.origin))
            pending.setdefault(key, []).append(planned)
            pending_bytes[key] = pending_bytes.get(key, 0) + _decompressed_size(planned)
            summary.sources[planned.source.name] = summary.sources.get(planned.source.name, 0) + 1
            if len(pending[key]) >= cfg.batch_files or pending_bytes[key] >= cfg.batch_bytes:
                self._batch(pending.pop(key), run_dir, summary)
                pending_bytes.pop(key)
        for batch in pending.values():
            self._batch(batch, run_dir, summary)

    def _batch(self, planned: list[_Planned], run_dir: Path, summary: RunSummary) -> None:
        source = planned[0].source
        self._batch_no += 1
        batch = _Batch(self.engine, self.ws.config, source)
        files = [p.file for p in planned]
        with self.timer.step("frame+records"):
            if source.framing == "custom":
                assert source.frame is not None
                source.frame(batch, files)
            elif planned[0].lines:
                for f in files:
                    self._frame_lines(batch, f)
            else:
                self._frame_documents(batch, files, planned[0].compressed, planned[0].multi)
            batch.flush_items_arrow()
        self._process(batch, source, run_dir, summary)

    @staticmethod
    def _frame_lines(batch: _Batch, f: InputFile) -> None:
        data, damage = read_all(f.path)
        tail = b""
        if damage and not data.endswith(b"\n"):
            # The stream was cut inside the last line: it is complete only if it parses.
            cut = data.rfind(b"\n") + 1
            data, tail = data[:cut], data[cut:]
        table = line_table(data)
        if table is None:
            rows, rejected = line_items(f.origin, data)
        else:
            rows, rejected = [], []
            batch.add_items_arrow(line_items_table(f.origin, table))
        if damage:
            n = data.count(b"\n") + 1
            if tail.strip() and _complete_json(tail):
                rows.append((f.origin, f"line {n}", tail.decode("utf-8"), None))
            elif tail.strip():
                rejected.append(Rejected(f.origin, f"line {n}", f"{damage}; line {n} is cut off", tail))
            else:
                rejected.append(Rejected(f.origin, f"byte {len(data)}", damage, b""))
        batch.add_items(rows)
        batch.rejected.extend(rejected)

    def _frame_documents(self, batch: _Batch, files: list[InputFile], compressed: bool, multi: bool) -> None:
        """Read JSON documents with the engine straight into ``_records_all``.

        Framing and the source's records SQL run as one statement (the items are
        never materialised). A statement is atomic, so when one file fails no row
        of the attempt remains; the files are then tried one by one, and those the
        engine cannot read are salvaged in Python into ``_items``.
        """
        framing = document_items_sql(MAX_OBJECT_SIZE, "gzip" if compressed else "none", multi=multi)
        sql = (
            f"INSERT INTO _records_all WITH _items AS ({framing}) "
            f"SELECT * FROM ({batch.source.records_sql})"
        )
        batch.framing_sql = framing

        def load(group: list[InputFile]) -> None:
            self._with_paths(group, lambda: self.engine.execute(sql, {"files": [str(f.path) for f in group]}))
            batch.engine_documents.update({f.origin: f.path for f in group})

        try:
            load(files)
            return
        except EngineError:
            pass
        for f in files:
            try:
                load([f])
            except EngineError:
                data, damage = read_all(f.path)
                rows, rejected = salvage_document(f.origin, data, damage)
                batch.add_items(rows)
                batch.rejected.extend(rejected)

    @staticmethod
    def _original_bytes(
        batch: _Batch, rejected: list[Rejected], items: Sequence[str | None] | None = None
    ) -> list[Rejected]:
        """Give rejected records the engine read from JSON documents their original bytes.

        The engine hands records over re-serialised; the quarantine keeps what the file
        held, so the few files with rejects are walked again to find each record's text
        (by the record's locator, or by ``items[i]``, the locator of the item when the
        whole item was rejected, e.g. an envelope whose payload is broken).
        """
        wanted = {r.origin for r in rejected if r.origin in batch.engine_documents}
        if not wanted:
            return rejected
        keys = items or [None] * len(rejected)
        originals: dict[tuple[str, str], bytes] = {}
        for origin in wanted:
            data, damage = read_all(batch.engine_documents[origin])
            if damage:
                continue
            for _, locator, text, _ in salvage_document(origin, data)[0]:
                originals[(origin, locator)] = text.encode("utf-8")
        return [
            Rejected(r.origin, r.locator, r.reason, originals.get((r.origin, key or r.locator), r.raw))
            for r, key in zip(rejected, keys, strict=True)
        ]

    def _items_for_rejects(self, batch: _Batch) -> None:
        """Materialise the items of engine-read files that have rejected records.

        Quarantine entries name the item a rejected record came from (an envelope,
        say); only the few files with rejects are framed again for that.
        """
        if not batch.engine_documents or batch.framing_sql is None:
            return
        origins = {
            r[0] for r in self.engine.rows("SELECT DISTINCT origin FROM _records_all WHERE error IS NOT NULL")
        } & set(batch.engine_documents)
        if origins:
            files = [InputFile(o, batch.engine_documents[o], 0) for o in sorted(origins)]
            self._with_paths(files, lambda: batch.add_items_sql(
                batch.framing_sql or "", {"files": [str(f.path) for f in files]}))

    def _with_paths(self, files: list[InputFile], fn: Callable[[], None]) -> None:
        paths = pa.table(
            {"path": [str(f.path) for f in files], "origin": [f.origin for f in files]}
        )
        self.engine.register("_paths_in", paths)
        try:
            self.engine.execute("CREATE OR REPLACE TEMP TABLE _paths AS SELECT * FROM _paths_in")
            fn()
        finally:
            self.engine.unregister("_paths_in")

    def _process(self, batch: _Batch, source: Source, run_dir: Path, summary: RunSummary) -> None:
        e = self.engine
        # Items framed in Python (lines, salvage, custom framers); engine-read documents
        # are already in _records_all.
        with self.timer.step("records (python items)"):
            e.execute(f"INSERT INTO _records_all SELECT * FROM ({source.records_sql})")
        with self.timer.step("record rejects"):
            self._record_rejects(batch, source, summary)
        routes = dict(e.rows("SELECT route, count(*) FROM _records_all WHERE error IS NULL GROUP BY route"))
        specs = [spec for spec in source.tables if routes.get(spec.name)]
        for spec in specs:
            self._load_table(batch, source, spec, run_dir, summary, last=spec is specs[-1])
        e.execute("DROP TABLE IF EXISTS _records_all")
        e.execute("DROP TABLE IF EXISTS _items")

    def _record_rejects(self, batch: _Batch, source: Source, summary: RunSummary) -> None:
        """Quarantine the batch's framing rejects and the records the records SQL refused."""
        e = self.engine
        self._add_quarantine(summary, source.name, batch.rejected)
        self._items_for_rejects(batch)
        bad = e.rows(
            "SELECT r.origin, r.locator, r.error, r.raw, r.route, any_value(i.locator) FROM _records_all r "
            "LEFT JOIN _items i ON i.origin = r.origin AND i.item = r.raw "
            "WHERE r.error IS NOT NULL GROUP BY ALL ORDER BY r.origin, r.locator"
        )
        rejected = self._original_bytes(batch, [
            Rejected(o, loc, _explain(err, raw), raw.encode("utf-8", "surrogateescape"))
            for o, loc, err, raw, _, _ in bad
        ], [item for *_, item in bad])
        by_source: dict[str, list[Rejected]] = {}
        for row, r in zip(bad, rejected, strict=True):
            by_source.setdefault(source.source_of(row[4]), []).append(r)
        for name, rs in by_source.items():
            self._add_quarantine(summary, name, rs)

    def _load_table(
        self, batch: _Batch, source: Source, spec: TableSpec, run_dir: Path, summary: RunSummary,
        *, last: bool = True,
    ) -> None:
        """Type the records of one table, quarantine rejects, dedup, and write the new rows.

        The records are typed once, into ``_typed`` (with the key hash ``_k``); accounting,
        rejects, dedup, the table file and the observables all read that table. In the
        common case (every key new and unique) the rows to write are the valid rows of
        ``_typed``; otherwise, per key, the first occurrence by origin and locator wins
        unless an earlier run or batch has the key. ``last``: no other table of the batch
        needs ``_records_all`` any more (it is dropped once typed).
        """
        e = self.engine
        t = self.timer
        counts = summary.tables.setdefault(spec.name, TableCounts())
        assert spec.name.isidentifier()  # a literal below (views cannot hold parameters)
        typed_rows = (
            f"WITH _records AS (SELECT * EXCLUDE (route, error) FROM _records_all "
            f"WHERE route = '{spec.name}' AND error IS NULL) SELECT * FROM ({source.typed_sql[spec.name]})"
        )
        with t.step("typed"):
            e.execute(
                "CREATE OR REPLACE TEMP TABLE _typed AS SELECT *, "
                f"md5_number(? || {spec.key_column}) AS _k FROM ({typed_rows})",
                [spec.name + "\x1f"],
            )
        if last:  # the records are typed: free their memory before the write
            e.execute("DROP TABLE IF EXISTS _records_all")
            e.execute("DROP TABLE IF EXISTS _items")
        total, n_rejects, n_keys = e.rows(
            "SELECT count(*), count(_reject), count(DISTINCT _k) FILTER (WHERE _reject IS NULL) FROM _typed"
        )[0]
        rejects = (
            e.rows("SELECT origin, locator, _reject, raw FROM _typed WHERE _reject IS NOT NULL")
            if n_rejects
            else []
        )
        self._add_quarantine(
            summary,
            source.source_of(spec.name),
            self._original_bytes(batch, [Rejected(o, loc, why, raw.encode()) for o, loc, why, raw in rejects]),
            table=spec.name,
        )
        valid = total - len(rejects)
        with t.step("dedup"):
            seen = e.scalar(
                "SELECT count(*) FROM _typed t WHERE _reject IS NULL AND ("
                f"EXISTS (SELECT 1 FROM {self.KNOWN_KEYS} k WHERE k.table_name = ? AND k.key_hash = t._k) "
                "OR EXISTS (SELECT 1 FROM _run_keys k WHERE k.table_name = ? AND k.key_hash = t._k))",
                [spec.name, spec.name],
            ) if n_keys == valid else None
            if n_keys == valid and seen == 0:
                rows, keep = "_typed t", "WHERE t._reject IS NULL"
                new = valid
                e.execute("INSERT INTO _run_keys SELECT ?, _k FROM _typed WHERE _reject IS NULL", [spec.name])
            else:
                e.execute(
                    "CREATE OR REPLACE TEMP TABLE _keep AS SELECT _k, arg_min(rowid, (origin, locator)) AS rid "
                    "FROM _typed t WHERE _reject IS NULL GROUP BY _k HAVING NOT EXISTS ("
                    f"  SELECT 1 FROM {self.KNOWN_KEYS} k WHERE k.table_name = ? AND k.key_hash = t._k) "
                    "AND NOT EXISTS (SELECT 1 FROM _run_keys k WHERE k.table_name = ? AND k.key_hash = t._k)",
                    [spec.name, spec.name],
                )
                rows, keep = "_typed t JOIN _keep k ON t.rowid = k.rid", ""
                new = e.scalar("SELECT count(*) FROM _keep")
                if new:
                    e.execute("INSERT INTO _run_keys SELECT ?, _k FROM _keep", [spec.name])
        counts.read += total
        counts.loaded += new
        counts.duplicates += valid - new
        summary.records_read += total
        summary.loaded += new
        summary.duplicates += valid - new
        if new:
            with t.step("addresses"):
                maps = self._new_rows_view(source, spec, summary.run_id, rows, keep)
            try:
                dates = self._partition_dates(spec)
                with t.step("write table"):
                    self._write(spec, run_dir, dates)
                with t.step("write observables"):
                    self._write_observables(source, spec, run_dir, dates)
            finally:
                for name in maps:
                    e.unregister(name)
                e.execute("DROP VIEW IF EXISTS _new")
        for name in ("_typed", "_keep"):
            e.execute(f"DROP TABLE IF EXISTS {name}")

    def _partition_dates(self, spec: TableSpec) -> list[date] | None:
        """The partition dates of ``_new`` when they are few DATEs, else None."""
        if spec.partition_column != "event_date" or spec.extra_partitions:
            return None
        dates = [r[0] for r in self.engine.rows("SELECT DISTINCT event_date FROM _new ORDER BY 1")]
        if len(dates) > MAX_DATE_WRITES or any(type(d) is not date for d in dates):
            return None
        return dates

    def _new_rows_view(self, source: Source, spec: TableSpec, run_id: str, rows: str, where: str) -> list[str]:
        """Create the view ``_new``: the rows to write (``rows`` aliased ``t``, filtered by
        ``where``), with address columns filled in.

        Addresses are classified once per distinct value (few per batch) in Python
        (:func:`cairn.lake.addresses.ip_map`) and joined back.
        """
        e = self.engine
        selects: dict[str, str] = {"ingest_run": "?"}
        joins, maps = [], []
        for i, ipc in enumerate(source.ip_columns.get(spec.name, ())):
            values = [r[0] for r in e.rows(f"SELECT DISTINCT {ipc.text_column} FROM _typed WHERE _reject IS NULL")]
            e.register(f"_ipmap{i}", ip_map(values))
            maps.append(f"_ipmap{i}")
            joins.append(f"LEFT JOIN _ipmap{i} m{i} ON m{i}.value = t.{ipc.text_column}")
            selects[ipc.out] = f"m{i}.ip"
            selects[f"{ipc.out}_bin"] = f"m{i}.ip_bin"
            if ipc.kind:
                selects[f"{ipc.out}_kind"] = f"coalesce(m{i}.kind, 'empty')"
            if ipc.domain_out:
                selects[ipc.domain_out] = f"m{i}.domain"
        cols = ", ".join(
            f"CAST({selects.get(c.name, 't.' + c.name)} AS {c.type if c.type != 'JSON' else 'VARCHAR'}) AS {c.name}"
            for c in spec.columns
        )
        # A view cannot hold parameters: the run id is a literal (cairn made it: digits, T, Z, hex).
        assert all(ch.isalnum() or ch == "-" for ch in run_id)
        cols = cols.replace("CAST(? AS", f"CAST('{run_id}' AS")
        e.execute(f"CREATE OR REPLACE TEMP VIEW _new AS SELECT {cols} FROM {rows} {' '.join(joins)} {where}")
        return maps

    def _write(self, spec: TableSpec, run_dir: Path, dates: list[date] | None) -> None:
        """Write ``_new`` into the staged lake, one file per partition.

        With few partition dates (the usual batch) each gets a plain COPY filtered to
        its date: a partitioned COPY buffers every partition and writes at half the
        speed. Rows are not sorted (JSON documents keep file and record order, line
        files come in no particular order, see :meth:`_Batch.flush_items_arrow`): a
        batch's file spans most of its day whatever the order, so sorting would buy no
        file or row-group pruning and cost ~10% of the ingest (the payload sort) and
        ~15% more bytes (measured on 1M CloudTrail events).
        """
        target = run_dir / "lake" / spec.name
        if dates is not None:
            self._copy_by_date(", ".join(spec.file_columns()), "_new", spec.partition_column, dates,
                               lambda d: target / f"{spec.partition_column}={d.isoformat()}")
            return
        cols = ", ".join([*spec.file_columns(), spec.partition_column])
        target.mkdir(parents=True, exist_ok=True)
        self.engine.execute(
            f"COPY (SELECT {cols} FROM _new) TO '{_sql_path(target)}' "
            f"({self._copy_options}, PARTITION_BY ({spec.partition_column}), "
            f"FILENAME_PATTERN 'part-{self._batch_no:05d}-{{i}}', OVERWRITE_OR_IGNORE true)"
        )

    @property
    def _copy_options(self) -> str:
        """``COPY ... TO`` options of every lake file."""
        return f"FORMAT parquet, COMPRESSION {self.ws.config.ingest.compression}"

    def _copy_by_date(
        self, columns: str, relation: str, date_column: str, dates: list[date],
        folder_of: Callable[[date], Path],
    ) -> None:
        """One plain ``COPY`` per partition date into ``folder_of(date)`` (filtered by date when several)."""
        for d in dates:
            folder = folder_of(d)
            folder.mkdir(parents=True, exist_ok=True)
            where = f" WHERE {date_column} = DATE '{d.isoformat()}'" if len(dates) > 1 else ""
            self.engine.execute(
                f"COPY (SELECT {columns} FROM {relation}{where}) "
                f"TO '{_sql_path(folder / f'part-{self._batch_no:05d}-0.parquet')}' ({self._copy_options})"
            )

    def _write_observables(
        self, source: Source, spec: TableSpec, run_dir: Path, dates: list[date] | None
    ) -> None:
        """Write the observables of ``_new``: one pass per partition date (see :meth:`_write`)."""
        sql = observables_sql(source, spec, "_new")
        if sql is None:
            return
        target = run_dir / "lake" / OBSERVABLES.name
        if dates is not None and spec.partition_column == "event_date":
            self._copy_by_date(", ".join(OBSERVABLES.file_columns()), f"({sql})", "event_date", dates,
                               lambda d: target / f"source={spec.name}" / f"event_date={d.isoformat()}")
            return
        target.mkdir(parents=True, exist_ok=True)
        self.engine.execute(
            f"COPY ({sql}) TO '{_sql_path(target)}' ({self._copy_options}, PARTITION_BY (source, event_date), "
            f"FILENAME_PATTERN 'part-{self._batch_no:05d}-{{i}}', OVERWRITE_OR_IGNORE true)"
        )

    # -- quarantine ---------------------------------------------------------------

    def _add_quarantine(
        self, summary: RunSummary, source: str, rejected: Sequence[Rejected], table: str | None = None
    ) -> None:
        if not rejected:
            return
        for r in rejected:
            self._quarantine.append((source, r))
            summary.reasons[_reason_key(r.reason)] = summary.reasons.get(_reason_key(r.reason), 0) + 1
        summary.quarantined += len(rejected)
        if table is None:
            summary.records_read += len(rejected)
        else:
            summary.tables.setdefault(table, TableCounts()).quarantined += len(rejected)

    def _write_quarantine(self, run_dir: Path, summary: RunSummary) -> None:
        if not self._quarantine:
            return
        now = datetime.now(UTC)
        rows: dict[str, tuple[str, Rejected]] = {}
        for source, r in self._quarantine:  # type: ignore[misc]
            uid = hashlib.sha256(
                b"\x1f".join([r.origin.encode(), r.locator.encode(), r.raw])
            ).hexdigest()
            rows.setdefault(uid, (source, r))
        uids = pa.table({"uid": list(rows)})
        self.engine.register("_q_uids", uids)
        try:
            existing = {
                r[0]
                for r in self.engine.rows(
                    "SELECT u.uid FROM _q_uids u JOIN _cairn_keys k ON k.table_name = 'quarantine' "
                    "AND k.key_hash = md5_number(u.uid)"
                )
            }
        finally:
            self.engine.unregister("_q_uids")
        fresh = {u: v for u, v in rows.items() if u not in existing}
        summary.quarantined_new = len(fresh)
        if not fresh:
            return
        table = pa.table(
            {
                "quarantine_uid": list(fresh),
                "quarantined_at": [now] * len(fresh),
                "source": [s for s, _ in fresh.values()],
                "origin": [r.origin for _, r in fresh.values()],
                "locator": [r.locator for _, r in fresh.values()],
                "reason": [r.reason for _, r in fresh.values()],
                "raw": [r.raw for _, r in fresh.values()],
                "ingest_run": [summary.run_id] * len(fresh),
            },
            schema=QUARANTINE_SCHEMA,
        )
        out = run_dir / "lake" / QUARANTINE.name / f"event_date={now.date().isoformat()}"
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / f"part-{summary.run_id}.parquet", compression="zstd")
        self.engine.register("_q_new", pa.table({"uid": list(fresh)}))
        try:
            self.engine.execute(
                "INSERT INTO _run_keys SELECT 'quarantine', md5_number(uid) FROM _q_new"
            )
        finally:
            self.engine.unregister("_q_new")

    # -- commit -------------------------------------------------------------------

    def _finish(self, run_dir: Path, summary: RunSummary, started: float) -> None:
        with self.timer.step("quarantine"):
            self._write_quarantine(run_dir, summary)
        if self.strict and summary.quarantined:
            first = [
                f"{r.origin}:{r.locator}: {r.reason}" for _, r in self._quarantine[:5]  # type: ignore[misc]
            ]
            raise StrictModeError(
                f"--strict: {summary.quarantined} record(s) would be quarantined; nothing was "
                "loaded. First: " + "; ".join(first)
            )
        if not summary.balanced:  # a bug, never bad input
            raise InputError(
                f"accounting mismatch: read {summary.records_read} != loaded {summary.loaded} + "
                f"duplicates {summary.duplicates} + quarantined {summary.quarantined}"
            )
        staged_root = run_dir / "lake"
        touched: set[str] = set()
        with self.timer.step("commit"), self.engine.transaction():
            self._commit(staged_root, summary, touched, started)

    def _commit(self, staged_root: Path, summary: RunSummary, touched: set[str], started: float) -> None:
        self.engine.execute("INSERT INTO _cairn_keys SELECT table_name, key_hash FROM _run_keys")
        if staged_root.exists():
            staged = sorted(staged_root.rglob("*.parquet"))
            stats = self._file_stats(staged)
            for path in staged:
                rel = path.relative_to(staged_root)
                table = rel.parts[0]
                # Never overwrite: names carry the run id.
                final_rel = rel.with_name(f"{summary.run_id}-{rel.name}")
                dest = self.ws.lake / final_rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
                rows, lo, hi = stats[str(path)]
                part = "/".join(p for p in rel.parts[1:-1])
                self.engine.execute(
                    "INSERT INTO _cairn_files (table_name, path, partition_value, rows, min_time, "
                    "max_time, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [table, final_rel.as_posix(), part, rows, lo, hi, summary.run_id],
                )
                touched.add(table)
        self.catalog.refresh_views(touched or None) if touched else None
        summary.seconds = round(time.monotonic() - started, 3)
        summary.committed = True
        self.engine.execute(
            "INSERT INTO _cairn_runs VALUES (?, 'ingest', now() - to_microseconds(?::BIGINT), now(), 'committed', ?)",
            [summary.run_id, int(summary.seconds * 1e6), json.dumps(summary.to_dict(), default=str)],
        )

    def _file_stats(self, paths: list[Path]) -> dict[str, tuple[int, Any, Any]]:
        out: dict[str, tuple[int, Any, Any]] = {}
        if not paths:
            return out
        for p in paths:
            md = pq.read_metadata(p)
            rows = md.num_rows
            schema = md.schema.to_arrow_schema()
            tcol = next(
                (c for c in ("event_time", "quarantined_at") if c in schema.names), None
            )
            lo = hi = None
            if tcol is not None:
                idx = schema.names.index(tcol)
                for g in range(md.num_row_groups):
                    st = md.row_group(g).column(idx).statistics
                    if st is not None and st.has_min_max:
                        lo = st.min if lo is None or st.min < lo else lo
                        hi = st.max if hi is None or st.max > hi else hi
            out[str(p)] = (rows, lo, hi)
        return out


def observables_sql(source: Source, spec: TableSpec, relation: str = "_new") -> str | None:
    """SELECT the observables rows (the lake ``observables`` columns) of the rows of ``relation``
    (shaped like ``spec``); None when the table exposes no observables.

    Scalar observables are one ``unnest`` of parallel plain lists per row (field names,
    types, values, 16-byte forms): much cheaper than lists of structs. Each list-valued
    observable adds one ``UNION ALL`` branch unnesting its values (and their 16-byte forms).
    """
    specs = source.observables.get(spec.name, ())
    if not specs:
        return None

    def lit(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    head = f"SELECT event_uid, {lit(spec.name)} AS source, event_time, event_date, "
    keep = "WHERE value IS NOT NULL AND value <> ''"
    branches = []
    scalars = [o for o in specs if not o.is_list]
    if scalars:
        fields = ", ".join(lit(o.field) for o in scalars)
        types = ", ".join(lit(o.type) for o in scalars)
        values = ", ".join(f"CAST({o.expr} AS VARCHAR)" for o in scalars)
        bins = ", ".join(f"CAST({o.bin_expr or 'NULL'} AS BLOB)" for o in scalars)
        branches.append(
            f"{head}field, type, value, ip_bin FROM (SELECT event_uid, event_time, event_date, "
            f"unnest([{fields}]) AS field, unnest([{types}]) AS type, unnest([{values}]) AS value, "
            f"unnest([{bins}]) AS ip_bin FROM {relation}) {keep}"
        )
    for o in specs:
        if not o.is_list:
            continue
        # Values and their 16-byte forms are parallel lists (unnests in one SELECT are zipped).
        bin_list = f"unnest(CAST({o.bin_expr} AS BLOB[]))" if o.bin_expr else "CAST(NULL AS BLOB)"
        branches.append(
            f"{head}{lit(o.field)} AS field, {lit(o.type)} AS type, value, ip_bin FROM ("
            f"SELECT event_uid, event_time, event_date, unnest(CAST({o.expr} AS VARCHAR[])) AS value, "
            f"{bin_list} AS ip_bin FROM {relation}) {keep}"
        )
    return " UNION ALL ".join(branches)


_KEY_DAY = re.compile(r"/(\d{4}/\d{2}/\d{2})/")


def _key_day(origin: str) -> str:
    """The ``YYYY/MM/DD`` of an S3-style log key (CloudTrail, flow logs, ...), or ''."""
    m = _KEY_DAY.search(origin)
    return m.group(1) if m else ""


def _complete_json(data: bytes) -> bool:
    try:
        json.loads(data.decode("utf-8"))
    except ValueError:
        return False
    return True


def _decompressed_size(p: _Planned) -> int:
    """Bytes a file holds once decompressed (gzip's trailer keeps the size mod 2**32)."""
    if not p.compressed:
        return p.size
    with open(p.file.path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        return max(p.size, int.from_bytes(fh.read(4), "little"))


def _explain(error: str, raw: str) -> str:
    if error == "invalid JSON":
        try:
            json.loads(raw)
        except ValueError as exc:
            return f"invalid JSON: {exc}"
    return error


def _reason_key(reason: str) -> str:
    return reason.split(":")[0][:80]


def _sql_path(p: Path) -> str:
    return str(p).replace("'", "''")


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)


def _digest_key(origin: str) -> str | None:
    from cairn.sources.cloudtrail import _skip

    return _skip(origin, None)


def _digest_sniff(origin: str, s: Sniff) -> str | None:
    from cairn.sources.cloudtrail import _skip

    return _skip(origin, s)


__all__ = ["ITEMS_SCHEMA", "Ingestor", "RunSummary", "TableCounts", "observables_sql"]
