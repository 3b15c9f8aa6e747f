"""ASN, AS organisation and country of IP ranges: bundled open data, optionally the user's .mmdb files.

The bundled tables (``cairn/data/ownership/ip-asn-country-v{4,6}.parquet`` +
``as-org.parquet``, built by ``scripts/build_ownership_data.py`` from
RouteViews / DB-IP / NRO data, CC BY 4.0) need no download. Users may add
MaxMind, DB-IP or IPinfo ``.mmdb`` files (``[intel.ownership] mmdb = [...]``);
their networks are converted into the same range table when the table is
built, so lookups stay one SQL join. Their rows win over the bundled ones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import ConfigError
from cairn.lake.addresses import ip_to_bin

BUNDLED_SOURCE = "bundled:ip-location-db 2026-06 (RouteViews, DB-IP, NRO; CC BY 4.0)"
ASN_SCHEMA = pa.schema(
    [
        ("ip_version", pa.int8()),
        ("range_start", pa.binary()),
        ("range_end", pa.binary()),
        ("asn", pa.int64()),
        ("as_org", pa.string()),
        ("country", pa.string()),
        ("source", pa.string()),
    ]
)


def data_dir() -> Path:
    """Folder of the bundled ownership data."""
    return Path(str(resources.files("cairn") / "data" / "ownership"))


def bundled_files() -> list[Path]:
    """The bundled files the ASN table is built from."""
    d = data_dir()
    return [d / "ip-asn-country-v4.parquet", d / "ip-asn-country-v6.parquet", d / "as-org.parquet"]


def bundled_table(engine: DuckDBEngine) -> pa.Table:
    """The bundled ranges as :data:`ASN_SCHEMA` rows (16-byte keys, organisation joined in)."""
    v4, v6, org = (str(p) for p in bundled_files())
    return engine.arrow(
        """
        WITH r AS (
            SELECT 4 AS ip_version,
                   unhex('00000000000000000000FFFF' || lpad(hex(range_start), 8, '0')) AS range_start,
                   unhex('00000000000000000000FFFF' || lpad(hex(range_end), 8, '0')) AS range_end,
                   asn, CAST(country AS VARCHAR) AS country
            FROM read_parquet(?)
            UNION ALL
            SELECT 6, CAST(range_start AS BLOB), CAST(range_end AS BLOB), asn, CAST(country AS VARCHAR)
            FROM read_parquet(?)
        )
        SELECT CAST(r.ip_version AS TINYINT) AS ip_version, r.range_start, r.range_end,
               CAST(r.asn AS BIGINT) AS asn, o.as_org, r.country, CAST(? AS VARCHAR) AS source
        FROM r LEFT JOIN read_parquet(?) o ON o.asn = r.asn
        ORDER BY r.range_start
        """,
        [v4, v6, BUNDLED_SOURCE, org],
    ).cast(ASN_SCHEMA)


def _asn_of(record: Mapping[str, Any]) -> tuple[int | None, str | None]:
    num = record.get("autonomous_system_number")
    org = record.get("autonomous_system_organization")
    if num is None and "asn" in record:  # IPinfo: "AS13335"; DB-IP lite: int
        raw = str(record["asn"]).upper().removeprefix("AS")
        num = int(raw) if raw.isdigit() else None
        org = record.get("as_name") or record.get("as_organization") or org
    return (int(num) if num is not None else None, org)


def _country_of(record: Mapping[str, Any]) -> str | None:
    for key in ("country", "registered_country"):
        c = record.get(key)
        if isinstance(c, Mapping) and c.get("iso_code"):
            return str(c["iso_code"]).upper()
    cc = record.get("country_code")
    return str(cc).upper() if cc else None


def mmdb_rows(networks: Iterable[tuple[Any, Mapping[str, Any]]], source: str) -> pa.Table:
    """Convert ``(network, record)`` pairs of an .mmdb file into :data:`ASN_SCHEMA` rows.

    IPv4 networks stored in an IPv6 tree (``::a.b.c.d/96+n`` or ``::ffff:a.b.c.d``)
    are mapped into the IPv4 form; other aliases (6to4, Teredo) are skipped.
    """
    rows: list[tuple[Any, ...]] = []
    for network, record in networks:
        net = ipaddress.ip_network(network)
        if net.version == 6:
            base = int(net.network_address)
            if net.prefixlen >= 96 and base >> 32 in (0, 0xFFFF):
                net = ipaddress.ip_network((base & 0xFFFFFFFF, net.prefixlen - 96))
            elif net.subnet_of(ipaddress.ip_network("2002::/16")) or net.subnet_of(
                    ipaddress.ip_network("2001::/32")):
                continue
        if not isinstance(record, Mapping):
            continue
        asn, org = _asn_of(record)
        country = _country_of(record)
        if asn is None and country is None:
            continue
        rows.append((net.version, ip_to_bin(net.network_address), ip_to_bin(net.broadcast_address),
                     asn, org, country, source))
    cols = list(map(list, zip(*rows, strict=True))) if rows else [[] for _ in ASN_SCHEMA]
    return pa.table(cols, schema=ASN_SCHEMA)


def read_mmdb(path: Path) -> pa.Table:
    """All networks of a MaxMind-format database (MaxMind, DB-IP, IPinfo) as range rows."""
    try:
        import maxminddb
    except ImportError as exc:  # pragma: no cover - maxminddb is a dependency
        raise ConfigError("reading .mmdb files needs the maxminddb package") from exc
    if not path.is_file():
        raise ConfigError(f"[intel.ownership] mmdb: {path} does not exist")
    try:
        with maxminddb.open_database(str(path)) as reader:
            return mmdb_rows(iter(reader), f"mmdb:{path.name}")
    except (ValueError, OSError) as exc:
        raise ConfigError(f"[intel.ownership] mmdb: cannot read {path}: {exc}") from exc


def asn_table(engine: DuckDBEngine, mmdb: list[Path]) -> pa.Table:
    """The rows of ``own_asn``: the users' mmdb networks first, then the bundled ranges."""
    parts = [read_mmdb(p) for p in mmdb]
    parts.append(bundled_table(engine))
    return pa.concat_tables(parts)
