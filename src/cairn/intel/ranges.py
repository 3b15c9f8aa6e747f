"""IP ranges as 16-byte keys, and the segment index that matches addresses against them in SQL.

Every range family (ASN, cloud, special-purpose, warninglist CIDRs, indicator
CIDRs) is a set of inclusive ``[range_start, range_end]`` pairs of 16-byte
big-endian addresses (IPv4 mapped into IPv6, :mod:`cairn.lake.addresses`).
Ranges nest (AWS ``AMAZON`` covers ``EC2``; a feed lists a /16 and a /24 in it),
and an ASOF join only finds *one* range per address. So the index cuts the
union of all ranges into *elementary segments* (contiguous, non-overlapping:
every range starts a segment and the address after its end starts the next),
and stores which ranges cover each segment::

    _cairn_ipx_seg(seg_start BLOB, seg_id INTEGER)          one row per segment
    _cairn_ipx_cover(seg_id, family, range_start, range_end, prefix_len)

A lookup is then one ASOF join (``address >= seg_start``, the segment with the
greatest start) plus an equi-join on ``seg_id``: every covering range of every
family comes back, nested ones included, and the caller marks the most specific
(largest ``prefix_len``). IPv4 and IPv6 go through the same statements.

Building the index is set-based SQL too: segment ids are the ranks of the
cut points, and a range covers the contiguous run of segment ids between the
cut at its start and the cut after its end (two equi-joins and an ``unnest``),
so ranges may overlap in any way (ASN tables are not CIDR-aligned).
"""

from __future__ import annotations

import ipaddress

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.addresses import ip_to_bin

MAX_KEY = b"\xff" * 16
SEG_TABLE = "_cairn_ipx_seg"
COVER_TABLE = "_cairn_ipx_cover"


def cidr_range(text: str) -> tuple[bytes, bytes, int, int]:
    """``(range_start, range_end, prefix_len, ip_version)`` of a CIDR or single address.

    ``prefix_len`` counts in the address's own family (0-32 for IPv4); host bits
    set in the text are ignored (``10.1.2.3/8`` is ``10.0.0.0/8``).
    """
    net = ipaddress.ip_network(text.strip(), strict=False)
    if net.version == 6 and net.network_address.ipv4_mapped and net.prefixlen >= 96:
        net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    return (ip_to_bin(net.network_address), ip_to_bin(net.broadcast_address), net.prefixlen, net.version)


def bin_of(text: str) -> bytes:
    """16-byte key of one address (IPv4-mapped IPv6 is taken as IPv4)."""
    addr = ipaddress.ip_address(text.strip())
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return ip_to_bin(addr)


# 16-byte key + 1 (DuckDB: BLOB -> BIT -> UHUGEINT and back); only used at build time.
_INC = "unhex(lpad(to_hex(({x})::BIT::UHUGEINT + 1), 32, '0'))"


def build_index(engine: DuckDBEngine, source: str, *, prefix: str = "_cairn_ipx") -> dict[str, int]:
    """(Re)build the segment index from relation ``source``.

    ``source`` (a table or view name chosen by cairn, never by a user) has
    columns ``family, range_start, range_end, prefix_len``. Ranges may overlap
    in any way. Creates ``{prefix}_seg`` and ``{prefix}_cover``; returns row counts.
    """
    seg, cover = f"{prefix}_seg", f"{prefix}_cover"
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ipx_ranges AS
        SELECT range_start, range_end,
               CASE WHEN range_end <> ? THEN {_INC.format(x='range_end')} END AS after_end
        FROM (SELECT DISTINCT range_start, range_end FROM {source}
              WHERE range_start IS NOT NULL AND range_end IS NOT NULL AND range_start <= range_end)
        """,
        [MAX_KEY],
    )
    # Every range starts a segment and the address after its end starts the next one.
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE {seg} AS
        SELECT seg_start, CAST(row_number() OVER (ORDER BY seg_start) - 1 AS INTEGER) AS seg_id
        FROM (SELECT range_start AS seg_start FROM _ipx_ranges
              UNION SELECT after_end FROM _ipx_ranges WHERE after_end IS NOT NULL)
        ORDER BY seg_start
        """
    )
    # A range covers the contiguous run of segments from its own start to the one before
    # the segment its end closes: two equi-joins, no inequality join.
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ipx_runs AS
        SELECT r.range_start, r.range_end, a.seg_id AS lo,
               coalesce(b.seg_id - 1, (SELECT max(seg_id) FROM {seg})) AS hi
        FROM _ipx_ranges r
        JOIN {seg} a ON a.seg_start = r.range_start
        LEFT JOIN {seg} b ON b.seg_start = r.after_end
        """
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE {cover} AS
        SELECT CAST(seg_id AS INTEGER) AS seg_id, family, range_start, range_end, prefix_len FROM (
            SELECT DISTINCT unnest(range(r.lo, r.hi + 1)) AS seg_id, f.family, f.range_start, f.range_end,
                   CAST(f.prefix_len AS INTEGER) AS prefix_len
            FROM _ipx_runs r JOIN {source} f
              ON f.range_start = r.range_start AND f.range_end = r.range_end
        )
        ORDER BY seg_id
        """
    )
    for t in ("_ipx_ranges", "_ipx_runs"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return {
        "segments": int(engine.scalar(f"SELECT count(*) FROM {seg}") or 0),
        "cover": int(engine.scalar(f"SELECT count(*) FROM {cover}") or 0),
    }


def match_sql(probes: str, *, prefix: str = "_cairn_ipx") -> str:
    """SELECT of ``(ip_bin, family, range_start, range_end, prefix_len, most_specific)``.

    ``probes`` is a relation with a distinct, non-null ``ip_bin`` column. Every
    covering range of every family is returned; ``most_specific`` marks the
    longest prefix per address and family (ties: all of them).
    """
    return f"""
        SELECT ip_bin, family, range_start, range_end, prefix_len,
               prefix_len = max(prefix_len) OVER (PARTITION BY ip_bin, family) AS most_specific
        FROM (
            SELECT p.ip_bin, c.family, c.range_start, c.range_end, c.prefix_len
            FROM {probes} p
            ASOF JOIN {prefix}_seg s ON p.ip_bin >= s.seg_start
            JOIN {prefix}_cover c ON c.seg_id = s.seg_id
        )
    """
