"""Set-based matching of observables against indicators, warninglists and ownership tables.

Input: any relation with columns ``(type, value, ip_bin)`` — the lake's
``observables`` table, or a small registered Arrow table from ``cairn lookup``.
Only relation names chosen by cairn are put into statement text; values are
data in tables, never pasted. Output: the temp tables ``<out>_obs`` (one row per distinct
``(type, value)``, with the derived match keys) and ``<out>_matches``, keyed by the integer ``obs_id``
(the ``rowid`` of ``<out>_obs``: the match rows carry no observable text, readers join
``<out>_obs`` once per row they keep; :func:`matches_text_sql` does it for all of them)::

    obs_id             rowid of the observable in <out>_obs
    family             indicator | warninglist | asn | cloud | tor | special
    ref                indicator_uid, warninglist id, or the source of an ownership row
    range_start/_end   the matched range (IP families)
    matched            the indicator / entry value that matched (CIDR, parent domain, ...)
    match_kind         exact | cidr | parent_domain | url_host | substring | regex
    specificity        prefix length, or labels of the matched domain
    most_specific      the largest specificity per observable and family

IP ranges of every family go through one segment index (:mod:`cairn.intel.ranges`,
one ASOF join however they nest). The index build also writes ``_cairn_ipx_hit``:
each segment's match rows (family, ref, range, matched value, specificity and
the most specific flag within the family) already joined to the ownership,
warninglist and indicator tables, so a lookup is the ASOF join plus one
equi-join on the integer ``seg_id``. Single-address indicators (copied into
``_cairn_ipx_exact`` when the feeds change, so a lookup does not scan the feeds)
and Tor are equi-joins. Each family of value matches runs only when the
observables hold a type it applies to. Domains (and URL hosts) are expanded into their parent suffixes and
equi-joined, which is "a subdomain of a listed domain matches it". Substring
and regex warninglists run on the distinct observed values only.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.ownership.domains import suffixes_sql
from cairn.intel.ranges import INDEX_TABLES, build_index, key_sql, part_keys_sql, segments_sql, split_probes
from cairn.intel.tables import built_from, fingerprint, record_build, table_exists

INDEX_PREFIX = "_cairn_ipx"
INDEX_FORMAT = 3
"""Layout of the index tables (2: integer-keyed ``_seg4`` / ``_seg6``, ``most_specific`` in ``_cover``;
3: plus ``_hit``); an index built by another layout is rebuilt."""
LOOKUP_TABLES = (*INDEX_TABLES, "hit")
"""Tables ``_cairn_ipx_<name>`` of the lookup index."""
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

# The match rows of every segment: cover rows joined to the table each range came from (one row per
# entry with that range). Columns as <out>_matches without type/value, plus seg_id.
_HIT_COLS = "seg_id, family, ref, range_start, range_end, matched, match_kind, specificity, most_specific"
_HIT_PARTS = {
    "warninglist": """SELECT c.seg_id, c.family, e.list, c.range_start, c.range_end, e.value, 'cidr', c.prefix_len,
                             c.most_specific
                      FROM {cover} c JOIN warninglist_entries e ON e.type = 'cidr' AND e.range_start = c.range_start
                                                                AND e.range_end = c.range_end
                      WHERE c.family = 'warninglist'""",
    "asn": """SELECT c.seg_id, c.family, a.source, c.range_start, c.range_end, CAST(a.asn AS VARCHAR), 'range', 0, true
              FROM {cover} c JOIN own_asn a ON a.range_start = c.range_start AND a.range_end = c.range_end
              WHERE c.family = 'asn'""",
    "cloud": """SELECT c.seg_id, c.family, x.source, c.range_start, c.range_end, x.cidr, 'cidr', c.prefix_len,
                       c.most_specific
                FROM {cover} c JOIN own_cloud x ON x.range_start = c.range_start AND x.range_end = c.range_end
                WHERE c.family = 'cloud'""",
    "special": """SELECT c.seg_id, c.family, s.name, c.range_start, c.range_end, s.cidr, 'cidr', c.prefix_len,
                         c.most_specific
                  FROM {cover} c JOIN own_special s ON s.range_start = c.range_start AND s.range_end = c.range_end
                  WHERE c.family = 'special'""",
    "indicator": """SELECT c.seg_id, c.family, i.indicator_uid, c.range_start, c.range_end, i.value, 'cidr',
                           c.prefix_len, c.most_specific
                    FROM {cover} c JOIN indicators i ON i.type = 'ip' AND i.range_start = c.range_start
                                                    AND i.range_end = c.range_end
                    WHERE c.family = 'indicator'""",
}


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
        parts.append(_feed_state(engine, f"type = 'ip' AND prefix_len < {_FULL}"))
    return fingerprint(*parts)


def _feed_state(engine: DuckDBEngine, where: str) -> list[tuple]:
    """What changes when feeds holding the ``indicators`` rows matching ``where`` are loaded or replaced."""
    return engine.rows(
        f"SELECT count(*), min(feed_version), max(feed_version), count(DISTINCT feed_version), "
        f"max(loaded_at) FROM indicators WHERE {where}"
    )


def ensure_index(engine: DuckDBEngine) -> bool:
    """Build the IP segment index when missing or stale; True when it was (re)built."""
    fp = index_fingerprint(engine)
    if built_from(engine, f"{INDEX_PREFIX}_meta", fp, (f"{INDEX_PREFIX}_{t}" for t in LOOKUP_TABLES)):
        return False
    indicators = has_indicators(engine)
    source = _INDEX_SOURCE + (_INDICATOR_RANGES if indicators else "")
    engine.execute(f"CREATE OR REPLACE TEMP VIEW _ipx_source AS {source}")
    build_index(engine, "_ipx_source", prefix=INDEX_PREFIX)
    parts = [sql.format(cover=f"{INDEX_PREFIX}_cover") for family, sql in _HIT_PARTS.items()
             if indicators or family != "indicator"]
    engine.execute(f"CREATE OR REPLACE TABLE {INDEX_PREFIX}_hit AS SELECT * FROM ({' UNION ALL '.join(parts)}) "
                   f"AS h({_HIT_COLS}) ORDER BY seg_id")
    record_build(engine, f"{INDEX_PREFIX}_meta", fp)
    engine.execute("DROP VIEW IF EXISTS _ipx_source")
    return True


EXACT_TABLE = f"{INDEX_PREFIX}_exact"
"""Single-address IP indicators (a copy of their rows in ``indicators``), keyed as the probes of
:func:`cairn.intel.ranges.split_probes` are: ``k4`` (IPv4) or ``k6`` (any other address)."""
_EXACT_WHERE = f"type = 'ip' AND range_start IS NOT NULL AND prefix_len = {_FULL}"


def ensure_exact(engine: DuckDBEngine) -> None:
    """Build :data:`EXACT_TABLE` when missing or stale (feeds loaded or replaced since); needs ``indicators``."""
    fp, meta = fingerprint(3, _feed_state(engine, _EXACT_WHERE)), f"{EXACT_TABLE}_meta"
    if built_from(engine, meta, fp, [EXACT_TABLE]):
        return
    k4, k6 = part_keys_sql("range_start")
    engine.execute(f"CREATE OR REPLACE TABLE {EXACT_TABLE} AS SELECT {k4} AS k4, {k6} AS k6, indicator_uid, "
                   f"range_start AS ip_bin, value, prefix_len FROM indicators WHERE {_EXACT_WHERE} "
                   f"ORDER BY range_start")
    record_build(engine, meta, fp)


def prepare_observables(engine: DuckDBEngine, observables: str, out: str) -> None:
    """``<out>_obs``: the distinct observables with the derived match keys (domain, url host, lower value,
    and ``k``, the 128-bit key of the address for the range index); its ``rowid`` is the ``obs_id`` of
    the match rows.

    ``ip_bin`` is the address ``value`` names (as every relation cairn builds has it), so an observable
    is one row. The keys are derived after ``DISTINCT`` (once per distinct value, not per row).
    """
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out}_obs AS
        SELECT type, value, ip_bin,
               CASE WHEN type IN ('domain', 'hostname') THEN rtrim(lower(value), '.')
                    WHEN type = 'url' THEN nullif(rtrim(lower(regexp_extract(value,
                        '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^:/?#\\[\\]]*)', 1)), '.'), '')
               END AS domain,
               lower(value) AS lvalue,
               {key_sql()} AS k
        FROM (SELECT DISTINCT type, value, ip_bin FROM {observables} WHERE value IS NOT NULL)
        """
    )


@dataclass(frozen=True)
class _Present:
    """What the distinct observables hold, so that match families with nothing to match are skipped."""

    types: frozenset[str]
    domains: bool
    addresses: bool
    networks: bool
    """IP values that are no single address (CIDRs)."""

    @classmethod
    def of(cls, engine: DuckDBEngine, obs: str) -> _Present:
        rows = engine.rows(f"SELECT DISTINCT type, domain IS NOT NULL, k IS NOT NULL FROM {obs}")
        return cls(frozenset(r[0] for r in rows), any(r[1] for r in rows), any(r[2] for r in rows),
                   any(r[0] == "ip" and not r[2] for r in rows))


def _exact_keys(engine: DuckDBEngine, out: str) -> None:
    """``<out>_ex (obs_id, r)``: the single-address indicators (``rowid`` in :data:`EXACT_TABLE`) of each
    split probe, joined on the integer keys alone (their text is read for these rows only)."""
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out}_ex AS
        SELECT p.obs_id, i.rowid AS r FROM {out}_p4 p JOIN {EXACT_TABLE} i ON i.k4 = p.k
        UNION ALL
        SELECT p.obs_id, i.rowid FROM {out}_p6 p JOIN {EXACT_TABLE} i ON i.k6 = p.k"""
    )


def _ip_matches(out: str, indicators: bool) -> list[str]:
    """Equi-joins on the address: Tor exit nodes and single-address indicators (``<out>_ex``; ranges:
    ``_hit``)."""
    parts = [
        f"""SELECT o.rowid, 'tor', t.source, t.ip_bin, t.ip_bin, t.ip, 'exact', 128
            FROM {out}_obs o JOIN own_tor t ON t.ip_bin = o.ip_bin""",
    ]
    if indicators:
        parts.append(
            f"""SELECT x.obs_id, 'indicator', i.indicator_uid, i.ip_bin, i.ip_bin, i.value, 'exact', i.prefix_len
                FROM {out}_ex x JOIN {EXACT_TABLE} i ON i.rowid = x.r""")
    return parts


def _value_matches(out: str, indicators: bool, present: _Present) -> list[str]:
    """Matches on names, URLs, hashes and strings: warninglists always, indicators per type present."""
    o, s = f"{out}_obs", f"{out}_sfx"
    applies = "list_contains(w.observable_types, o.type)"
    kind = "CASE WHEN o.type = 'url' THEN 'url_host' WHEN s.n = s.n_labels THEN 'exact' ELSE 'parent_domain' END"
    null2 = "CAST(NULL AS BLOB), CAST(NULL AS BLOB)"
    parts = [] if not present.domains else [
        f"""SELECT o.rowid, 'warninglist', e.list, {null2}, e.value, {kind}, s.n
            FROM {o} o JOIN {s} s ON s.domain = o.domain
            JOIN warninglist_entries e ON e.type = 'hostname' AND e.value = s.suffix
            JOIN warninglists w ON w.list = e.list AND {applies}
            WHERE w.match_subdomains OR s.n = s.n_labels OR (s.n = s.n_labels - 1 AND starts_with(s.domain, 'www.'))"""]
    parts += [
        f"""SELECT o.rowid, 'warninglist', e.list, {null2}, e.value, 'exact', 1000
            FROM {o} o JOIN warninglist_entries e ON e.type = 'string' AND e.value = o.lvalue
            JOIN warninglists w ON w.list = e.list AND {applies}""",
        f"""SELECT o.rowid, 'warninglist', e.list, {null2}, e.value, 'substring', 0
            FROM {o} o JOIN warninglist_entries e ON e.type = 'substring' AND contains(o.lvalue, e.value)
            JOIN warninglists w ON w.list = e.list AND {applies}""",
        f"""SELECT o.rowid, 'warninglist', e.list, {null2}, e.value, 'regex', 0
            FROM {o} o JOIN warninglist_entries e ON e.type = 'regex' AND regexp_matches(o.value, e.value)
            JOIN warninglists w ON w.list = e.list AND {applies}""",
    ]
    if not indicators:
        return parts
    if present.domains:
        parts.append(
            f"""SELECT o.rowid, 'indicator', i.indicator_uid, {null2}, i.value, {kind}, s.n
                FROM {o} o JOIN {s} s ON s.domain = o.domain
                JOIN indicators i ON i.type = 'domain' AND i.value = s.suffix""")
    if present.networks:  # a CIDR looked up matches the indicator of that same network
        parts.append(
            f"""SELECT o.rowid, 'indicator', i.indicator_uid, i.range_start, i.range_end, i.value, 'exact',
                       i.prefix_len
                FROM {o} o JOIN indicators i ON i.type = 'ip' AND i.value = o.value
                WHERE o.type = 'ip' AND o.k IS NULL""")
    if present.types & {"url", "hash", "email"}:
        parts.append(
            f"""SELECT o.rowid, 'indicator', i.indicator_uid, {null2}, i.value, 'exact', 1000
                FROM {o} o JOIN indicators i ON i.type = o.type AND i.value = o.value
                WHERE o.type IN ('url', 'hash', 'email')""")
    if present.types & {"hash", "email"}:
        parts.append(
            f"""SELECT o.rowid, 'indicator', i.indicator_uid, {null2}, i.value, 'exact', 1000
                FROM {o} o JOIN indicators i ON i.type = o.type AND i.value = o.lvalue
                WHERE o.type IN ('hash', 'email') AND o.lvalue <> o.value""")
    return parts


_COLS = "obs_id, family, ref, range_start, range_end, matched, match_kind, specificity"


def run_lookup(engine: DuckDBEngine, observables: str, out: str = "_lk") -> str:
    """Match relation ``observables`` (type, value, ip_bin); returns the name of ``<out>_matches``.

    The reference tables must exist (:func:`cairn.intel.ownership.ensure_tables`);
    the IP index is (re)built here when stale. Range matches come with their
    most-specific flag from the index (``_cairn_ipx_hit``); only the other matches
    (exact addresses, Tor, names, URLs, hashes: usually few) are ranked here, and a
    range match stays most specific unless such a match of its family is more specific.
    Observables travel as their integer ``obs_id`` (text is carried by no join and no sort).
    The work tables carry no row order (``preserve_insertion_order`` is off meanwhile: ~10% faster).
    """
    with engine.unordered():
        return _run_lookup(engine, observables, out)


def matches_text_sql(out: str) -> str:
    """SELECT of ``<out>_matches`` with the observable's ``type`` and ``value`` in place of ``obs_id``."""
    return (f"SELECT o.type, o.value, m.* EXCLUDE (obs_id) FROM {out}_matches m "
            f"JOIN {out}_obs o ON o.rowid = m.obs_id")


def _run_lookup(engine: DuckDBEngine, observables: str, out: str) -> str:
    ensure_index(engine)
    indicators = has_indicators(engine)
    prepare_observables(engine, observables, out)
    m = f"{out}_matches"
    split_probes(engine, f"(SELECT rowid AS obs_id, k FROM {out}_obs)", "obs_id", out, keyed=True)
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE {m} AS
        SELECT p.obs_id, {", ".join("h." + c for c in _COLS.split(", ")[1:])}, h.most_specific
        FROM ({segments_sql(out, "obs_id", prefix=INDEX_PREFIX)}) p
        JOIN {INDEX_PREFIX}_hit h ON h.seg_id = p.seg_id"""
    )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_sfx AS {suffixes_sql(out + '_obs', 'domain')}")
    present = _Present.of(engine, f"{out}_obs")
    if indicators and present.addresses:
        ensure_exact(engine)
        _exact_keys(engine, out)
    parts = (_ip_matches(out, indicators) if present.addresses else []) + _value_matches(out, indicators, present)
    union = "\nUNION ALL\n".join(parts)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_oth AS SELECT * FROM ({union}) AS u({_COLS})")
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_om AS SELECT obs_id, family, max(specificity) AS mx "
                   f"FROM {out}_oth GROUP BY ALL")
    if engine.scalar(f"SELECT count(*) FROM {out}_om"):
        # Ranked together with the range matches of the same observable and family: those rows of the
        # few observables concerned first (by the integer obs_id), then the outranked ones by rowid.
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_rmr AS SELECT rowid AS r, obs_id, family, specificity, "
                       f"most_specific FROM {m} WHERE obs_id IN (SELECT obs_id FROM {out}_om)")
        engine.execute(
            f"""CREATE OR REPLACE TEMP TABLE {out}_rm AS SELECT obs_id, family, max(specificity) AS mx
            FROM {out}_rmr SEMI JOIN {out}_om USING (obs_id, family) GROUP BY ALL"""
        )
        engine.execute(
            f"""UPDATE {m} SET most_specific = false WHERE rowid IN (
                SELECT x.r FROM {out}_rmr x JOIN {out}_om o USING (obs_id, family)
                WHERE x.most_specific AND x.specificity < o.mx)"""
        )
        engine.execute(
            f"""INSERT INTO {m} SELECT x.*, x.specificity >= greatest(o.mx, coalesce(r.mx, o.mx))
            FROM {out}_oth x JOIN {out}_om o USING (obs_id, family)
            LEFT JOIN {out}_rm r USING (obs_id, family)"""
        )
    for t in ("_sfx", "_oth", "_om", "_rm", "_rmr", "_ex", "_p4", "_p6"):
        engine.execute(f"DROP TABLE IF EXISTS {out}{t}")
    return f"{out}_matches"
