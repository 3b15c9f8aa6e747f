"""Set-based matching of observables against indicators, warninglists and ownership tables.

Input: any relation with columns ``(type, value, ip_bin)`` — the lake's
``observables`` table, or a small registered Arrow table from ``cairn lookup``.
Only relation names chosen by cairn are put into statement text; values are
data in tables, never pasted. Output: the temp table ``<out>_matches``::

    type, value        the observable
    family             indicator | warninglist | asn | cloud | tor | special
    ref                indicator_uid, warninglist id, or the source of an ownership row
    range_start/_end   the matched range (IP families)
    matched            the indicator / entry value that matched (CIDR, parent domain, ...)
    match_kind         exact | cidr | parent_domain | url_host | substring | regex
    specificity        prefix length, or labels of the matched domain
    most_specific      the largest specificity per observable and family

IP ranges of every family go through one segment index (:mod:`cairn.intel.ranges`,
one ASOF join however they nest); single-address indicators and Tor are
equi-joins. Domains (and URL hosts) are expanded into their parent suffixes and
equi-joined, which is "a subdomain of a listed domain matches it". Substring
and regex warninglists run on the distinct observed values only.
"""

from __future__ import annotations

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.ownership.domains import suffixes_sql
from cairn.intel.ranges import INDEX_TABLES, build_index, match_sql
from cairn.intel.tables import fingerprint, table_exists

INDEX_PREFIX = "_cairn_ipx"
INDEX_FORMAT = 2
"""Layout of the index tables (2: integer-keyed ``_seg4`` / ``_seg6``, ``most_specific`` in ``_cover``);
an index built by another layout is rebuilt."""
_FULL = "(CASE WHEN ip_version = 4 THEN 32 ELSE 128 END)"

# Relation of all ranges the segment index covers (family, range_start, range_end, prefix_len).
_INDEX_SOURCE = """
    SELECT 'asn' AS family, range_start, range_end, 0 AS prefix_len FROM own_asn
    UNION ALL SELECT 'cloud', range_start, range_end, prefix_len FROM own_cloud
    UNION ALL SELECT 'special', range_start, range_end, prefix_len FROM own_special
    UNION ALL SELECT 'warninglist', range_start, range_end, prefix_len FROM warninglist_entries WHERE type = 'cidr'
"""
_INDICATOR_RANGES = f"""
    UNION ALL SELECT DISTINCT 'indicator', range_start, range_end, prefix_len FROM indicators
    WHERE type = 'ip' AND range_start IS NOT NULL AND prefix_len < {_FULL}
"""


def has_indicators(engine: DuckDBEngine) -> bool:
    """Is the feeds' ``indicators`` view there?"""
    return table_exists(engine, "indicators")


def index_fingerprint(engine: DuckDBEngine) -> str:
    """Fingerprint of everything the IP index is built from."""
    parts: list[object] = [
        INDEX_FORMAT,
        engine.rows(
            "SELECT table_name, run_id FROM _cairn_files WHERE table_name IN "
            "('own_asn', 'own_cloud', 'own_special', 'warninglist_entries') ORDER BY 1"
        )
    ]
    if has_indicators(engine):
        parts.append(engine.rows(
            f"SELECT count(*), min(feed_version), max(feed_version), count(DISTINCT feed_version), "
            f"max(loaded_at) FROM indicators WHERE type = 'ip' AND prefix_len < {_FULL}"
        ))
    return fingerprint(*parts)


def ensure_index(engine: DuckDBEngine) -> bool:
    """Build the IP segment index when missing or stale; True when it was (re)built."""
    fp = index_fingerprint(engine)
    engine.execute(f"CREATE TABLE IF NOT EXISTS {INDEX_PREFIX}_meta (fingerprint VARCHAR)")
    if engine.scalar(f"SELECT max(fingerprint) FROM {INDEX_PREFIX}_meta") == fp and all(
            table_exists(engine, f"{INDEX_PREFIX}_{t}") for t in INDEX_TABLES):
        return False
    source = _INDEX_SOURCE + (_INDICATOR_RANGES if has_indicators(engine) else "")
    engine.execute(f"CREATE OR REPLACE TEMP VIEW _ipx_source AS {source}")
    build_index(engine, "_ipx_source", prefix=INDEX_PREFIX)
    engine.execute(f"DELETE FROM {INDEX_PREFIX}_meta")
    engine.execute(f"INSERT INTO {INDEX_PREFIX}_meta VALUES (?)", [fp])
    engine.execute("DROP VIEW IF EXISTS _ipx_source")
    return True


def prepare_observables(engine: DuckDBEngine, observables: str, out: str) -> None:
    """``<out>_obs``: distinct observables with the derived match keys (domain, url host, lower value)."""
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out}_obs AS
        SELECT DISTINCT type, value, ip_bin,
               CASE WHEN type IN ('domain', 'hostname') THEN rtrim(lower(value), '.')
                    WHEN type = 'url' THEN nullif(rtrim(lower(regexp_extract(value,
                        '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^:/?#\\[\\]]*)', 1)), '.'), '')
               END AS domain,
               lower(value) AS lvalue
        FROM {observables}
        WHERE value IS NOT NULL
        """
    )


def _ip_matches(out: str, indicators: bool) -> list[str]:
    o, m = f"{out}_obs", f"{out}_ipm"
    cols = "o.type, o.value"
    parts = [
        f"""SELECT {cols}, 'warninglist', e.list, m.range_start, m.range_end, e.value, 'cidr', m.prefix_len
            FROM {m} m JOIN {o} o ON o.ip_bin = m.ip_bin
            JOIN warninglist_entries e ON e.type = 'cidr' AND e.range_start = m.range_start
                                      AND e.range_end = m.range_end
            WHERE m.family = 'warninglist'""",
        f"""SELECT {cols}, 'asn', a.source, m.range_start, m.range_end, CAST(a.asn AS VARCHAR), 'range', 0
            FROM {m} m JOIN {o} o ON o.ip_bin = m.ip_bin
            JOIN own_asn a ON a.range_start = m.range_start AND a.range_end = m.range_end
            WHERE m.family = 'asn'""",
        f"""SELECT {cols}, 'cloud', c.source, m.range_start, m.range_end, c.cidr, 'cidr', m.prefix_len
            FROM {m} m JOIN {o} o ON o.ip_bin = m.ip_bin
            JOIN own_cloud c ON c.range_start = m.range_start AND c.range_end = m.range_end
            WHERE m.family = 'cloud'""",
        f"""SELECT {cols}, 'special', s.name, m.range_start, m.range_end, s.cidr, 'cidr', m.prefix_len
            FROM {m} m JOIN {o} o ON o.ip_bin = m.ip_bin
            JOIN own_special s ON s.range_start = m.range_start AND s.range_end = m.range_end
            WHERE m.family = 'special'""",
        f"""SELECT {cols}, 'tor', t.source, t.ip_bin, t.ip_bin, t.ip, 'exact', 128
            FROM {o} o JOIN own_tor t ON t.ip_bin = o.ip_bin""",
    ]
    if indicators:
        parts += [
            f"""SELECT {cols}, 'indicator', i.indicator_uid, m.range_start, m.range_end, i.value, 'cidr',
                       m.prefix_len
                FROM {m} m JOIN {o} o ON o.ip_bin = m.ip_bin
                JOIN indicators i ON i.type = 'ip' AND i.range_start = m.range_start
                                 AND i.range_end = m.range_end
                WHERE m.family = 'indicator'""",
            f"""SELECT {cols}, 'indicator', i.indicator_uid, i.range_start, i.range_end, i.value, 'exact',
                       i.prefix_len
                FROM {o} o JOIN indicators i ON i.type = 'ip' AND i.range_start = o.ip_bin
                                            AND i.range_end = o.ip_bin
                WHERE o.ip_bin IS NOT NULL""",
        ]
    return parts


def _value_matches(out: str, indicators: bool) -> list[str]:
    o, s = f"{out}_obs", f"{out}_sfx"
    applies = "list_contains(w.observable_types, o.type)"
    kind = "CASE WHEN o.type = 'url' THEN 'url_host' WHEN s.n = s.n_labels THEN 'exact' ELSE 'parent_domain' END"
    null2 = "CAST(NULL AS BLOB), CAST(NULL AS BLOB)"
    parts = [
        f"""SELECT o.type, o.value, 'warninglist', e.list, {null2}, e.value, {kind}, s.n
            FROM {o} o JOIN {s} s ON s.domain = o.domain
            JOIN warninglist_entries e ON e.type = 'hostname' AND e.value = s.suffix
            JOIN warninglists w ON w.list = e.list AND {applies}
            WHERE w.match_subdomains OR s.n = s.n_labels OR (s.n = s.n_labels - 1 AND starts_with(s.domain, 'www.'))""",
        f"""SELECT o.type, o.value, 'warninglist', e.list, {null2}, e.value, 'exact', 1000
            FROM {o} o JOIN warninglist_entries e ON e.type = 'string' AND e.value = o.lvalue
            JOIN warninglists w ON w.list = e.list AND {applies}""",
        f"""SELECT o.type, o.value, 'warninglist', e.list, {null2}, e.value, 'substring', 0
            FROM {o} o JOIN warninglist_entries e ON e.type = 'substring' AND contains(o.lvalue, e.value)
            JOIN warninglists w ON w.list = e.list AND {applies}""",
        f"""SELECT o.type, o.value, 'warninglist', e.list, {null2}, e.value, 'regex', 0
            FROM {o} o JOIN warninglist_entries e ON e.type = 'regex' AND regexp_matches(o.value, e.value)
            JOIN warninglists w ON w.list = e.list AND {applies}""",
    ]
    if indicators:
        parts += [
            f"""SELECT o.type, o.value, 'indicator', i.indicator_uid, {null2}, i.value, {kind}, s.n
                FROM {o} o JOIN {s} s ON s.domain = o.domain
                JOIN indicators i ON i.type = 'domain' AND i.value = s.suffix""",
            f"""SELECT o.type, o.value, 'indicator', i.indicator_uid, {null2}, i.value, 'exact', 1000
                FROM {o} o JOIN indicators i ON i.type = o.type AND i.value = o.value
                WHERE o.type IN ('url', 'hash', 'email')""",
            f"""SELECT o.type, o.value, 'indicator', i.indicator_uid, {null2}, i.value, 'exact', 1000
                FROM {o} o JOIN indicators i ON i.type = o.type AND i.value = o.lvalue
                WHERE o.type IN ('hash', 'email') AND o.lvalue <> o.value""",
        ]
    return parts


def run_lookup(engine: DuckDBEngine, observables: str, out: str = "_lk") -> str:
    """Match relation ``observables`` (type, value, ip_bin); returns the name of ``<out>_matches``.

    The reference tables must exist (:func:`cairn.intel.ownership.ensure_tables`);
    the IP index is (re)built here when stale.
    """
    ensure_index(engine)
    indicators = has_indicators(engine)
    prepare_observables(engine, observables, out)
    ips = f"(SELECT ip_bin FROM {out}_obs WHERE ip_bin IS NOT NULL)"
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_ipm AS {match_sql(ips, prefix=INDEX_PREFIX, distinct=True)}")
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_sfx AS {suffixes_sql(out + '_obs', 'domain')}")
    union = "\nUNION ALL\n".join(_ip_matches(out, indicators) + _value_matches(out, indicators))
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out}_matches AS
        SELECT *, specificity = max(specificity) OVER (PARTITION BY type, value, family) AS most_specific
        FROM (
            SELECT * FROM ({union}) AS u(type, value, family, ref, range_start, range_end, matched, match_kind,
                                       specificity)
        )
        """
    )
    for t in ("_ipm", "_sfx"):
        engine.execute(f"DROP TABLE IF EXISTS {out}{t}")
    return f"{out}_matches"
