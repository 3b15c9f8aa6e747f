"""Streaming enrichment: a file of events or findings in, enriched events out, no prior ingest.

The input goes through the ingest path's own SQL into temp tables
(:class:`cairn.lake.memory.MemoryIngestor`), its observables through
:func:`cairn.enrich.enrich_relation` against the workspace's intel, ownership and context, and
each table gets a temp view ``_stream_<table>_enriched`` shaped exactly like the lake view
``<table>_enriched`` (the table's columns, ``max_score_id``, ``enrichment``). Nothing is written
to the lake; the workspace is only read (its reference tables are built on first use, as
:func:`cairn.enrich.refresh` would).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.enrich import enrich_relation
from cairn.enrich.materialize import prepare
from cairn.enrich.tables import ENRICHMENT_COLUMNS
from cairn.lake.ingest import RunSummary
from cairn.lake.memory import OBSERVABLES_TABLE, MemoryIngestor, mem_table
from cairn.lake.schema import TableSpec
from cairn.sources.framing import Rejected
from cairn.workspace import Workspace

OUT = "_stream"
MATCHES = f"{OUT}_matches"
OBSERVABLES = f"{OUT}_observables"


def enriched_view(table: str) -> str:
    """Name of the temp view of the enriched rows of lake table ``table``."""
    return f"{OUT}_{table}_enriched"


def enriched_sql(relation: str, observables: str, table: str) -> str:
    """SELECT of an enriched view (same shape as the lake's ``<table>_enriched``) over any relation."""
    fields = ", ".join(f"{c.name} := {c.name}" for c in ENRICHMENT_COLUMNS)
    lit = "'" + table.replace("'", "''") + "'"
    return (
        f"SELECT t.*, e.max_score_id, e.enrichment FROM {relation} t LEFT JOIN ("
        f"SELECT event_uid, CAST(max(score_id) AS INTEGER) AS max_score_id, "
        f"list(struct_pack({fields}) ORDER BY field, value) AS enrichment "
        f"FROM {observables} WHERE source = {lit} GROUP BY event_uid) e ON e.event_uid = t.event_uid"
    )


@dataclass
class StreamResult:
    """What streaming enrichment produced: per lake table, the enriched view's name."""

    summary: RunSummary
    tables: dict[str, TableSpec] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=dict)
    rejected: list[tuple[str, Rejected]] = field(default_factory=list)
    matches: str = MATCHES
    observables: str = OBSERVABLES

    def counts(self, engine: DuckDBEngine) -> dict[str, int]:
        """Rows per table."""
        return {t: int(engine.scalar(f"SELECT count(*) FROM {v}") or 0) for t, v in self.views.items()}


def enrich_inputs(engine: DuckDBEngine, workspace: Workspace, targets: Sequence[str], *, source: str = "auto",
                  strict: bool | None = None, stdin: BinaryIO | None = None) -> StreamResult:
    """Read ``targets`` (files, folders, ``s3://`` prefixes, ``-``), enrich, and create the enriched views."""
    ing = MemoryIngestor(workspace, engine, source=source, strict=strict, stdin=stdin)
    summary = ing.run(targets)
    with workspace.writer_lock():
        prepare(engine, workspace)
    enrich_relation(engine, OBSERVABLES_TABLE, OUT)
    result = StreamResult(summary=summary, rejected=list(ing.rejected))
    for name, spec in sorted(ing.tables.items()):
        view = enriched_view(name)
        engine.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                       f"{enriched_sql(mem_table(name), OBSERVABLES, name)}")
        result.tables[name] = spec
        result.views[name] = view
    return result
