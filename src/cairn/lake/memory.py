"""Ingest into temporary tables instead of the lake: the typed rows of the ingest path, nothing written.

:class:`MemoryIngestor` runs the same framing, records SQL, typed SQL, address classification and
observables SQL as :class:`cairn.lake.ingest.Ingestor`, but the rows land in connection-local temp
tables (``_mem_<table>`` and ``_mem_observables``) of the given engine. Nothing is written to the
lake or the catalog and no lock is taken: records are deduplicated within the input only, so an
event already in the lake is enriched again. Bad records are counted and kept in
:attr:`MemoryIngestor.rejected` (``--strict`` turns them into an error), never dropped silently.
Used by streaming ``cairn enrich`` (:mod:`cairn.outputs.stream`).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from cairn.errors import InputError, StrictModeError
from cairn.lake.ingest import Ingestor, RunSummary, observables_sql
from cairn.lake.schema import OBSERVABLES, TableSpec
from cairn.sources.base import Source
from cairn.sources.files import InputFile
from cairn.sources.framing import Rejected

PREFIX = "_mem_"
OBSERVABLES_TABLE = PREFIX + OBSERVABLES.name
STDIN = "-"


def mem_table(table: str) -> str:
    """The temp table holding the typed rows of lake table ``table``."""
    return PREFIX + table


class MemoryIngestor(Ingestor):
    """An :class:`Ingestor` whose output is temp tables of its engine."""

    KNOWN_KEYS = "_memkeys"

    def __init__(self, *args: object, stdin: BinaryIO | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stdin = stdin
        self.tables: dict[str, TableSpec] = {}
        self.rejected: list[tuple[str, Rejected]] = []

    def run(self, targets: Sequence[str]) -> RunSummary:
        """Read ``targets`` (files, folders, ``s3://`` prefixes, ``-`` for standard input)."""
        started = time.monotonic()
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        summary = RunSummary(run_id=run_id)
        e = self.engine
        e.execute(f"CREATE OR REPLACE TEMP TABLE {self.KNOWN_KEYS} (table_name VARCHAR, key_hash UHUGEINT)")
        e.execute("CREATE OR REPLACE TEMP TABLE _run_keys (table_name VARCHAR, key_hash UHUGEINT)")
        for name in self._existing():
            e.execute(f"DROP TABLE IF EXISTS {name}")
        self.tables.clear()
        run_dir = Path(tempfile.mkdtemp(prefix="cairn-stream-"))
        try:
            self._run(targets, run_dir, summary)
            self._finish_memory(summary, started)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
            e.execute("DROP TABLE IF EXISTS _run_keys")
            e.execute(f"DROP TABLE IF EXISTS {self.KNOWN_KEYS}")
        return summary

    def _existing(self) -> list[str]:
        return [r[0] for r in self.engine.rows(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?)", [PREFIX])]

    def _inputs(self, targets: Iterable[str], run_dir: Path) -> Iterable[InputFile | Rejected | str]:
        for target in targets:
            if target == STDIN:
                path = run_dir / "stdin"
                src = self.stdin or sys.stdin.buffer
                with open(path, "wb") as fh:
                    shutil.copyfileobj(src, fh)
                yield InputFile("<stdin>", path, path.stat().st_size)
            else:
                yield from super()._inputs([target], run_dir)

    def _partition_dates(self, spec: TableSpec) -> list[date] | None:
        return None  # temp tables are not partitioned

    def _write(self, spec: TableSpec, run_dir: Path, dates: list[date] | None) -> None:
        # The lake stores JSON columns as text; its views type them JSON again, and so do these tables.
        cols = ", ".join(f"CAST({c.name} AS JSON) AS {c.name}" if c.type == "JSON" else c.name for c in spec.columns)
        target = mem_table(spec.name)
        if spec.name not in self.tables:
            self.engine.execute(f"CREATE TEMP TABLE IF NOT EXISTS {target} AS SELECT {cols} FROM _new LIMIT 0")
            self.tables[spec.name] = spec
        order = ", ".join(spec.sort_columns)
        self.engine.execute(f"INSERT INTO {target} SELECT {cols} FROM _new ORDER BY {order}")

    def _write_observables(
        self, source: Source, spec: TableSpec, run_dir: Path, dates: list[date] | None
    ) -> None:
        sql = observables_sql(source, spec)
        cols = ", ".join(c.name for c in OBSERVABLES.columns)
        self.engine.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {OBSERVABLES_TABLE} AS SELECT {cols} FROM ({OBSERVABLES.empty_select()})")
        if sql is not None:
            self.engine.execute(f"INSERT INTO {OBSERVABLES_TABLE} SELECT {cols} FROM ({sql})")

    def _finish_memory(self, summary: RunSummary, started: float) -> None:
        self.rejected = list(self._quarantine)  # type: ignore[arg-type]
        if self.strict and summary.quarantined:
            first = [f"{r.origin}:{r.locator}: {r.reason}" for _, r in self.rejected[:5]]
            raise StrictModeError(f"--strict: {summary.quarantined} record(s) could not be read. First: "
                                  + "; ".join(first))
        if not summary.balanced:  # a bug, never bad input
            raise InputError(
                f"accounting mismatch: read {summary.records_read} != loaded {summary.loaded} + "
                f"duplicates {summary.duplicates} + quarantined {summary.quarantined}"
            )
        self.engine.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {OBSERVABLES_TABLE} AS {OBSERVABLES.empty_select()}")
        summary.seconds = round(time.monotonic() - started, 3)
