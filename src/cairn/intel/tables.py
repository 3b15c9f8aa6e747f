"""Intel tables in the workspace: their specs (listed by ``cairn tables``) and how they are published.

Reference tables (ownership, warninglists, ...) are built from bundled or
refreshed files into one Parquet file each under ``lake/intel/<table>/`` and
listed in the catalog like any lake table, so ``cairn tables`` shows them and
their views read exactly the listed file. Each file is named after the
*fingerprint* of its inputs; a table is rebuilt when the fingerprint of its
inputs changes (new bundled data, a refreshed download, other settings).

:data:`INTEL_TABLES` is the registry ``cairn.lake.catalog.all_specs`` reads; add
new intel tables here.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.lake.schema import Column, TableSpec

_RANGE_COLS = (
    Column("ip_version", "TINYINT", "4 or 6"),
    Column("prefix_len", "INTEGER", "CIDR prefix length in the address's own family"),
    Column("range_start", "BLOB", "First address, 16-byte big-endian (IPv4 as ::ffff:a.b.c.d)"),
    Column("range_end", "BLOB", "Last address, same form"),
)


def _spec(name: str, doc: str, *cols: Column) -> TableSpec:
    return TableSpec(name=name, doc=doc, columns=cols, key_column="", time_column="", partition_column="",
                     sort_columns=())


INTEL_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        _spec("own_asn", "IP ranges -> ASN, AS organisation, country (non-overlapping)",
              Column("ip_version", "TINYINT", "4 or 6"),
              Column("range_start", "BLOB", "First address, 16-byte big-endian"),
              Column("range_end", "BLOB", "Last address, 16-byte big-endian"),
              Column("asn", "BIGINT", "Autonomous system number"),
              Column("as_org", "VARCHAR", "AS organisation"),
              Column("country", "VARCHAR", "ISO 3166 country code"),
              Column("source", "VARCHAR", "bundled data set or the user's .mmdb file")),
        _spec("own_cloud", "Cloud and CDN address ranges: provider, service, region",
              Column("provider", "VARCHAR", "aws, azure, gcp, oracle, cloudflare, akamai, fastly, ovh, ..."),
              Column("service", "VARCHAR", "Provider service (AWS: EC2, S3, AMAZON, ...)"),
              Column("region", "VARCHAR", "Provider region"),
              Column("network_border_group", "VARCHAR", "AWS network border group"),
              Column("cidr", "VARCHAR", "The published prefix"),
              *_RANGE_COLS,
              Column("source", "VARCHAR", "aws-ip-ranges <createDate> or warninglist:<list>")),
        _spec("own_tor", "Tor exit-node addresses",
              Column("ip", "VARCHAR", "Exit-node address"),
              Column("ip_bin", "BLOB", "16-byte big-endian address"),
              Column("list_date", "VARCHAR", "Date of the list"),
              Column("source", "VARCHAR", "Where the list came from")),
        _spec("own_special", "Special-purpose ranges (RFC 1918, CGNAT, loopback, documentation, ...): never shared",
              Column("cidr", "VARCHAR", "Range"), Column("name", "VARCHAR", "Purpose"),
              Column("reference", "VARCHAR", "RFC"), *_RANGE_COLS),
        _spec("own_public_suffixes", "Public suffix list rules (registrable-domain computation)",
              Column("rule", "VARCHAR", "Suffix (IDNA, lower case) without '*.' or '!'"),
              Column("kind", "VARCHAR", "normal, wildcard or exception"),
              Column("labels", "INTEGER", "Labels in rule"),
              Column("section", "VARCHAR", "icann or private")),
        _spec("warninglists", "MISP warninglists loaded (known-benign and infrastructure lists)",
              Column("list", "VARCHAR", "List id (folder name)"), Column("name", "VARCHAR", "Title"),
              Column("description", "VARCHAR", "Description"), Column("version", "BIGINT", "List version"),
              Column("type", "VARCHAR", "cidr, hostname, string, substring or regex"),
              Column("matching_attributes", "VARCHAR[]", "MISP attribute types the list applies to"),
              Column("observable_types", "VARCHAR[]", "cairn observable types it applies to"),
              Column("effect", "VARCHAR", "demote (caps the verdict) or context"),
              Column("match_subdomains", "BOOLEAN", "hostname lists: sub-domains of an entry match too"),
              Column("entries", "BIGINT", "Entries loaded"), Column("skipped", "BIGINT", "Entries not usable")),
        _spec("warninglist_entries", "Entries of the loaded warninglists",
              Column("list", "VARCHAR", "List id"), Column("type", "VARCHAR", "List type"),
              Column("value", "VARCHAR", "Entry (lower case for hostname/string/substring; regex in RE2 form)"),
              *_RANGE_COLS),
    )
}


def intel_specs() -> dict[str, TableSpec]:
    """Specs of the intel tables (for the catalog)."""
    return dict(INTEL_TABLES)


def fingerprint(*parts: object) -> str:
    """A short stable hash of the inputs of a table."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            st = p.stat()
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
        elif isinstance(p, bytes):
            h.update(p)
        else:
            h.update(repr(p).encode())
        h.update(b"\x00")
    return h.hexdigest()[:20]


def current_fingerprint(engine: DuckDBEngine, table: str) -> str | None:
    """Fingerprint of the published file of ``table`` (None when never built)."""
    run = engine.scalar("SELECT max(run_id) FROM _cairn_files WHERE table_name = ?", [table])
    return run.removeprefix("intel-") if run else None


def publish(engine: DuckDBEngine, lake: Path, name: str, table: pa.Table, fp: str) -> None:
    """Replace the contents of intel table ``name`` by ``table`` (one catalog transaction)."""
    spec = INTEL_TABLES[name]
    table = table.select(spec.column_names)
    rel = f"intel/{name}/{fp}-{uuid.uuid4().hex[:8]}.parquet"
    path = lake / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    old = [r[0] for r in engine.rows("SELECT path FROM _cairn_files WHERE table_name = ?", [name])]
    with engine.transaction():
        engine.execute("DELETE FROM _cairn_files WHERE table_name = ?", [name])
        engine.execute(
            "INSERT INTO _cairn_files (table_name, path, partition_value, rows, run_id) VALUES (?, ?, NULL, ?, ?)",
            [name, rel, table.num_rows, f"intel-{fp}"],
        )
    Catalog(engine, lake).refresh_views([name])
    for o in old:
        if o != rel:
            (lake / o).unlink(missing_ok=True)


def table_exists(engine: DuckDBEngine, name: str) -> bool:
    """Is there a table or view called ``name`` in the engine's catalog?"""
    return bool(engine.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))


def built_from(engine: DuckDBEngine, meta: str, fp: str, tables: Iterable[str]) -> bool:
    """Were ``tables`` built from inputs with fingerprint ``fp`` (recorded in table ``meta``) and are
    they all there? ``meta`` (a name cairn chose) is created when missing."""
    engine.execute(f"CREATE TABLE IF NOT EXISTS {meta} (fingerprint VARCHAR)")
    names = sorted(set(tables))
    return engine.scalar(f"SELECT max(fingerprint) FROM {meta}") == fp and engine.scalar(
        "SELECT count(DISTINCT table_name) FROM information_schema.tables WHERE list_contains(?, table_name)",
        [names]) == len(names)


def record_build(engine: DuckDBEngine, meta: str, fp: str) -> None:
    """Record in ``meta`` that its tables are now built from inputs with fingerprint ``fp``."""
    engine.execute(f"DELETE FROM {meta}")
    engine.execute(f"INSERT INTO {meta} VALUES (?)", [fp])
