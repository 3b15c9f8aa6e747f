"""The context tables: specs (listed by ``cairn tables``, documented in docs/lake.md) and Arrow rows.

``ctx_accounts``, ``ctx_networks``, ``ctx_identities`` and ``ctx_assets`` are
Parquet files under ``lake/context/<table>/``, one per load of one kind from one
source file, listed in the catalog like any lake table. ``source`` says who
wrote a row: ``file`` for inventory files; the AWS collectors (Organizations,
tags: :mod:`cairn.context.aws`) write ``aws`` rows into the same tables. ``ctx_loads`` is a view over
the native table ``_ctx_loads``: one row per load, current or replaced.

:data:`CONTEXT_TABLES` is the registry ``cairn.lake.catalog.all_specs`` reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pyarrow as pa

from cairn.context.kinds import KINDS, Checked
from cairn.lake.schema import Column, TableSpec

LOADS_DDL = """
CREATE TABLE IF NOT EXISTS _ctx_loads (
    load_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    invalid BIGINT NOT NULL,
    content_hash VARCHAR,
    fingerprint VARCHAR,
    loaded_at TIMESTAMPTZ NOT NULL,
    checked_at TIMESTAMPTZ,
    is_current BOOLEAN NOT NULL,
    replaced_at TIMESTAMPTZ,
    problems JSON
)
"""

_TAGS = Column("tags", "MAP(VARCHAR, VARCHAR)", "Tags (key -> value)")
_PROVENANCE = (
    Column("source", "VARCHAR", "Who wrote the row: 'file' (an inventory file) or a collector ('aws')"),
    Column("source_file", "VARCHAR", "Inventory file (absolute path), or a collector's scope (aws://organizations)"),
    Column("locator", "VARCHAR", "Place of the record in its file ('line N'), or in the scope ('account N')"),
    Column("load_id", "VARCHAR", "The load that wrote the row (see ctx_loads)"),
    Column("loaded_at", "TIMESTAMPTZ", "When it was loaded"),
)
_ACCOUNT = Column("account_id", "VARCHAR", "12-digit AWS account id")


def _spec(name: str, doc: str, *cols: Column) -> TableSpec:
    return TableSpec(name=name, doc=doc, columns=(*cols, *_PROVENANCE), key_column="", time_column="loaded_at",
                     partition_column="", sort_columns=())


CTX_ACCOUNTS = _spec(
    "ctx_accounts", "Organisational context: AWS accounts (name, OU path, environment, owner, contacts)",
    _ACCOUNT,
    Column("name", "VARCHAR", "Account name"),
    Column("ou_path", "VARCHAR", "Organisational-unit path, e.g. Root/Workloads/Prod"),
    Column("ou_path_list", "VARCHAR[]", "The OU path as a list, e.g. [Root, Workloads, Prod]"),
    Column("environment", "VARCHAR", "Environment, lower case (prod, staging, dev, ...)"),
    Column("owner", "VARCHAR", "Owning person or team"),
    Column("contacts", "VARCHAR[]", "Contacts (e-mail addresses, channels)"),
    _TAGS,
)
CTX_NETWORKS = _spec(
    "ctx_networks", "Organisational context: networks (CIDR -> zone, VPC, site, owner); nested CIDRs allowed",
    Column("cidr", "VARCHAR", "Canonical network (IPv4-mapped IPv6 written as IPv4)"),
    Column("ip_version", "TINYINT", "4 or 6"),
    Column("prefix_len", "INTEGER", "Prefix length in the network's own family"),
    Column("range_start", "BLOB", "First address, 16-byte big-endian (IPv4 as ::ffff:a.b.c.d)"),
    Column("range_end", "BLOB", "Last address, same form"),
    Column("name", "VARCHAR", "Network name"),
    Column("zone", "VARCHAR", "Zone, lower case (corp, dmz, prod-vpc, vpn, partner, ...)"),
    Column("vpc_id", "VARCHAR", "VPC id"),
    Column("subnet_id", "VARCHAR", "Subnet id"),
    Column("site", "VARCHAR", "Site or office"),
    Column("region", "VARCHAR", "AWS region"),
    Column("owner", "VARCHAR", "Owning person or team"),
    _ACCOUNT,
    Column("environment", "VARCHAR", "Environment, lower case"),
    _TAGS,
)
CTX_IDENTITIES = _spec(
    "ctx_identities", "Organisational context: identities (principal/role ARN, user, access key -> person, team)",
    Column("kind", "VARCHAR", "principal_arn, role_arn, user, access_key or identity_store_user"),
    Column("value", "VARCHAR", "The ARN, user name, access key id or Identity Center user"),
    Column("person", "VARCHAR", "The person behind it"),
    Column("email", "VARCHAR", "Their e-mail address (lower case)"),
    Column("team", "VARCHAR", "Their team"),
    Column("account_id", "VARCHAR", "Account (given, or taken from the ARN)"),
    _TAGS,
)
CTX_ASSETS = _spec(
    "ctx_assets", "Organisational context: assets (resource ARN or id -> owner, team, criticality)",
    Column("resource_id", "VARCHAR", "Resource ARN or id (instance id, bucket name, ...)"),
    Column("resource_type", "VARCHAR", "Given, or service:type from the ARN / id (ec2:instance, s3:bucket)"),
    Column("name", "VARCHAR", "Resource name"),
    Column("account_id", "VARCHAR", "Account (given, or taken from the ARN)"),
    Column("region", "VARCHAR", "Region (given, or taken from the ARN)"),
    Column("owner", "VARCHAR", "Owning person"),
    Column("team", "VARCHAR", "Owning team"),
    Column("criticality", "VARCHAR", "low, medium, high or critical"),
    Column("criticality_rank", "INTEGER", "1 (low) to 4 (critical)"),
    Column("environment", "VARCHAR", "Environment, lower case"),
    _TAGS,
)

_LOAD_COLUMNS = (
    Column("load_id", "VARCHAR", "Id of the load"),
    Column("kind", "VARCHAR", "accounts, networks, identities or assets"),
    Column("table_name", "VARCHAR", "The ctx_ table loaded"),
    Column("source", "VARCHAR", "'file' or a collector ('aws')"),
    Column("source_file", "VARCHAR", "Inventory file (absolute path) or collector scope (aws://resources/ACCOUNT)"),
    Column("rows", "BIGINT", "Rows loaded"),
    Column("invalid", "BIGINT", "Records left out (--skip-invalid)"),
    Column("content_hash", "VARCHAR", "sha256 of the file's bytes (of the records, for collectors)"),
    Column("loaded_at", "TIMESTAMPTZ", "When it was loaded"),
    Column("checked_at", "TIMESTAMPTZ", "Last reload that found the file unchanged"),
    Column("is_current", "BOOLEAN", "The rows of this load are in the table"),
    Column("replaced_at", "TIMESTAMPTZ", "When a later load (or unload) replaced it"),
    Column("problems", "JSON", "Problems of the records left out"),
)


def _loads_view(catalog: Any) -> str:
    if not catalog.engine.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = '_ctx_loads'"):
        return CTX_LOADS.empty_select()
    return f"SELECT {', '.join(c.name for c in _LOAD_COLUMNS)} FROM _ctx_loads"


CTX_LOADS = TableSpec(
    name="ctx_loads", doc="One row per load of an inventory file and kind: rows, content hash, current or replaced",
    columns=_LOAD_COLUMNS, key_column="", time_column="loaded_at", partition_column="", sort_columns=(),
    view=_loads_view,
)

CONTEXT_TABLES: dict[str, TableSpec] = {
    t.name: t for t in (CTX_ACCOUNTS, CTX_NETWORKS, CTX_IDENTITIES, CTX_ASSETS, CTX_LOADS)
}

_ARROW_TYPES = {
    "VARCHAR": pa.string(), "VARCHAR[]": pa.list_(pa.string()), "MAP(VARCHAR, VARCHAR)": pa.map_(pa.string(), pa.string()),
    "BLOB": pa.binary(), "TINYINT": pa.int8(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "BOOLEAN": pa.bool_(), "JSON": pa.string(),
}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema of a context table's Parquet files."""
    return pa.schema([(c.name, _ARROW_TYPES[c.type]) for c in spec.columns])


def to_arrow(kind: str, rows: list[Checked], *, load_id: str, loaded_at: dt.datetime,
             source_file: str, source: str = "file") -> pa.Table:
    """The rows of one load as an Arrow table with the table's schema."""
    spec = CONTEXT_TABLES[KINDS[kind].table]
    out = []
    for c in rows:
        d = {f.name: getattr(c.model, f.name) for f in dataclasses.fields(c.model)}  # type: ignore[arg-type]
        d["tags"] = sorted(d.get("tags", {}).items())
        if "contacts" in d:
            d["contacts"] = list(d["contacts"])
        if kind == "accounts":
            d["ou_path_list"] = c.model.ou_path_list  # type: ignore[union-attr]
        d.update(source=source, source_file=source_file, locator=f"line {c.line}" if source == "file" else c.origin,
                 load_id=load_id,
                 loaded_at=loaded_at)
        out.append(d)
    return pa.Table.from_pylist(out, schema=arrow_schema(spec))
