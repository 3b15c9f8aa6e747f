"""Table definitions of the lake.

A :class:`TableSpec` names a table's columns with portable SQL types, its OCSF
class, the column it is deduplicated on and the column holding event time.
Sources declare their tables with it; the catalog uses it to create empty views,
``cairn tables --schema`` prints it and ``docs/lake.md`` documents it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    """One column: name, portable SQL type and a short description."""

    name: str
    type: str
    doc: str = ""


@dataclass(frozen=True)
class TableSpec:
    """A lake table."""

    name: str
    columns: tuple[Column, ...]
    doc: str
    ocsf_class_uid: int | None = None
    ocsf_class_name: str = ""
    key_column: str = "event_uid"
    time_column: str = "event_time"
    partition_column: str = "event_date"
    sort_columns: tuple[str, ...] = ("event_time",)
    """Row order of the table in memory (streaming enrichment); lake files are not sorted."""
    extra_partitions: tuple[str, ...] = field(default_factory=tuple)
    view: Callable[[Any], str] | None = None
    """Derived tables only: builds the view's SELECT from the catalog (the table has no files)."""
    view_rows: Callable[[Any], int] | None = None
    """Derived tables only: a cheap row count of the view from the engine (default: ``count(*)``)."""

    @property
    def column_names(self) -> list[str]:
        """Names of all columns, in order (the partition column included)."""
        return [c.name for c in self.columns]

    def file_columns(self) -> list[str]:
        """Columns stored inside the Parquet files (partition columns live in paths)."""
        hidden = {self.partition_column, *self.extra_partitions}
        return [c.name for c in self.columns if c.name not in hidden]

    def empty_select(self) -> str:
        """A typed, empty SELECT with this table's columns."""
        cols = ", ".join(f"CAST(NULL AS {c.type}) AS {c.name}" for c in self.columns)
        return f"SELECT {cols} WHERE false"


# Columns every event table starts with. Sources add their own after these.
def common_columns(class_uid: int) -> tuple[Column, ...]:
    """The leading columns shared by every event table."""
    return (
        Column("event_uid", "VARCHAR", "Stable id of the event; the dedup key"),
        Column("event_time", "TIMESTAMPTZ", "When the event happened (UTC)"),
        Column("event_date", "DATE", "UTC date of event_time; the partition"),
        Column("class_uid", "INTEGER", f"OCSF class ({class_uid})"),
    )


PROVENANCE_COLUMNS: tuple[Column, ...] = (
    Column("raw", "JSON", "The original record, unchanged"),
    Column("origin", "VARCHAR", "File or S3 object the record came from"),
    Column("locator", "VARCHAR", "Place of the record in its origin (line, record index)"),
    Column("ingest_run", "VARCHAR", "Id of the ingest run that loaded the record"),
)

OBSERVABLES = TableSpec(
    name="observables",
    doc="Every observable of every event: the backbone enrichment joins on.",
    columns=(
        Column("event_uid", "VARCHAR", "event_uid of the event in its table"),
        Column("source", "VARCHAR", "Lake table of the event (cloudtrail, vpcflow, ...)"),
        Column("event_time", "TIMESTAMPTZ", "Time of the event"),
        Column("event_date", "DATE", "Partition"),
        Column("field", "VARCHAR", "Path of the value in the original record"),
        Column("type", "VARCHAR", "ip, domain, hostname, url, hash, user, access_key, account, arn, resource"),
        Column("value", "VARCHAR", "The value (IPs canonical, domains lower-case without trailing dot)"),
        Column("ip_bin", "BLOB", "16-byte big-endian address for type ip (IPv4 as ::ffff:a.b.c.d)"),
    ),
    key_column="",
    extra_partitions=("source",),
)

QUARANTINE = TableSpec(
    name="quarantine",
    doc="Records and files that could not be loaded, with origin, place, reason and raw bytes.",
    columns=(
        Column("quarantine_uid", "VARCHAR", "Hash of origin, place and bytes (dedup key)"),
        Column("quarantined_at", "TIMESTAMPTZ", "When it was quarantined"),
        Column("event_date", "DATE", "UTC date of quarantined_at; the partition"),
        Column("source", "VARCHAR", "Source the input was read as (or 'unknown')"),
        Column("origin", "VARCHAR", "File or S3 object"),
        Column("locator", "VARCHAR", "Line, record index or byte offset"),
        Column("reason", "VARCHAR", "Why it was not loaded"),
        Column("raw", "BLOB", "The raw bytes"),
        Column("ingest_run", "VARCHAR", "Ingest run id"),
    ),
    key_column="quarantine_uid",
    time_column="quarantined_at",
)
