"""What a source is: how to recognise its files, frame them, and normalise records.

The data path of one batch, all in SQL except line splitting:

    files --frame--> _items(origin, locator, item, header)
          --records_sql--> _records(origin, locator, raw, route, error)
          --typed_sql[table]--> typed rows (+ _reject reason)
          --IP mapping, dedup--> Parquet in the lake + observables + quarantine

``route`` names the lake table a record belongs to (CloudTrail Insights events
go to their own table); a non-null ``error`` or ``_reject`` sends the record to
the quarantine with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from cairn.lake.schema import TableSpec

if TYPE_CHECKING:
    import pyarrow as pa

    from cairn.config import Config
    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.sources.files import InputFile
    from cairn.sources.framing import Rejected

Framing = Literal["json", "custom"]


class FrameContext(Protocol):
    """What a custom framer gets: the engine, settings, and sinks for items and rejects."""

    engine: DuckDBEngine
    config: Config

    def add_items(self, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
        """Append ``(origin, locator, item, header)`` rows to ``_items``."""

    def add_items_sql(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Append the rows of a SELECT (same four columns) to ``_items``."""

    def add_items_arrow(self, table: pa.Table) -> None:
        """Add items held in Arrow (the same four columns); they go through the records SQL
        straight from Arrow, in no particular order: the fast way for many items."""

    def reject(self, rejected: Rejected) -> None:
        """Send a piece of input to the quarantine."""


@dataclass(frozen=True)
class Sniff:
    """The first bytes of a decompressed input, for content detection."""

    origin: str
    head: bytes
    is_parquet: bool = False
    parquet_columns: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The head decoded leniently."""
        return self.head.decode("utf-8", "replace")


@dataclass(frozen=True)
class IpColumn:
    """A text column holding an address; the final row gets ``<out>``, ``<out>_bin``
    and, when ``kind`` is set, ``<out>_kind`` from the address classifier."""

    text_column: str
    out: str
    kind: bool = False
    domain_out: str | None = None


@dataclass(frozen=True)
class Observable:
    """One observable a table exposes: the field path in the original record, its type,
    and a SQL expression over the final row giving a VARCHAR or a VARCHAR[] (``is_list``)."""

    field: str
    type: str
    expr: str
    is_list: bool = False
    bin_expr: str | None = None


@dataclass(frozen=True)
class Source:
    """A log or finding source."""

    name: str
    doc: str
    tables: tuple[TableSpec, ...]
    framing: Framing
    detect: Callable[[Sniff], int]
    """Confidence 0-100 that a sniffed input is this source."""
    records_sql: str
    """SELECT over ``_items`` giving origin, locator, raw, route, error."""
    typed_sql: Mapping[str, str]
    """Per table: SELECT over ``_records`` (already filtered to the table's route)
    giving the table's columns except IP-derived ones, plus ``_reject``."""
    ip_columns: Mapping[str, tuple[IpColumn, ...]] = field(default_factory=dict)
    observables: Mapping[str, tuple[Observable, ...]] = field(default_factory=dict)
    skip_file: Callable[[str, Sniff | None], str | None] = lambda origin, sniff: None
    """Return a reason when a file must be skipped and counted (e.g. digest files)."""
    frame: Callable[[FrameContext, Sequence[InputFile]], None] | None = None
    """Custom framing (``framing == "custom"``): fill ``_items`` for a batch of files."""
    table_sources: Mapping[str, str] = field(default_factory=dict)
    """Tables that belong to another source (a router's, see :mod:`cairn.sources.eventbridge`):
    table name -> that source's name, which the quarantine records for their records."""

    def source_of(self, table: str | None) -> str:
        """The name of the source a record routed to ``table`` belongs to (this one by default)."""
        return self.table_sources.get(table or "", self.name)

    def table(self, name: str) -> TableSpec:
        """The spec of one of this source's tables."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)
