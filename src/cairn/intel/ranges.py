"""IP ranges as 16-byte keys, and the segment index that matches addresses against them in SQL.

Every range family (ASN, cloud, special-purpose, warninglist CIDRs, indicator
CIDRs) is a set of inclusive ``[range_start, range_end]`` pairs of 16-byte
big-endian addresses (IPv4 mapped into IPv6, :mod:`cairn.lake.addresses`).
Ranges nest (AWS ``AMAZON`` covers ``EC2``; a feed lists a /16 and a /24 in it),
and an ASOF join only finds *one* range per address. So the index cuts the
union of all ranges into *elementary segments* (contiguous, non-overlapping:
every range starts a segment and the address after its end starts the next),
and stores which ranges cover each segment::

    _cairn_ipx_seg(seg_start BLOB, seg_id INTEGER)          one row per segment (the stored form)
    _cairn_ipx_seg4(k UINTEGER, seg_id INTEGER)             IPv4 keys (::ffff:a.b.c.d -> a.b.c.d)
    _cairn_ipx_seg6(k UHUGEINT, seg_id INTEGER)             every other key (128-bit integer)
    _cairn_ipx_cover(seg_id, family, range_start, range_end, prefix_len, most_specific)

A lookup is then one ASOF join (``address >= start``, the segment with the
greatest start) plus an equi-join on ``seg_id``: every covering range of every
family comes back, nested ones included, with the most specific one per
family (largest ``prefix_len``, ties: all of them) marked at build time (all
addresses of a segment are covered by the same ranges).

**Keys.** The stored and public form stays the 16-byte BLOB (128-bit integers
do not survive Arrow or Spark). Inside DuckDB the index keeps derived integer
keys, because sorting BLOBs whose first 12 bytes are equal for every IPv4
address is several times slower than sorting integers: IPv4 probes (the
``::ffff:0:0/96`` block) join ``_seg4`` on a ``UINTEGER``, all others join
``_seg6`` on a ``UHUGEINT`` (``ip_bin::BIT::UHUGEINT``, computed per distinct
probe). Each keyed table holds one extra row at the start of its part of the
key space (``0.0.0.0`` for ``_seg4``, ``::1:0:0:0``, the first address after
the IPv4 block, for ``_seg6``) carrying the segment that covers that address,
so that an ASOF join over either part returns exactly the segment the BLOB
join over all segments would. :func:`match_blob_sql` is that BLOB join, kept as
the reference the tests compare the fast path with.

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
INDEX_TABLES = ("seg", "seg4", "seg6", "cover")
"""Tables ``{prefix}_<name>`` an index consists of."""

V4_BASE = 0xFFFF << 32
"""``::ffff:0.0.0.0`` as a 128-bit integer: IPv4 address ``a`` has key ``V4_BASE + a``."""
V4_TOP = V4_BASE + 0xFFFFFFFF
_BASE = f"CAST({V4_BASE} AS UHUGEINT)"
_TOP = f"CAST({V4_TOP} AS UHUGEINT)"
_MAX = f"CAST({(1 << 128) - 1} AS UHUGEINT)"
_KEY = "CAST(CAST({x} AS BIT) AS UHUGEINT)"
"""16-byte BLOB -> UHUGEINT (big-endian), inside DuckDB only."""
_BLOB = "CAST(CAST({x} AS BIT) AS BLOB)"
"""UHUGEINT -> 16-byte big-endian BLOB."""


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


def build_index(engine: DuckDBEngine, source: str, *, prefix: str = "_cairn_ipx") -> dict[str, int]:
    """(Re)build the segment index from relation ``source``.

    ``source`` (a table or view name chosen by cairn, never by a user) has
    columns ``family, range_start, range_end, prefix_len``. Ranges may overlap
    in any way; rows whose keys are not 16 bytes long are ignored. Creates the
    tables ``{prefix}_seg``, ``_seg4``, ``_seg6`` and ``_cover``; returns row counts.
    """
    seg, cover = f"{prefix}_seg", f"{prefix}_cover"
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ipx_ranges AS
        SELECT range_start, range_end, ks, CASE WHEN ke < {_MAX} THEN ke + 1 END AS ka
        FROM (SELECT range_start, range_end, {_KEY.format(x='range_start')} AS ks, {_KEY.format(x='range_end')} AS ke
              FROM (SELECT DISTINCT range_start, range_end FROM {source}
                    WHERE octet_length(range_start) = 16 AND octet_length(range_end) = 16
                      AND range_start <= range_end))
        """
    )
    # Every range starts a segment and the address after its end starts the next one.
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ipx_segk AS
        SELECT k, CAST(row_number() OVER (ORDER BY k) - 1 AS INTEGER) AS seg_id
        FROM (SELECT ks AS k FROM _ipx_ranges UNION SELECT ka FROM _ipx_ranges WHERE ka IS NOT NULL)
        """
    )
    engine.execute(f"CREATE OR REPLACE TABLE {seg} AS SELECT {_BLOB.format(x='k')} AS seg_start, seg_id "
                   f"FROM _ipx_segk ORDER BY seg_id")
    # The keyed parts, each with a row at its first address carrying the segment covering it.
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE {prefix}_seg4 AS
        SELECT CAST(k AS UINTEGER) AS k, seg_id FROM (
            SELECT k - {_BASE} AS k, seg_id FROM _ipx_segk WHERE k BETWEEN {_BASE} AND {_TOP}
            UNION ALL
            SELECT CAST(0 AS UHUGEINT), max(seg_id) FROM _ipx_segk WHERE k < {_BASE}
            HAVING max(seg_id) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _ipx_segk WHERE k = {_BASE})
        ) ORDER BY k
        """
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE {prefix}_seg6 AS
        SELECT k, seg_id FROM (
            SELECT k, seg_id FROM _ipx_segk WHERE k < {_BASE} OR k > {_TOP}
            UNION ALL
            SELECT {_TOP} + 1, max(seg_id) FROM _ipx_segk WHERE k <= {_TOP}
            HAVING max(seg_id) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _ipx_segk WHERE k = {_TOP} + 1)
        ) ORDER BY k
        """
    )
    # A range covers the contiguous run of segments from its own start to the one before
    # the segment its end closes: two equi-joins, no inequality join.
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ipx_runs AS
        SELECT r.range_start, r.range_end, a.seg_id AS lo,
               coalesce(b.seg_id - 1, (SELECT max(seg_id) FROM _ipx_segk)) AS hi
        FROM _ipx_ranges r
        JOIN _ipx_segk a ON a.k = r.ks
        LEFT JOIN _ipx_segk b ON b.k = r.ka
        """
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE {cover} AS
        SELECT seg_id, family, range_start, range_end, prefix_len,
               prefix_len = max(prefix_len) OVER (PARTITION BY seg_id, family) AS most_specific
        FROM (
            SELECT DISTINCT CAST(unnest(range(r.lo, r.hi + 1)) AS INTEGER) AS seg_id, f.family, f.range_start,
                   f.range_end, CAST(f.prefix_len AS INTEGER) AS prefix_len
            FROM _ipx_runs r JOIN {source} f
              ON f.range_start = r.range_start AND f.range_end = r.range_end
        )
        ORDER BY seg_id
        """
    )
    for t in ("_ipx_ranges", "_ipx_segk", "_ipx_runs"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return {
        "segments": int(engine.scalar(f"SELECT count(*) FROM {seg}") or 0),
        "cover": int(engine.scalar(f"SELECT count(*) FROM {cover}") or 0),
    }


def match_sql(probes: str, *, prefix: str = "_cairn_ipx", distinct: bool = False) -> str:
    """SELECT of ``(ip_bin, family, range_start, range_end, prefix_len, most_specific)``.

    ``probes`` is a relation with a non-null 16-byte ``ip_bin`` column, distinct
    unless ``distinct`` is set (then duplicates are removed on the integer key).
    Every covering range of every family is returned; ``most_specific`` marks
    the longest prefix per address and family (ties: all of them). IPv4 probes
    go through ``{prefix}_seg4`` on ``UINTEGER`` keys, the others through
    ``{prefix}_seg6`` on ``UHUGEINT`` keys; the result equals :func:`match_blob_sql`.
    """
    d = "DISTINCT " if distinct else ""
    return f"""
        WITH _k AS (SELECT {_KEY.format(x='ip_bin')} AS k FROM {probes} WHERE octet_length(ip_bin) = 16),
        _m AS (
            SELECT CAST(p.k AS UHUGEINT) + {_BASE} AS k, s.seg_id
            FROM (SELECT {d}CAST(k - {_BASE} AS UINTEGER) AS k FROM _k WHERE k BETWEEN {_BASE} AND {_TOP}) p
            ASOF JOIN {prefix}_seg4 s ON p.k >= s.k
            UNION ALL
            SELECT p.k, s.seg_id
            FROM (SELECT {d}k FROM _k WHERE k < {_BASE} OR k > {_TOP}) p
            ASOF JOIN {prefix}_seg6 s ON p.k >= s.k
        )
        SELECT {_BLOB.format(x='m.k')} AS ip_bin, c.family, c.range_start, c.range_end, c.prefix_len,
               c.most_specific
        FROM _m m JOIN {prefix}_cover c ON c.seg_id = m.seg_id
    """


def key_sql(column: str = "ip_bin") -> str:
    """SQL of the 128-bit key (``UHUGEINT``) of a 16-byte address column; NULL for any other length."""
    return f"CASE WHEN octet_length({column}) = 16 THEN {_KEY.format(x=column)} END"


def part_keys_sql(column: str = "ip_bin") -> tuple[str, str]:
    """SQL of the two keys of a 16-byte address column as :func:`split_probes` keys probes:
    ``(UINTEGER key of an IPv4 address or NULL, UHUGEINT key of any other address or NULL)``."""
    k = key_sql(column)
    return (f"CASE WHEN {k} BETWEEN {_BASE} AND {_TOP} THEN CAST({k} - {_BASE} AS UINTEGER) END",
            f"CASE WHEN {k} < {_BASE} OR {k} > {_TOP} THEN {k} END")


def split_probes(engine: DuckDBEngine, probes: str, columns: str, out: str, *, keyed: bool = False) -> None:
    """Temp tables ``{out}_p4 (<columns>, k UINTEGER)`` and ``{out}_p6 (<columns>, k UHUGEINT)``.

    ``probes`` is a relation (a name cairn chose) with a column ``ip_bin`` and the comma-separated
    ``columns`` to carry along; rows whose ``ip_bin`` is not 16 bytes long are left out. The key is
    computed once per row, or read from the relation's column ``k`` (:func:`key_sql`) when ``keyed``.
    Both parts are materialised so that the engine knows their exact size when it plans the ASOF
    joins of :func:`segments_sql` (over an estimated size it may pick a nested-loop ASOF plan, ~100x
    slower on thousands of probes).
    """
    src = probes if keyed else f"(SELECT {columns}, {key_sql()} AS k FROM {probes})"
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_p4 AS SELECT {columns}, CAST(k - {_BASE} AS UINTEGER) AS k "
                   f"FROM {src} WHERE k BETWEEN {_BASE} AND {_TOP}")
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_p6 AS SELECT {columns}, k FROM {src} "
                   f"WHERE k < {_BASE} OR k > {_TOP}")


def segments_sql(out: str, columns: str, *, prefix: str = "_cairn_ipx") -> str:
    """SELECT ``(<columns>, seg_id)``: the segment of every probe split by :func:`split_probes`.

    Probes before the first segment start are left out (no range covers them)."""
    cols = ", ".join(f"p.{c.strip()}" for c in columns.split(","))
    return f"""
        SELECT {cols}, s.seg_id FROM {out}_p4 p ASOF JOIN {prefix}_seg4 s ON p.k >= s.k
        UNION ALL
        SELECT {cols}, s.seg_id FROM {out}_p6 p ASOF JOIN {prefix}_seg6 s ON p.k >= s.k
    """


def match_blob_sql(probes: str, *, prefix: str = "_cairn_ipx") -> str:
    """:func:`match_sql` the slow way, kept as its reference: one ASOF join on the 16-byte BLOB
    segment starts, and ``most_specific`` computed per address (``probes`` distinct)."""
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
