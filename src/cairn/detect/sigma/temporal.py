"""Sigma ``temporal`` and ``temporal_ordered`` correlations as windowed SQL over rule matches.

The input rows are ``(event, rule_idx)`` pairs: an event matching two referenced rules is two rows.

- ``temporal``: at each matching event, the window ``RANGE BETWEEN INTERVAL timespan PRECEDING AND
  CURRENT ROW`` of its group holds matches of ``count(DISTINCT rule_idx)`` referenced rules; the
  condition (by default "all of them", pySigma's ``gte: len(rules)``) compares that number.
- ``temporal_ordered``: the rules must match in the listed order. ``_c1`` is the time of the latest
  match of rule 1 at or before each row, ``_c{i+1}`` the latest ``_c{i}`` carried by a match of
  rule ``i+1`` at or before it: the start of the latest chain rule 1 <= ... <= rule ``i+1`` (time
  never decreases along a chain, so the latest rule ``i+1`` match carries the latest start). The
  condition holds at a match of the last rule whose chain started within the timespan. Matches at
  the same time count as in order (CloudTrail times have one-second resolution).

Either way the result has one row per event (the one where the condition holds, if any) with
``ok``, the number of distinct events ``n`` in the window, its first time and its event ids; the
caller (:meth:`cairn.detect.sigma.correlation.CorrelationPlan.sql`) raises the alerts.
"""

from __future__ import annotations

from collections.abc import Sequence


def temporal_rows(rows: str, *, ordered: bool, rule_idx: Sequence[int], keys: Sequence[str], keep: str,
                  op: str, count: float, timespan_seconds: int) -> str:
    """One row per event of ``rows`` (a subquery of ``keep`` columns plus ``rule_idx``) with ``ok``,
    ``n``, ``first_time``, ``event_uids`` and ``counted_values``; ``keys`` are the group columns."""
    part = f"PARTITION BY {', '.join(keys)} " if keys else ""
    span = f"INTERVAL {int(timespan_seconds)} SECOND"
    window = f"({part}ORDER BY event_time RANGE BETWEEN {span} PRECEDING AND CURRENT ROW)"
    if ordered:
        src, ok = _chain(rows, [int(i) for i in rule_idx], part)
        ok = f"{ok} >= event_time - {span}"
    else:
        src, ok = rows, f"count(DISTINCT rule_idx) OVER w {op} {count}"
    one = f"PARTITION BY {', '.join([*keys, 'event_uid'])} ORDER BY ok DESC, rule_idx"
    return f"""
SELECT {keep}, ok, n, first_time, event_uids, CAST(NULL AS VARCHAR[]) AS counted_values
FROM (
    SELECT *, row_number() OVER ({one}) AS _one
    FROM (
        SELECT {keep}, rule_idx, coalesce({ok}, false) AS ok, count(DISTINCT event_uid) OVER w AS n,
               min(event_time) OVER w AS first_time, list(DISTINCT event_uid) OVER w AS event_uids
        FROM {src}
        WINDOW w AS {window}
    )
)
WHERE _one = 1"""


def _chain(rows: str, rule_idx: list[int], part: str) -> tuple[str, str]:
    """(``rows`` with the chain start columns ``_c1`` .. ``_c{n-1}``, the condition that the row is a
    match of the last rule closing a chain; its start is compared with the timespan by the caller)."""
    upto = f"({part}ORDER BY event_time RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    src, prev = rows, "event_time"
    for i, idx in enumerate(rule_idx[:-1], 1):
        src = (f"(SELECT *, max(CASE WHEN rule_idx = {idx} THEN {prev} END) OVER {upto} AS _c{i} "
               f"FROM {src})")
        prev = f"_c{i}"
    return src, f"CASE WHEN rule_idx = {rule_idx[-1]} THEN {prev} END"
