"""The feed tables of the workspace: specs, the versions table, and the derived views.

- ``intel_indicators``: every stored feed version (history), Parquet under
  ``lake/intel_indicators/source=<name>/feed_version=<v>/``; a match can name the version
  it came from.
- ``intel_rejects``: entries of feed loads that did not become indicators (parse errors,
  unsupported, invalid values, sanity checks) with locator, reason and raw text.
- ``intel_feed_versions``: one row per load (view over the native table
  ``_intel_feed_versions``): origin, format, content hash, ETag, counts, lifecycle policy.
- ``indicators``: the *current* version of each source without expired indicators, plus
  ``effective_confidence`` (decayed with age) and ``expires_at``; this is what lookups join.

Lifecycle, computed in SQL at query time (``now()``):

    basis        = coalesce(last_seen, valid_from, first_seen, loaded_at)
    age_days     = max(0, now - basis) in days
    expires_at   = least(valid_until, basis + max_age_days)        (null = never)
    effective_confidence = round(confidence * 0.5 ^ (age_days / decay_half_life_days))

``max_age_days`` and ``decay_half_life_days`` are per source (``[intel.feeds.NAME]``); 0 or
unset means no age limit / no decay. An indicator is in ``indicators`` while
``expires_at`` is null or in the future and ``valid_from`` is null or past (STIX: not valid before).
"""

from __future__ import annotations

from typing import Any

from cairn.lake.schema import Column, TableSpec

VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS _intel_feed_versions (
    source VARCHAR NOT NULL,
    feed_version VARCHAR NOT NULL PRIMARY KEY,
    is_current BOOLEAN NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    checked_at TIMESTAMPTZ,
    origin VARCHAR,
    format VARCHAR,
    content_hash VARCHAR,
    settings_hash VARCHAR,
    etag VARCHAR,
    last_modified VARCHAR,
    parsed BIGINT, loaded BIGINT, duplicates BIGINT, rejected BIGINT, unsupported BIGINT,
    sanity_dropped BIGINT, added BIGINT, removed BIGINT, unchanged BIGINT,
    internal BOOLEAN,
    max_age_days DOUBLE,
    decay_half_life_days DOUBLE,
    seconds DOUBLE,
    meta JSON
)
"""

_INDICATOR_COLUMNS = (
    Column("indicator_uid", "VARCHAR", "sha256 of source, type, value and port: stable across versions"),
    Column("source", "VARCHAR", "Feed name (partition)"),
    Column("feed_version", "VARCHAR", "Load that produced the row (partition)"),
    Column("type", "VARCHAR", "ip, domain, url, hash or email"),
    Column("value", "VARCHAR", "Canonical value (IP/CIDR text, lower-case IDNA domain, URL, hex hash, e-mail)"),
    Column("hash_type", "VARCHAR", "md5, sha1, sha256 or sha512 (type hash)"),
    Column("range_start", "BLOB", "First address, 16-byte big-endian, IPv4 as ::ffff:a.b.c.d (type ip)"),
    Column("range_end", "BLOB", "Last address, same form (type ip)"),
    Column("prefix_len", "INTEGER", "CIDR prefix in the address's own family (32/128 = one address)"),
    Column("ip_version", "TINYINT", "4 or 6 (type ip)"),
    Column("port", "INTEGER", "Port of ip:port / domain:port indicators"),
    Column("first_seen", "TIMESTAMPTZ", "First seen (feed)"),
    Column("last_seen", "TIMESTAMPTZ", "Last seen (feed)"),
    Column("valid_from", "TIMESTAMPTZ", "Valid from (STIX)"),
    Column("valid_until", "TIMESTAMPTZ", "Valid until: expires after it"),
    Column("confidence", "INTEGER", "0-100 as stated by the feed (or the source default)"),
    Column("severity", "VARCHAR", "informational, low, medium, high, critical"),
    Column("threat_type", "VARCHAR", "malware, c2, malicious, suspicious, mass_scanner, ..."),
    Column("malware_family", "VARCHAR[]", "Malware families"),
    Column("tags", "VARCHAR[]", "Tags and labels"),
    Column("reference", "VARCHAR", "Report URL or event/indicator id"),
    Column("tlp", "VARCHAR", "clear, green, amber, amber+strict, red"),
    Column("detect", "BOOLEAN", "False = context only (MISP to_ids false, STIX benign)"),
    Column("locator", "VARCHAR", "Where in the feed (line N, indicator id, event/attribute uuid)"),
    Column("loaded_at", "TIMESTAMPTZ", "When the feed version was loaded"),
)

INTEL_INDICATORS = TableSpec(
    name="intel_indicators",
    doc="Threat-intel indicators of every stored feed version (history; see 'indicators' for current)",
    columns=_INDICATOR_COLUMNS,
    key_column="indicator_uid",
    time_column="loaded_at",
    partition_column="source",
    extra_partitions=("feed_version",),
    sort_columns=("type", "value"),
)

INTEL_REJECTS = TableSpec(
    name="intel_rejects",
    doc="Feed entries that did not become indicators, with locator, reason and raw text",
    columns=(
        Column("source", "VARCHAR", "Feed name (partition)"),
        Column("feed_version", "VARCHAR", "Load (partition)"),
        Column("kind", "VARCHAR", "parse, unsupported, normalize or sanity"),
        Column("locator", "VARCHAR", "Where in the feed"),
        Column("reason", "VARCHAR", "Why"),
        Column("raw", "VARCHAR", "The entry as found (cut at 4 KB)"),
        Column("rejected_at", "TIMESTAMPTZ", "Load time"),
    ),
    key_column="",
    time_column="rejected_at",
    partition_column="source",
    extra_partitions=("feed_version",),
    sort_columns=("kind", "locator"),
)

_VERSION_COLUMNS = (
    Column("source", "VARCHAR", "Feed name"),
    Column("feed_version", "VARCHAR", "Version id of the load"),
    Column("is_current", "BOOLEAN", "The version 'indicators' shows for the source"),
    Column("loaded_at", "TIMESTAMPTZ", "When it was loaded"),
    Column("checked_at", "TIMESTAMPTZ", "Last time the feed was found unchanged"),
    Column("origin", "VARCHAR", "File, folder or URL"),
    Column("format", "VARCHAR", "Parser"),
    Column("content_hash", "VARCHAR", "sha256 of the content (MISP feeds: of the manifest)"),
    Column("etag", "VARCHAR", "HTTP ETag"),
    Column("last_modified", "VARCHAR", "HTTP Last-Modified"),
    Column("parsed", "BIGINT", "Entries read as indicators: rows produced plus entries the parser could not read"),
    Column("loaded", "BIGINT", "Distinct indicators stored"),
    Column("duplicates", "BIGINT", "Rows merged into another with the same indicator_uid"),
    Column("rejected", "BIGINT", "Entries the parser could not read plus invalid values"),
    Column("unsupported", "BIGINT", "Entries cairn cannot represent"),
    Column("sanity_dropped", "BIGINT", "Refused by the sanity checks"),
    Column("added", "BIGINT", "Indicators not in the previous current version"),
    Column("removed", "BIGINT", "Indicators of the previous current version no longer listed"),
    Column("unchanged", "BIGINT", "Indicators in both"),
    Column("internal", "BOOLEAN", "Source lists internal addresses (special-range check off)"),
    Column("max_age_days", "DOUBLE", "Age limit of indicators (null = none)"),
    Column("decay_half_life_days", "DOUBLE", "Confidence half-life (null = no decay)"),
    Column("seconds", "DOUBLE", "Load time"),
    Column("meta", "JSON", "Parser facts: skipped counts, preset, reject reasons"),
)

BASIS = "coalesce(i.last_seen, i.valid_from, i.first_seen, i.loaded_at)"
AGE_DAYS = f"greatest(0.0, epoch(now() - {BASIS}) / 86400.0)"
EXPIRES_AT = (
    f"least(i.valid_until, CASE WHEN v.max_age_days > 0 THEN {BASIS} + "
    f"to_microseconds(CAST(v.max_age_days * 86400000000 AS BIGINT)) END)"
)
EFFECTIVE_CONFIDENCE = (
    f"CAST(round(i.confidence * CASE WHEN v.decay_half_life_days > 0 "
    f"THEN pow(0.5, {AGE_DAYS} / v.decay_half_life_days) ELSE 1.0 END) AS INTEGER)"
)


def _exists(catalog: Any, name: str) -> bool:
    return bool(catalog.engine.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))


def _versions_view(catalog: Any) -> str:
    if not _exists(catalog, "_intel_feed_versions"):
        return INTEL_FEED_VERSIONS.empty_select()
    return f"SELECT {', '.join(c.name for c in _VERSION_COLUMNS)} FROM _intel_feed_versions"


def _indicators_view(catalog: Any) -> str:
    """SELECT over exactly the files of the current versions (no scan of the history)."""
    if not _exists(catalog, "_intel_feed_versions"):
        return INDICATORS.empty_select()
    files = [
        str(catalog.lake_root / r[0])
        for r in catalog.engine.rows(
            "SELECT f.path FROM _cairn_files f JOIN _intel_feed_versions v ON f.run_id = v.feed_version "
            "WHERE f.table_name = 'intel_indicators' AND v.is_current ORDER BY f.path"
        )
    ]
    if not files:
        return INDICATORS.empty_select()
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    cols = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in _INDICATOR_COLUMNS)
    return (
        f"SELECT i.*, {EFFECTIVE_CONFIDENCE} AS effective_confidence, {AGE_DAYS} AS age_days, "
        f"{EXPIRES_AT} AS expires_at "
        f"FROM (SELECT {cols} FROM read_parquet([{listing}], hive_partitioning = true, union_by_name = true)) i "
        f"JOIN _intel_feed_versions v ON v.feed_version = i.feed_version "
        f"WHERE coalesce({EXPIRES_AT} > now(), true) AND coalesce(i.valid_from <= now(), true)"
    )


INTEL_FEED_VERSIONS = TableSpec(
    name="intel_feed_versions",
    doc="One row per feed load: origin, format, content hash, counts, added/removed, policy",
    columns=_VERSION_COLUMNS,
    key_column="feed_version",
    time_column="loaded_at",
    partition_column="",
    sort_columns=(),
    view=_versions_view,
)

INDICATORS = TableSpec(
    name="indicators",
    doc="Current threat-intel indicators (latest version per source, expired and not yet valid ones left out)",
    columns=(
        *_INDICATOR_COLUMNS,
        Column("effective_confidence", "INTEGER", "confidence decayed with age (source half-life)"),
        Column("age_days", "DOUBLE", "Days since last_seen (else valid_from, first_seen, loaded_at)"),
        Column("expires_at", "TIMESTAMPTZ", "valid_until or basis + max_age_days, whichever is first"),
    ),
    key_column="indicator_uid",
    time_column="loaded_at",
    partition_column="",
    sort_columns=(),
    view=_indicators_view,
)

FEED_TABLES: dict[str, TableSpec] = {
    t.name: t for t in (INTEL_INDICATORS, INTEL_REJECTS, INTEL_FEED_VERSIONS, INDICATORS)
}
