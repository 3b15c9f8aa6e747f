"""One reputation per observable, combined across sources, on the OCSF reputation scale.

Every source is *evidence* — one row of the ``<out>_evidence`` relation::

    type, value        the observable
    source             feed name, provider, ``warninglist:<id>`` or ownership table
    kind               feed | provider | warninglist | ownership
    score_id           this evidence alone, OCSF 0-10 (0 = says nothing about badness)
    confidence         0-100 (feeds: the age-decayed ``effective_confidence``)
    observed_at        last seen / fetched at
    feed_version       version of the feed load (feeds), list version (warninglists)
    counts             false for context-only evidence (MISP ``to_ids`` false, ``detect`` false)
    detail             JSON with the specifics (threat type, families, matched value, ...)
    why                one human-readable line

Online services (VirusTotal, AbuseIPDB, GreyNoise, OTX, IPinfo) plug in as one
more source: their adapter writes one ``intel_cache`` row per (provider, type,
value) with ``score_id``/``confidence`` already mapped, and the verdict reads the
unexpired ``ok`` rows as ``provider`` evidence. The rules are documented in
docs/intel.md ("Verdicts") and implemented in :func:`verdict_sql`.
"""

from __future__ import annotations

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.tables import table_exists

SCORES = {
    0: "Unknown", 1: "Very Safe", 2: "Safe", 3: "Probably Safe", 4: "Leans Safe", 5: "May not be Safe",
    6: "Exercise Caution", 7: "Suspicious/Risky", 8: "Possibly Malicious", 9: "Probably Malicious",
    10: "Malicious",
}
DEMOTE_CAP = 3
TOR_SCORE = 5
HIGH_THREATS = ("malware", "c2", "botnet", "ransomware", "phishing", "exploit", "malicious", "cryptomining",
                "trojan", "backdoor", "rat", "stealer", "loader", "apt", "cnc", "payload_delivery",
                # the vocabularies feeds write (abuse.ch ThreatFox/URLhaus/Feodo, STIX indicator types,
                # GuardDuty list layouts: ALIEN_VAULT activities, PROOF_POINT categories)
                "botnet_cc", "c2_server", "c&c", "command_and_control", "malware_download", "payload",
                "malicious_host", "malicious_activity", "bot", "spyware_c2", "spyware", "keylogger", "worm",
                "dropper", "infostealer", "cryptominer", "miner", "coinminer")
RISKY_THREATS = ("suspicious", "scanner", "mass_scanner", "bruteforce", "spam", "abuse", "attack",
                 "scanning_host", "scanning", "brute_force", "spamming", "spammer", "anomalous_activity")
ANON_THREATS = ("tor", "proxy", "vpn", "anonymizer", "anonymization", "anonymous_proxy", "tor_exit", "tor_node",
                "open_proxy")

INTEL_CACHE_DDL = """
CREATE TABLE IF NOT EXISTS intel_cache (
    provider VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    score_id INTEGER,
    confidence INTEGER,
    response JSON,
    PRIMARY KEY (provider, type, value)
)
"""


def _in(values: tuple[str, ...]) -> str:
    # Constant vocabulary of this module (never user input).
    return ", ".join("'" + v + "'" for v in values)


def feed_score_sql(threat: str, confidence: str) -> str:
    """SQL expression: OCSF score of one feed hit from its threat type and (effective) confidence.

    Base by threat type (high-impact 10, unknown 8, scanning/suspicious 7,
    anonymisers 6), minus 0-3 steps as confidence falls below 75/50/25, never
    below 5 ("May not be Safe": being listed is never good news).
    """
    # one spelling for the feeds' variants: "Malicious Host", "spyware-c2", "botnet_cc" -> malicious_host, ...
    t = f"regexp_replace(lower(trim(coalesce({threat}, ''))), '[\\s-]+', '_', 'g')"
    base = (f"CASE WHEN {t} IN ({_in(HIGH_THREATS)}) THEN 10 WHEN {t} IN ({_in(RISKY_THREATS)}) THEN 7 "
            f"WHEN {t} IN ({_in(ANON_THREATS)}) THEN 6 ELSE 8 END")
    c = f"coalesce({confidence}, 50)"
    step = f"CASE WHEN {c} >= 75 THEN 0 WHEN {c} >= 50 THEN 1 WHEN {c} >= 25 THEN 2 ELSE 3 END"
    return f"greatest(5, {base} - {step})"


def _indicator_confidence(engine: DuckDBEngine) -> str:
    cols = {r[0] for r in engine.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'indicators'")}
    return "coalesce(i.effective_confidence, i.confidence)" if "effective_confidence" in cols else "i.confidence"


def evidence_sql(engine: DuckDBEngine, out: str) -> str:
    """SELECT of the evidence rows for the matches in ``<out>_matches`` (plus cached provider results), keyed
    by ``obs_id`` until the observable's type and value are joined to each evidence row at the end."""
    m = f"{out}_matches"
    parts = [
        f"""SELECT m.obs_id, 'warninglist:' || w.list AS source, 'warninglist' AS kind,
                   CASE WHEN w.effect = 'demote' THEN {DEMOTE_CAP} ELSE 0 END AS score_id,
                   CAST(NULL AS INTEGER) AS confidence, CAST(NULL AS TIMESTAMPTZ) AS observed_at,
                   CAST(w.version AS VARCHAR) AS feed_version, true AS counts,
                   json_object('list', w.list, 'name', w.name, 'effect', w.effect, 'matched', any_value(m.matched),
                               'match', any_value(m.match_kind)) AS detail,
                   'warninglist ' || w.list || ' (' || w.name || ', version ' || w.version || ', matched '
                     || any_value(m.matched) || ')'
                     || CASE WHEN w.effect = 'demote' THEN ': known benign, verdict capped at {DEMOTE_CAP} Probably Safe'
                             ELSE ': context' END AS why
            FROM {m} m JOIN warninglists w ON w.list = m.ref
            WHERE m.family = 'warninglist'
            GROUP BY m.obs_id, w.list, w.name, w.version, w.effect""",
        f"""SELECT DISTINCT m.obs_id, 'tor-exit-nodes', 'ownership', {TOR_SCORE}, CAST(NULL AS INTEGER),
                   CAST(NULL AS TIMESTAMPTZ), t.list_date, true,
                   json_object('list_date', t.list_date, 'source', t.source),
                   'Tor exit node (list of ' || t.list_date || ')'
            FROM {m} m JOIN own_tor t ON t.source = m.ref AND t.ip = m.matched
            WHERE m.family = 'tor'""",
    ]
    if table_exists(engine, "indicators"):
        conf = _indicator_confidence(engine)
        seen = "coalesce(i.last_seen, i.first_seen, i.valid_from, i.loaded_at)"
        parts.append(
            f"""SELECT m.obs_id, i.source, 'feed', {feed_score_sql('i.threat_type', conf)},
                       CAST({conf} AS INTEGER), {seen}, i.feed_version, coalesce(i.detect, true),
                       json_object('indicator', i.value, 'threat_type', i.threat_type,
                                   'malware_family', i.malware_family, 'match', m.match_kind,
                                   'reference', i.reference, 'tags', i.tags, 'severity', i.severity,
                                   'confidence', i.confidence, 'detect', i.detect),
                       i.source || ': ' || coalesce(i.threat_type, 'listed')
                         || coalesce(' ' || nullif(array_to_string(i.malware_family, ','), ''), '')
                         || ' (' || m.match_kind || ' ' || i.value || ', confidence '
                         || coalesce(CAST(CAST({conf} AS INTEGER) AS VARCHAR), '?')
                         || coalesce(', ' || CAST(greatest(0, date_diff('day', {seen}, current_timestamp)) AS VARCHAR)
                                     || 'd old', '')
                         || ', version ' || coalesce(i.feed_version, '?') || ')'
                         || CASE WHEN i.detect = false THEN ' [context only]' ELSE '' END
                FROM {m} m JOIN indicators i ON i.indicator_uid = m.ref
                WHERE m.family = 'indicator'"""
        )
    if table_exists(engine, "intel_cache"):
        parts.append(
            f"""SELECT o.rowid, c.provider, 'provider', coalesce(c.score_id, 0), c.confidence,
                       c.fetched_at, NULL, true, c.response,
                       c.provider || ': ' || coalesce(CAST(c.score_id AS VARCHAR), 'no score')
                         || ' (fetched ' || strftime(c.fetched_at, '%Y-%m-%d') || ')'
                FROM {out}_obs o JOIN intel_cache c ON c.type = o.type AND c.value = o.value
                WHERE c.status = 'ok' AND (c.expires_at IS NULL OR c.expires_at > current_timestamp)"""
        )
    union = "\nUNION ALL\n".join(parts)
    return f"SELECT o.type, o.value, u.* EXCLUDE (obs_id) FROM ({union}) u JOIN {out}_obs o ON o.rowid = u.obs_id"


def verdict_sql(out: str) -> str:
    """SELECT of one verdict per observable in ``<out>_obs`` from ``<out>_evidence``.

    1. Scoring evidence: feed and provider rows with ``counts`` (context-only rows are
       listed in ``why`` but do not score); ownership rows with a score (Tor: 5).
    2. ``score`` = the highest scoring evidence; +1 (max 10) when at least two
       independent sources (distinct feed/provider names) say 7 or more.
    3. A ``demote`` warninglist hit caps the result at 3 "Probably Safe"; with no other
       evidence it *is* 3 (positively known infrastructure).
    """
    return f"""
        WITH e AS (SELECT * FROM {out}_evidence),
        agg AS (
            SELECT type, value,
                   max(score_id) FILTER (WHERE counts AND kind IN ('feed', 'provider', 'ownership')) AS top,
                   count(DISTINCT source) FILTER (WHERE counts AND kind IN ('feed', 'provider') AND score_id >= 7)
                     AS strong_sources,
                   min(score_id) FILTER (WHERE kind = 'warninglist' AND score_id > 0) AS cap,
                   list(DISTINCT source ORDER BY source) FILTER (WHERE kind IN ('feed', 'provider')) AS sources,
                   list(DISTINCT substr(source, 13) ORDER BY substr(source, 13)) FILTER (WHERE kind = 'warninglist')
                     AS warninglists,
                   string_agg(why, '; ' ORDER BY score_id DESC, source, why) AS why
            FROM e GROUP BY type, value
        ),
        s AS (
            SELECT o.type, o.value, a.sources, a.warninglists, a.why, a.cap, a.strong_sources,
                   CASE WHEN a.top IS NULL OR a.top = 0 THEN 0
                        WHEN a.strong_sources >= 2 AND a.top >= 7 THEN least(10, a.top + 1)
                        ELSE a.top END AS raw_score
            FROM (SELECT DISTINCT type, value FROM {out}_obs) o LEFT JOIN agg a USING (type, value)
        )
        SELECT type, value,
               CAST(CASE WHEN cap IS NULL THEN raw_score WHEN raw_score = 0 THEN cap
                         ELSE least(raw_score, cap) END AS INTEGER) AS score_id,
               CAST(raw_score AS INTEGER) AS score_before_warninglists,
               coalesce(sources, []) AS sources, coalesce(warninglists, []) AS warninglists,
               coalesce(strong_sources, 0) AS independent_sources,
               coalesce(why, 'no source knows this value') AS why
        FROM s
    """


def score_label_sql(col: str) -> str:
    """SQL CASE giving the OCSF caption of a score_id column."""
    labels = " ".join(f"WHEN {k} THEN '{v}'" for k, v in SCORES.items())
    return f"CASE {col} {labels} END"


def build_verdicts(engine: DuckDBEngine, out: str) -> str:
    """Create ``<out>_evidence`` and ``<out>_verdicts`` from ``<out>_matches``; returns the verdict table."""
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {out}_evidence AS {evidence_sql(engine, out)}")
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {out}_verdicts AS SELECT *, {score_label_sql('score_id')} AS score "
        f"FROM ({verdict_sql(out)})"
    )
    return f"{out}_verdicts"
