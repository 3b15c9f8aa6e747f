"""The enrichment tables of the lake and their views.

Stored (Parquet listed in the catalog like any lake table): ``enriched_values`` (per distinct value),
``enriched_verdicts`` (per matched value and event time), ``intel_matches`` (per observable and
indicator) and ``flagged_observables``. Views: ``enriched_observables`` (every observable joined with
the first two; nothing per observable is stored twice) and ``<table>_enriched`` per event table.

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

_VALUE_COLUMNS = tuple(
    Column(c.name, c.type, "Verdict from the evidence that does not depend on time (0-10)") if c.name == "score_id"
    else c for c in ENRICHMENT_COLUMNS if c.name not in ("field", "ip_bin", "score", "warninglist_hit"))
"""Per-value enrichment (everything that depends on the value alone)."""
_PLAIN_VALUE_COLUMNS = tuple(c.name for c in _VALUE_COLUMNS if c.name not in (
    "type", "value", "score_id", "verdict_sources", "why", "warninglists", "is_tor"))

ENRICHED_VALUES = TableSpec(
    name="enriched_values",
    doc="One row per distinct observed (type, value): ownership, warninglists, organisational context and the "
        "verdict from evidence that does not depend on time (providers, warninglists)",
    columns=_VALUE_COLUMNS,
    key_column="",
    time_column="",
    partition_column="type",
    sort_columns=(),
)

ENRICHED_VERDICTS = TableSpec(
    name="enriched_verdicts",
    doc="Verdicts of the values that matched indicators, one row per (type, value, event time): only "
        "indicators valid at that time count, with their confidence decayed to it",
    columns=(
        Column("type", "VARCHAR", "Observable type"),
        Column("value", "VARCHAR", "The observed value"),
        Column("event_time", "TIMESTAMPTZ", "Time of the events this verdict applies to"),
        Column("score_id", "INTEGER", "Verdict at that time, OCSF reputation 0-10"),
        Column("verdict_sources", "VARCHAR[]", "Feeds and providers with evidence on the value"),
        Column("why", "VARCHAR", "The evidence, one clause per source"),
    ),
    key_column="",
    partition_column="type",
    sort_columns=(),
)

FLAGGED_OBSERVABLES = TableSpec(
    name="flagged_observables",
    doc="Observables whose verdict at event time is above Unknown (score_id > 0), written by each enrichment "
        "run for the data it enriched (the intel-match rule reads the new files)",
    columns=(*_OBS_HEAD, Column("field", "VARCHAR", "Path of the value in the original record"),
             Column("type", "VARCHAR", "Observable type"), Column("value", "VARCHAR", "The observed value"),
             Column("score_id", "INTEGER", "Verdict at event time, OCSF reputation 0-10")),
    key_column="",
    partition_column="source",
)


def _score_label(expr: str) -> str:
    from cairn.intel.verdict import score_label_sql

    return score_label_sql(expr)


def enriched_observables_sql(catalog: object = None) -> str:
    """SELECT of the ``enriched_observables`` view: each enriched observable joined with its value's row
    in ``enriched_values`` and, for values that matched indicators, its time's row in ``enriched_verdicts``."""
    score = "CAST(coalesce(kv.score_id, v.score_id, 0) AS INTEGER)"
    names = ", ".join(c.name for c in (*_OBS_HEAD, Column("event_date", "DATE", ""), *ENRICHMENT_COLUMNS))
    return f"SELECT {names} FROM (" + (
        "SELECT o.event_uid, o.source, o.event_time, CAST(o.event_time AS DATE) AS event_date, o.field, o.type, "
        f"o.value, o.ip_bin, {score} AS score_id, {_score_label(score)} AS score, "
        "coalesce(kv.verdict_sources, v.verdict_sources, CAST([] AS VARCHAR[])) AS verdict_sources, "
        "coalesce(kv.why, v.why) AS why, coalesce(len(v.warninglists) > 0, false) AS warninglist_hit, "
        "coalesce(v.warninglists, CAST([] AS VARCHAR[])) AS warninglists, "
        "coalesce(v.is_tor, false) AS is_tor, " + ", ".join(f"v.{c}" for c in _PLAIN_VALUE_COLUMNS) + " "
        "FROM observables o JOIN enriched_values v ON v.type = o.type AND v.value = o.value "
        "LEFT JOIN enriched_verdicts kv ON kv.type = o.type AND kv.value = o.value "
        "AND kv.event_time IS NOT DISTINCT FROM o.event_time"
    ) + ")"


def _enriched_rows(engine: DuckDBEngine) -> int:
    """Rows of ``enriched_observables`` without scanning it: the rows of the enriched observables files."""
    from cairn.intel.tables import table_exists

    if not table_exists(engine, "_cairn_enrich_inputs"):
        return 0
    return int(engine.scalar("SELECT coalesce(sum(f.rows), 0) FROM _cairn_files f WHERE f.table_name = 'observables' "
                             "AND EXISTS (SELECT 1 FROM _cairn_enrich_inputs i WHERE i.path = f.path)") or 0)


ENRICHED_OBSERVABLES = TableSpec(
    name="enriched_observables",
    doc="Every enriched lake observable with its time-aware verdict, ownership, warninglists and organisational "
        "context (a view over observables, enriched_values and enriched_verdicts)",
    columns=(*_OBS_HEAD, Column("event_date", "DATE", "UTC date of event_time"),
             *ENRICHMENT_COLUMNS),
    key_column="",
    partition_column="source",
    view=enriched_observables_sql,
    view_rows=lambda engine: _enriched_rows(engine),
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

ENRICH_TABLES: dict[str, TableSpec] = {t.name: t for t in (ENRICHED_VALUES, ENRICHED_VERDICTS, INTEL_MATCHES,
                                                             FLAGGED_OBSERVABLES, ENRICHED_OBSERVABLES)}
"""The enrichment tables, the view last (it reads the others)."""
ENRICH_FILE_TABLES = tuple(n for n, t in ENRICH_TABLES.items() if t.view is None)
"""The enrichment tables that hold files (each refresh writes them)."""


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
