"""Indicators as enrichment sees them: every indicator of each source's current version with its
validity window, and the set-based matching of distinct observed values against them.

The ``indicators`` view leaves out what has expired *now*; enrichment is time-aware instead, so it
reads the same current-version files without that filter and keeps, per indicator::

    valid_from   STIX valid_from (null: no lower bound)
    valid_end    least(valid_until, basis + max_age_days)   (null: never ends)
    basis        coalesce(last_seen, valid_from, first_seen, loaded_at)
    half_life    the source's decay half-life in days (null: no decay)

An indicator matches an event at time ``T`` when ``valid_from <= T`` (or no valid_from) and
``T < valid_end`` (or no end). Its confidence at ``T`` is ``round(confidence * 0.5 ^ (age / half_life))``
with ``age = max(0, T - basis)`` in days (docs/enrich.md, "Time-aware matching").

The table ``_cairn_enx_ind`` and a segment index of its CIDRs (``_cairn_enx_*``, the
:mod:`cairn.intel.ranges` layout) are rebuilt when the current feed versions or their policies change.
"""

from __future__ import annotations

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.feed_tables import BASIS, EXPIRES_AT, INTEL_INDICATORS
from cairn.intel.ownership.domains import suffixes_sql
from cairn.intel.ranges import INDEX_TABLES, build_index, match_sql
from cairn.intel.tables import built_from, fingerprint, record_build, table_exists

IND_TABLE = "_cairn_enx_ind"
INDEX_PREFIX = "_cairn_enx"
FORMAT = 1
_FULL = "(CASE WHEN ip_version = 4 THEN 32 ELSE 128 END)"
_COLS = ("indicator_uid, source, feed_version, type, value, range_start, range_end, prefix_len, ip_version, "
         "valid_from, confidence, severity, threat_type, malware_family, tags, reference, detect, last_seen, "
         "first_seen")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def intel_fingerprint(engine: DuckDBEngine) -> str:
    """Fingerprint of the current feed versions and their lifecycle policies."""
    if not table_exists(engine, "_intel_feed_versions"):
        return fingerprint(FORMAT, "no-feeds")
    return fingerprint(FORMAT, engine.rows(
        "SELECT source, feed_version, max_age_days, decay_half_life_days FROM _intel_feed_versions "
        "WHERE is_current ORDER BY source, feed_version"))


def _source_sql(engine: DuckDBEngine, lake: str) -> str:
    files = [] if not table_exists(engine, "_intel_feed_versions") else [
        r[0] for r in engine.rows(
            "SELECT f.path FROM _cairn_files f JOIN _intel_feed_versions v ON f.run_id = v.feed_version "
            "WHERE f.table_name = 'intel_indicators' AND v.is_current ORDER BY f.path")]
    typed = ", ".join(f"CAST(NULL AS {c.type}) AS {c.name}" for c in INTEL_INDICATORS.columns)
    if not files:
        return (f"SELECT {_COLS}, CAST(NULL AS TIMESTAMPTZ) AS valid_end, CAST(NULL AS TIMESTAMPTZ) AS basis, "
                f"CAST(NULL AS DOUBLE) AS half_life FROM (SELECT {typed}) WHERE false")
    listing = ", ".join(_q(f"{lake}/{f}") for f in files)
    cols = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in INTEL_INDICATORS.columns)
    sel = ", ".join(f"i.{c.strip()}" for c in _COLS.split(","))
    return (
        f"SELECT {sel}, {EXPIRES_AT} AS valid_end, {BASIS} AS basis, "
        f"CASE WHEN v.decay_half_life_days > 0 THEN v.decay_half_life_days END AS half_life "
        f"FROM (SELECT {cols} FROM read_parquet([{listing}], hive_partitioning = true, union_by_name = true)) i "
        f"JOIN _intel_feed_versions v ON v.feed_version = i.feed_version"
    )


def ensure_indicators(engine: DuckDBEngine, lake: str) -> bool:
    """Build ``_cairn_enx_ind`` and its CIDR index when missing or stale; True when (re)built."""
    fp = intel_fingerprint(engine)
    if built_from(engine, f"{INDEX_PREFIX}_meta", fp, [IND_TABLE, *(f"{INDEX_PREFIX}_{t}" for t in INDEX_TABLES)]):
        return False
    engine.execute(f"CREATE OR REPLACE TABLE {IND_TABLE} AS {_source_sql(engine, lake)} ORDER BY type, value")
    engine.execute(
        f"CREATE OR REPLACE TEMP VIEW _enx_source AS SELECT DISTINCT 'indicator' AS family, range_start, range_end, "
        f"prefix_len FROM {IND_TABLE} WHERE type = 'ip' AND range_start IS NOT NULL AND prefix_len < {_FULL}")
    build_index(engine, "_enx_source", prefix=INDEX_PREFIX)
    engine.execute("DROP VIEW IF EXISTS _enx_source")
    record_build(engine, f"{INDEX_PREFIX}_meta", fp)
    return True


def match_values_sql(obs: str, sfx: str) -> str:
    """SELECT ``(type, value, indicator_uid, matched, match_kind, specificity)``: every indicator matching
    each distinct observed value of ``obs`` (``type, value, ip_bin, domain, lvalue``, the shape of
    :func:`cairn.intel.lookup.prepare_observables`), whatever its validity window; ``sfx`` holds the
    parent suffixes of ``obs.domain`` and ``<obs>_ips`` the distinct addresses (materialised: see
    :func:`cairn.intel.lookup.run_lookup`). Rules as in :mod:`cairn.intel.lookup`."""
    i = IND_TABLE
    kind = "CASE WHEN o.type = 'url' THEN 'url_host' WHEN s.n = s.n_labels THEN 'exact' ELSE 'parent_domain' END"
    return f"""
        SELECT o.type, o.value, i.indicator_uid, i.value AS matched, 'cidr' AS match_kind, m.prefix_len AS specificity
        FROM ({match_sql(f"{obs}_ips", prefix=INDEX_PREFIX)}) m
        JOIN {obs} o ON o.ip_bin = m.ip_bin
        JOIN {i} i ON i.type = 'ip' AND i.range_start = m.range_start AND i.range_end = m.range_end
        UNION ALL
        SELECT o.type, o.value, i.indicator_uid, i.value, 'exact', i.prefix_len
        FROM {obs} o JOIN {i} i ON i.type = 'ip' AND i.range_start = o.ip_bin AND i.range_end = o.ip_bin
        WHERE o.ip_bin IS NOT NULL
        UNION ALL
        SELECT o.type, o.value, i.indicator_uid, i.value, {kind}, s.n
        FROM {obs} o JOIN {sfx} s ON s.domain = o.domain
        JOIN {i} i ON i.type = 'domain' AND i.value = s.suffix
        UNION ALL
        SELECT o.type, o.value, i.indicator_uid, i.value, 'exact', 1000
        FROM {obs} o JOIN {i} i ON i.type = o.type AND i.value = o.value
        WHERE o.type IN ('url', 'hash', 'email')
        UNION ALL
        SELECT o.type, o.value, i.indicator_uid, i.value, 'exact', 1000
        FROM {obs} o JOIN {i} i ON i.type = o.type AND i.value = o.lvalue
        WHERE o.type IN ('hash', 'email') AND o.lvalue <> o.value
    """


def create_value_matches(engine: DuckDBEngine, obs: str, out: str) -> str:
    """Temp table ``<out>`` of :func:`match_values_sql` over ``obs``; returns its name."""
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {obs}_ips AS SELECT DISTINCT ip_bin FROM {obs} WHERE ip_bin IS NOT NULL")
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_sfx AS {suffixes_sql(obs, 'domain')}")
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS {match_values_sql(obs, out + '_sfx')}")
    engine.execute(f"DROP TABLE IF EXISTS {out}_sfx")
    engine.execute(f"DROP TABLE IF EXISTS {obs}_ips")
    return out
