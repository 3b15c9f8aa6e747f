"""The built-in intel-match rule: an observable whose verdict is at or above ``[detect] intel_min_score``
raises an alert, except warninglist hits. ``[detect] intel_warninglists`` says which hits:
``all`` (the default: a value on any MISP warninglist never alerts) or ``demote`` (only the lists that
cap the verdict at :data:`~cairn.intel.verdict.DEMOTE_CAP`; a value on a ``context`` list, such as
cloud/CDN ranges, dynamic DNS or URL shorteners, alerts: a C2 on a rented cloud server).

It reads ``enriched_observables`` (the enrich stage's view: verdicts are time-aware, only indicators
valid at the event time count) for the events of the new ``flagged_observables`` files, which every
enrichment run writes for what it enriched (a full recompute writes them all again: the hit ledger drops
what was counted before). One alert per (observable value, identity) per suppression window.
"""

from __future__ import annotations

from cairn.intel.verdict import DEMOTE_CAP

INTEL_RULE_ID = "cairn.intel_match"
INTEL_RULE_TITLE = "Observable with a malicious intel verdict"
INTEL_TABLE = "enriched_observables"
INTEL_INPUT_TABLE = "flagged_observables"
"""Checkpointed by its files: the events with a verdict above Unknown of each enrichment run."""
INTEL_SEVERITY = "high"
WARNINGLIST_MODES = ("all", "demote")
"""Values of ``[detect] intel_warninglists``."""
_EXCEPT = {
    "all": "NOT coalesce(warninglist_hit, false)",
    "demote": f"NOT (coalesce(warninglist_hit, false) AND score_id <= {DEMOTE_CAP})",
}


def intel_hit_sql(relation: str, warninglists: str = "all") -> str:
    """SELECT of the hit columns over ``relation`` (rows shaped like ``enriched_observables``); which
    warninglist hits are left out: see :data:`WARNINGLIST_MODES`.

    Parameter ``?``: the minimum ``score_id``. Identity and account come from the same event's
    ``arn`` / ``account`` observables (first by field path)."""
    return f"""
    SELECT '{INTEL_RULE_ID}' AS rule_id, source, event_uid, event_time,
           concat('Intel: ', type, ' ', value, ' (', coalesce(score, 'score ' || score_id), ') in ', source,
                  CASE WHEN identity IS NOT NULL THEN ' by ' || identity ELSE '' END) AS title,
           identity, value AS resource,
           CASE WHEN type = 'ip' THEN [value] ELSE CAST([] AS VARCHAR[]) END AS ips,
           acct AS account_id, concat_ws('|', type, value, coalesce(identity, '')) AS dedup_key
    FROM (
        SELECT source, event_uid, event_time, type, value, score, score_id, warninglist_hit,
               arg_min(CASE WHEN type = 'arn' THEN value END, CASE WHEN type = 'arn' THEN field END)
                   OVER (PARTITION BY source, event_uid) AS identity,
               coalesce(arg_min(CASE WHEN type = 'account' THEN value END,
                                CASE WHEN type = 'account' THEN field END)
                   OVER (PARTITION BY source, event_uid), account_id) AS acct
        FROM {relation}
    ) o
    WHERE score_id >= ? AND {_EXCEPT[warninglists]}"""
