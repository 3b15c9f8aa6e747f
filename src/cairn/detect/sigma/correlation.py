"""Sigma correlation rules (``event_count``, ``value_count``, ``temporal``, ``temporal_ordered``) as
windowed SQL over rule matches.

A correlation counts, per group (``group-by`` fields), the events that match any of its rules in
a sliding window of ``timespan`` ending at each matching event
(``RANGE BETWEEN INTERVAL n SECOND PRECEDING AND CURRENT ROW``). An alert is raised at the event
where the condition first holds, and again only after it stopped holding: a burst of 500 failed
logins gives one alert carrying the count, the window's first and last time and its event ids.
``value_count`` counts distinct values of ``condition.field`` instead. Only ``gt``/``gte``
thresholds are meaningful over matches (``lt`` would need the events that did *not* happen).
``temporal`` counts the distinct referenced rules matched in the window and ``temporal_ordered``
follows chains of matches in the rules' order (:mod:`cairn.detect.sigma.temporal`); both raise
their alerts the same way.

The SQL reads a relation of matches (``event_uid``, ``event_time``, ``rule_idx`` and one column
per group key), so the runner computes it from the same single table scan as plain rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)

from cairn.detect.sigma.errors import SigmaUnsupported
from cairn.detect.sigma.fields import resolve
from cairn.detect.sigma.profiles import PROFILES
from cairn.detect.sigma.sqltext import sql_str
from cairn.detect.sigma.temporal import temporal_rows

TEMPORAL = ("temporal", "temporal_ordered")
_TYPES = (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT,
          SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED)
_OPS = {SigmaCorrelationConditionOperator.GT: ">", SigmaCorrelationConditionOperator.GTE: ">="}


@dataclass(frozen=True)
class CorrelationPlan:
    """What the runner needs to evaluate one correlation rule."""

    type: str
    """``event_count``, ``value_count``, ``temporal`` or ``temporal_ordered``."""
    rule_ids: tuple[str, ...]
    """Ids of the rules whose matches are counted (for ``temporal_ordered``, in their order)."""
    group_by: tuple[tuple[str, str], ...]
    """(field as written in the rule, SQL expression on the table) for each group-by field."""
    timespan_seconds: int
    op: str
    count: float
    value: tuple[str, str] | None = None
    """value_count only: (field, SQL expression) whose distinct values are counted."""

    def key_exprs(self) -> list[str]:
        """SQL expressions the scan must carry for this correlation (group keys, counted value)."""
        return [e for _, e in self.group_by] + ([self.value[1]] if self.value else [])

    def sql(self, matches: str, rule_idx: list[int], columns: dict[str, str],
            carry: tuple[str, ...] = ()) -> str:
        """Alerts of this correlation from ``matches`` (a relation name or subquery); ``rule_idx`` are
        the values of its ``rule_idx`` column for :attr:`rule_ids`, in order; ``columns`` maps each
        key expression to its column name in ``matches``; ``carry`` names columns of ``matches``
        passed through from the event that raised the alert."""
        keys = [columns[e] for _, e in self.group_by]
        part = f"PARTITION BY {', '.join(keys)} " if keys else ""
        value = columns[self.value[1]] if self.value else None
        keep = ", ".join(dict.fromkeys(["event_uid", "event_time", *keys, *([value] if value else []), *carry]))
        where = f"WHERE rule_idx IN ({', '.join(str(int(i)) for i in rule_idx) or 'NULL'})"
        if self.type in TEMPORAL:
            rows = temporal_rows(f"(SELECT DISTINCT {keep}, rule_idx FROM {matches} {where})",
                                 ordered=self.type == "temporal_ordered", rule_idx=rule_idx, keys=keys,
                                 keep=keep, op=self.op, count=self.count, timespan_seconds=self.timespan_seconds)
        else:
            rows = self._count_rows(f"(SELECT DISTINCT {keep} FROM {matches} {where})", keys, keep, value)
        out = "".join(f"{c}, " for c in carry)
        order = f"({part}ORDER BY event_time, event_uid)"
        pairs = [f"{sql_str(f)}: {c}" for (f, _), c in zip(self.group_by, keys, strict=True)]
        group_struct = "{" + ", ".join(pairs) + "}" if pairs else "NULL"
        return f"""
SELECT {out}event_uid, event_time, first_time, n AS event_count, event_uids, counted_values,
       CAST(to_json({group_struct}) AS VARCHAR) AS group_values
FROM (
    SELECT *, coalesce(lag(ok) OVER {order}, false) AS was
    FROM ({rows})
)
WHERE ok AND NOT was"""

    def _count_rows(self, rows: str, keys: list[str], keep: str, value: str | None) -> str:
        """``event_count``/``value_count``: one row per event of ``rows`` with ``ok`` and the window."""
        part = f"PARTITION BY {', '.join(keys)} " if keys else ""
        window = (f"({part}ORDER BY event_time RANGE BETWEEN INTERVAL {int(self.timespan_seconds)} "
                  f"SECOND PRECEDING AND CURRENT ROW)")
        counted = f"count(DISTINCT {value})" if value else "count(*)"
        values = f", list(DISTINCT {value}) OVER w AS counted_values" if value else \
            ", CAST(NULL AS VARCHAR[]) AS counted_values"
        return f"""
SELECT *, n {self.op} {self.count} AS ok
FROM (
    SELECT {keep}, {counted} OVER w AS n, min(event_time) OVER w AS first_time,
           list(event_uid) OVER w AS event_uids{values}
    FROM {rows}
    WINDOW w AS {window}
)"""


def plan_correlation(rule: SigmaCorrelationRule, ref_ids: list[str], table: str) -> CorrelationPlan:
    """The plan of a correlation whose referenced rules (``ref_ids``) all run on ``table``."""
    kind = rule.type
    if kind not in _TYPES:
        raise SigmaUnsupported(f"correlation type {kind} is not supported "
                               f"({', '.join(str(t) for t in _TYPES)} are)")
    if len(rule.aliases):
        raise SigmaUnsupported("correlation field aliases are not supported")
    cond = rule.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        raise SigmaUnsupported("extended correlation conditions are not supported")
    if cond.op not in _OPS:
        raise SigmaUnsupported(
            f"correlation condition {cond.op.name.lower()} is not supported: alerts are raised "
            f"when a window reaches a threshold (gt, gte)"
        )
    if str(kind) in TEMPORAL:
        _check_temporal(str(kind), cond, ref_ids)
    profile = PROFILES[table]

    def field(name: str) -> tuple[str, str]:
        ref = profile.map_field(name) or name
        sql = resolve(ref, table)
        if sql.is_list:
            raise SigmaUnsupported(f"correlation field {name!r} is an array")
        return name, sql.as_text(sql.expr)

    value = None
    if kind == SigmaCorrelationType.VALUE_COUNT:
        if not isinstance(cond.fieldref, str):
            raise SigmaUnsupported("value_count needs exactly one condition field")
        value = field(cond.fieldref)
    return CorrelationPlan(
        type=str(kind), rule_ids=tuple(ref_ids),
        group_by=tuple(field(f) for f in rule.group_by or []),
        timespan_seconds=rule.timespan.seconds, op=_OPS[cond.op], count=cond.count, value=value,
    )


def _check_temporal(kind: str, cond: SigmaCorrelationCondition, ref_ids: list[str]) -> None:
    """Refuse temporal correlations whose meaning the SQL would not keep."""
    if len(set(ref_ids)) != len(ref_ids):
        raise SigmaUnsupported(f"{kind} correlation references a rule twice")
    if kind == "temporal_ordered" and not (cond.op == SigmaCorrelationConditionOperator.GTE
                                           and cond.count == len(ref_ids)):
        raise SigmaUnsupported(f"temporal_ordered condition {cond.op.name.lower()} {cond.count} is not "
                               f"supported: the {len(ref_ids)} rules must all match, in order (gte "
                               f"{len(ref_ids)}, the default)")
