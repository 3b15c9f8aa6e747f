"""The enrichment tables of the lake: ``enriched_observables`` and ``intel_matches`` (Parquet listed in
the catalog like any lake table) and the per-table views ``<table>_enriched``.

:data:`ENRICH_TABLES` is the registry ``cairn.lake.catalog.all_specs`` reads.
"""

from __future__ import annotations

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.schema import Column, TableSpec

_OBS_HEAD = (
    Column("event_uid", "VARCHAR", "event_uid of the event in its table"),
    Column("source", "VARCHAR", "Lake table of the event (partition)"),
    Column("event_time", "TIMESTAMPTZ", "Time of the event"),
)
ENRICHMENT_COLUMNS = (
    Column("field", "VARCHAR", "Path of the value in the original record"),
    Column("type", "VARCHAR", "ip, domain, hostname, url, hash, user, access_key, account, arn, resource"),
    Column("value", "VARCHAR", "The observed value"),
    Column("ip_bin", "BLOB", "16-byte address for type ip (IPv4 as ::ffff:a.b.c.d)"),
    Column("score_id", "INTEGER", "Verdict at event time, OCSF reputation 0-10 (indicators valid then only)"),
    Column("score", "VARCHAR", "Caption of score_id (Unknown ... Malicious)"),
    Column("verdict_sources", "VARCHAR[]", "Feeds and providers with evidence on the value"),
    Column("why", "VARCHAR", "The evidence, one clause per source"),
    Column("warninglist_hit", "BOOLEAN", "On at least one warninglist"),
    Column("warninglists", "VARCHAR[]", "Warninglists listing the value"),
    Column("asn", "BIGINT", "Autonomous system of the address"),
    Column("as_org", "VARCHAR", "AS organisation"),
    Column("country", "VARCHAR", "Country of the AS range"),
    Column("cloud_provider", "VARCHAR", "Cloud/CDN provider of the address"),
    Column("cloud_service", "VARCHAR", "Provider service (most specific range)"),
    Column("cloud_region", "VARCHAR", "Provider region"),
    Column("is_tor", "BOOLEAN", "Tor exit node"),
    Column("special_range", "VARCHAR", "Special-purpose range (most specific; null when public)"),
    Column("registrable_domain", "VARCHAR", "eTLD+1 of a domain, hostname or URL host"),
    Column("account_id", "VARCHAR", "Matched AWS account (ctx_accounts)"),
    Column("account_name", "VARCHAR", "Account name"),
    Column("account_environment", "VARCHAR", "Account environment"),
    Column("ou_path", "VARCHAR", "Account OU path"),
    Column("account_owner", "VARCHAR", "Account owner"),
    Column("network_zone", "VARCHAR", "Zone of the most specific ctx_networks range"),
    Column("network_name", "VARCHAR", "Name of that network"),
    Column("identity_person", "VARCHAR", "Person behind the identity (ctx_identities)"),
    Column("identity_team", "VARCHAR", "Team behind the identity"),
    Column("asset_owner", "VARCHAR", "Owner of the asset (ctx_assets)"),
    Column("asset_criticality", "VARCHAR", "Criticality of the asset"),
)

ENRICHED_OBSERVABLES = TableSpec(
    name="enriched_observables",
    doc="Every lake observable with its time-aware verdict, ownership, warninglists and organisational context",
    columns=(*_OBS_HEAD, Column("event_date", "DATE", "UTC date of event_time"),
             *ENRICHMENT_COLUMNS),
    key_column="",
    partition_column="source",
)

INTEL_MATCHES = TableSpec(
    name="intel_matches",
    doc="One row per (observable, indicator) match valid at the event time, with provenance",
    columns=(
        *_OBS_HEAD,
        Column("field", "VARCHAR", "Path of the value in the original record"),
        Column("type", "VARCHAR", "Observable type"),
        Column("value", "VARCHAR", "The observed value"),
        Column("indicator_uid", "VARCHAR", "The indicator (stable across feed versions)"),
        Column("intel_source", "VARCHAR", "Feed name"),
        Column("feed_version", "VARCHAR", "Feed version the indicator came from"),
        Column("matched", "VARCHAR", "Indicator value that matched (address, CIDR, parent domain, URL, hash)"),
        Column("match_kind", "VARCHAR", "exact, cidr, parent_domain or url_host"),
        Column("most_specific", "BOOLEAN", "The longest prefix / longest domain among the row's matches"),
        Column("confidence", "INTEGER", "Indicator confidence at the event time (decayed from its last sighting)"),
        Column("threat_type", "VARCHAR", "Threat type of the indicator"),
        Column("malware_family", "VARCHAR[]", "Malware families"),
        Column("score_id", "INTEGER", "This match alone, OCSF 0-10 (0: context-only indicator)"),
    ),
    key_column="",
    partition_column="source",
)

ENRICH_TABLES: dict[str, TableSpec] = {t.name: t for t in (ENRICHED_OBSERVABLES, INTEL_MATCHES)}


def event_tables() -> list[str]:
    """Lake event tables that get an ``<table>_enriched`` view."""
    from cairn.sources import SOURCES

    names = {t.name for s in SOURCES.values() for t in s.tables if t.key_column == "event_uid"}
    return sorted(names)


def enriched_view_sql(table: str) -> str:
    """SELECT of ``<table>_enriched``: the table's columns, ``max_score_id`` and ``enrichment``."""
    fields = ", ".join(f"{c.name} := {c.name}" for c in ENRICHMENT_COLUMNS)
    lit = "'" + table.replace("'", "''") + "'"
    return (
        f"SELECT t.*, e.max_score_id, e.enrichment FROM {table} t LEFT JOIN ("
        f"SELECT event_uid, CAST(max(score_id) AS INTEGER) AS max_score_id, "
        f"list(struct_pack({fields}) ORDER BY field, value) AS enrichment "
        f"FROM enriched_observables WHERE source = {lit} GROUP BY event_uid) e ON e.event_uid = t.event_uid"
    )


def ensure_enriched_views(engine: DuckDBEngine) -> list[str]:
    """Create the missing ``<table>_enriched`` views (one per lake event table); returns the view names.

    The views read ``enriched_observables`` and the table by name, so they never need re-creating."""
    have = {r[0] for r in engine.rows("SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
                                      "AND schema_name = 'main' AND NOT internal")}
    names = []
    for t in event_tables():
        if f"{t}_enriched" not in have:
            engine.execute(f"CREATE OR REPLACE VIEW {t}_enriched AS {enriched_view_sql(t)}")
        names.append(f"{t}_enriched")
    return names
