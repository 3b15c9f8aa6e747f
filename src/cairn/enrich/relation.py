"""Enrich any relation shaped like the lake's ``observables`` table, in SQL.

``enrich_relation(engine, relation, out)`` reads ``(event_uid, source, event_time, field, type, value,
ip_bin)`` rows and creates two temp tables:

- ``<out>_observables``: one row per input row with the verdict, ownership, warninglists and
  organisational context (the columns of the ``enriched_observables`` view);
- ``<out>_matches``: one row per (input row, indicator valid at its event time) (the columns of
  ``intel_matches``).

The work is done on *distinct* values and joined back: ownership, warninglists, provider results and
organisational context per distinct ``(type, value)``; indicators are matched per distinct value too,
and only rows whose value matched some indicator go through the time-aware part (validity window and
confidence at the event time, then a verdict per distinct ``(type, value, event_time)``). Verdict rules
are :func:`cairn.intel.verdict.verdict_sql`'s, applied to the event's evidence.
"""

from __future__ import annotations

import re

from cairn.context.match import summary_sql
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.enrich.indicators import IND_TABLE, create_value_matches
from cairn.errors import CairnError
from cairn.intel.api import result_sql
from cairn.intel.lookup import run_lookup
from cairn.intel.tables import table_exists
from cairn.intel.verdict import INTEL_CACHE_DDL, build_verdicts, feed_score_sql, score_label_sql, verdict_sql

OBSERVABLE_COLUMNS = (
    "event_uid", "source", "event_time", "event_date", "field", "type", "value", "ip_bin", "score_id", "score",
    "verdict_sources", "why", "warninglist_hit", "warninglists", "asn", "as_org", "country", "cloud_provider",
    "cloud_service", "cloud_region", "is_tor", "special_range", "registrable_domain", "account_id", "account_name",
    "account_environment", "ou_path", "account_owner", "network_zone", "network_name", "identity_person",
    "identity_team", "asset_owner", "asset_criticality",
)
MATCH_COLUMNS = (
    "event_uid", "source", "event_time", "field", "type", "value", "indicator_uid", "intel_source", "feed_version",
    "matched", "match_kind", "most_specific", "confidence", "threat_type", "malware_family", "score_id",
)
_REF_TABLES = ("own_asn", "own_cloud", "own_tor", "own_special", "own_public_suffixes", "warninglists",
               "warninglist_entries")
_EVENT_TIME = "coalesce(r.event_time, current_timestamp)"


def _name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise ValueError(f"not a relation name: {text!r}")
    return text


def confidence_at_sql(t: str) -> str:
    """SQL: the confidence of indicator ``i`` at time ``t`` (decayed from its basis; never grows)."""
    age = f"greatest(0.0, epoch({t} - i.basis) / 86400.0)"
    return (f"CAST(round(i.confidence * CASE WHEN i.half_life > 0 THEN pow(0.5, {age} / i.half_life) ELSE 1.0 END) "
            f"AS INTEGER)")


def enrich_relation(engine: DuckDBEngine, relation: str, out: str, *, materialize: bool = True) -> None:
    """Create ``<out>_observables`` and ``<out>_matches`` for the rows of ``relation``.

    With ``materialize=False`` ``<out>_observables`` is a temp *view* over ``relation`` and the
    per-value work tables (for one pass such as a ``COPY``: nothing is stored twice); drop the work
    tables with :func:`drop_work` afterwards.

    The reference tables (:func:`cairn.intel.ownership.ensure_tables`) and the enrichment indicator
    table (:func:`cairn.enrich.indicators.ensure_indicators`) must exist; :func:`cairn.enrich.refresh`
    and the API build them.
    """
    relation, out = _name(relation), _name(out)
    missing = [t for t in (*_REF_TABLES, IND_TABLE) if not table_exists(engine, t)]
    if missing:
        raise CairnError(f"enrichment tables missing ({', '.join(missing)}): open the workspace through "
                         "cairn.enrich.refresh or cairn.enrich.api, which build them")
    e = engine
    e.execute(INTEL_CACHE_DDL)
    lk = f"{out}_lk"
    e.execute(f"CREATE OR REPLACE TEMP TABLE {out}_dv AS SELECT DISTINCT type, value, ip_bin FROM {relation} "
              f"WHERE value IS NOT NULL")
    # Ownership, warninglists, provider results per distinct value; feed matches are done below, time-aware.
    run_lookup(e, f"{out}_dv", lk)
    e.execute(f"DELETE FROM {lk}_matches WHERE family = 'indicator'")
    build_verdicts(e, lk)
    e.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out}_vals AS
        WITH f AS ({result_sql(lk)}),
        sp AS (SELECT o.type, o.value, arg_max(m.ref, m.specificity) AS special_range FROM {lk}_matches m
               JOIN {lk}_obs o ON o.rowid = m.obs_id WHERE m.family = 'special' GROUP BY ALL),
        cx AS ({summary_sql(out + '_dv')})
        SELECT f.type, f.value, f.score_id, f.sources, f.why, f.warninglists, f.asn, f.as_org, f.country,
               f.cloud_provider, f.cloud_service, f.cloud_region, f.tor, sp.special_range, f.registrable_domain,
               cx.account.account_id AS account_id, cx.account.name AS account_name,
               cx.account.environment AS account_environment, cx.account.ou_path AS ou_path,
               cx.account.owner AS account_owner, cx.network.zone AS network_zone, cx.network.name AS network_name,
               cx.identity.person AS identity_person, cx.identity.team AS identity_team,
               cx.asset.owner AS asset_owner, cx.asset.criticality AS asset_criticality
        FROM f LEFT JOIN sp USING (type, value) LEFT JOIN cx USING (type, value)
        """
    )
    # Indicators: every match of each distinct value, then only the rows of matched values, time-aware.
    create_value_matches(e, f"{lk}_obs", f"{out}_im")
    t = _EVENT_TIME
    conf = confidence_at_sql(t)
    e.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out}_matches AS
        SELECT event_uid, source, event_time, field, type, value, indicator_uid, intel_source, feed_version, matched,
               match_kind,
               specificity = max(specificity) OVER (PARTITION BY event_uid, source, field, type, value)
                 AS most_specific,
               confidence, threat_type, malware_family,
               CAST(CASE WHEN detect THEN {feed_score_sql('threat_type', 'confidence')} ELSE 0 END AS INTEGER)
                 AS score_id
        FROM (
            SELECT r.event_uid, r.source, r.event_time, r.field, r.type, r.value, i.indicator_uid,
                   i.source AS intel_source, i.feed_version, m.matched, m.match_kind, m.specificity,
                   {conf} AS confidence, i.threat_type, i.malware_family, coalesce(i.detect, true) AS detect
            FROM {relation} r
            JOIN {out}_im m ON m.type = r.type AND m.value = r.value
            JOIN {IND_TABLE} i ON i.indicator_uid = m.indicator_uid
            WHERE (i.valid_from IS NULL OR i.valid_from <= {t}) AND (i.valid_end IS NULL OR {t} < i.valid_end)
        )
        """
    )
    # Verdicts of matched rows: one per distinct (type, value, event time), from the value's own evidence
    # plus the feed evidence valid then; keyed so that verdict_sql's rules apply unchanged.
    k = f"{out}_k"
    e.execute(f"CREATE OR REPLACE TEMP TABLE {out}_keys AS SELECT type, value, event_time, "
              f"CAST(row_number() OVER () AS VARCHAR) AS key FROM (SELECT DISTINCT type, value, event_time "
              f"FROM {out}_matches)")
    e.execute(f"CREATE OR REPLACE TEMP TABLE {k}_obs AS SELECT type, key AS value FROM {out}_keys")
    seen = "coalesce(i.last_seen, i.first_seen, i.valid_from)"
    e.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {k}_evidence AS
        SELECT k.type, k.key AS value, ev.source, ev.kind, ev.score_id, ev.confidence, ev.observed_at,
               ev.feed_version, ev.counts, ev.detail, ev.why
        FROM {out}_keys k JOIN {lk}_evidence ev USING (type, value)
        UNION ALL
        SELECT k.type, k.key, i.source, 'feed', m.score_id, m.confidence, {seen}, i.feed_version,
               coalesce(i.detect, true),
               json_object('indicator', i.value, 'threat_type', i.threat_type, 'malware_family', i.malware_family,
                           'match', m.match_kind, 'reference', i.reference, 'tags', i.tags, 'severity', i.severity,
                           'confidence', m.confidence, 'detect', i.detect),
               i.source || ': ' || coalesce(i.threat_type, 'listed')
                 || coalesce(' ' || nullif(array_to_string(i.malware_family, ','), ''), '')
                 || ' (' || m.match_kind || ' ' || i.value
                 || coalesce(', confidence ' || CAST(m.confidence AS VARCHAR) || ' at event time', '')
                 || ', version '
                 || coalesce(i.feed_version, '?') || ')'
                 || CASE WHEN i.detect = false THEN ' [context only]' ELSE '' END
        FROM (SELECT DISTINCT type, value, event_time, indicator_uid, match_kind, confidence,
                     CASE WHEN score_id = 0 THEN {feed_score_sql('threat_type', 'confidence')} ELSE score_id END
                       AS score_id
              FROM {out}_matches) m
        JOIN {out}_keys k USING (type, value, event_time)
        JOIN {IND_TABLE} i ON i.indicator_uid = m.indicator_uid
        """
    )
    e.execute(f"CREATE OR REPLACE TEMP TABLE {k}_verdicts AS SELECT k.type, k.value, k.event_time, v.score_id, "
              f"v.sources, v.why FROM ({verdict_sql(k)}) v JOIN {out}_keys k ON k.type = v.type AND k.key = v.value")
    e.execute(
        f"""
        CREATE OR REPLACE TEMP {'TABLE' if materialize else 'VIEW'} {out}_observables AS
        SELECT event_uid, source, event_time, event_date, field, type, value, ip_bin, score_id,
               {score_label_sql('score_id')} AS score, verdict_sources, why, warninglist_hit, warninglists, asn,
               as_org, country, cloud_provider, cloud_service, cloud_region, is_tor, special_range,
               registrable_domain, account_id, account_name, account_environment, ou_path, account_owner,
               network_zone, network_name, identity_person, identity_team, asset_owner, asset_criticality
        FROM (
            SELECT r.event_uid, r.source, r.event_time, CAST(r.event_time AS DATE) AS event_date, r.field, r.type,
                   r.value, r.ip_bin, CAST(coalesce(kv.score_id, v.score_id, 0) AS INTEGER) AS score_id,
                   coalesce(kv.sources, v.sources, CAST([] AS VARCHAR[])) AS verdict_sources,
                   coalesce(kv.why, v.why) AS why,
                   coalesce(len(v.warninglists) > 0, false) AS warninglist_hit,
                   coalesce(v.warninglists, CAST([] AS VARCHAR[])) AS warninglists,
                   v.asn, v.as_org, v.country, v.cloud_provider, v.cloud_service, v.cloud_region,
                   coalesce(v.tor, false) AS is_tor, v.special_range, v.registrable_domain, v.account_id,
                   v.account_name, v.account_environment, v.ou_path, v.account_owner, v.network_zone,
                   v.network_name, v.identity_person, v.identity_team, v.asset_owner, v.asset_criticality
            FROM {relation} r
            LEFT JOIN {out}_vals v ON v.type = r.type AND v.value = r.value
            LEFT JOIN {k}_verdicts kv ON kv.type = r.type AND kv.value = r.value
                                     AND kv.event_time IS NOT DISTINCT FROM r.event_time
        )
        """
    )
    drop_work(engine, out, keep=() if materialize else ("_vals", "_k_verdicts"))


_WORK = ("_dv", "_vals", "_im", "_keys", "_k_obs", "_k_evidence", "_k_verdicts", "_lk_obs", "_lk_matches",
         "_lk_evidence", "_lk_verdicts")


def drop_work(engine: DuckDBEngine, out: str, keep: tuple[str, ...] = ()) -> None:
    """Drop the work tables of :func:`enrich_relation` (all of them unless named in ``keep``)."""
    out = _name(out)
    for tbl in _WORK:
        if tbl not in keep:
            engine.execute(f"DROP TABLE IF EXISTS {out}{tbl}")
