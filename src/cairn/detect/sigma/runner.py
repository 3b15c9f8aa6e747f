"""Run a :class:`~cairn.detect.sigma.loader.RuleSet` over the lake: one scan per table.

Each table is read once. Every row gets the list of the rules it matches
(``[x for x in [CASE WHEN <rule 0> THEN 0 END, CASE WHEN <rule 1> THEN 1 END, ...] if x IS NOT NULL]``),
rows with no match are dropped, and the remaining ``(row, rule)`` pairs are materialised once;
plain rules are read from them and correlation rules are windowed over them
(:mod:`cairn.detect.sigma.correlation`). The result is one Arrow table in :data:`MATCH_SCHEMA`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pyarrow as pa

from cairn.detect.sigma.loader import RuleEntry, RuleSet
from cairn.detect.sigma.profiles import PROFILES, Profile
from cairn.detect.sigma.sqltext import sql_str
from cairn.engines.duckdb_engine import DuckDBEngine

COMMON = ("principal_arn", "src_ip", "account_id", "aws_region")

MATCH_SCHEMA = pa.schema([
    ("rule_id", pa.string()), ("rule_title", pa.string()), ("rule_level", pa.string()),
    ("rule_author", pa.string()), ("rule_tags", pa.list_(pa.string())), ("rule_kind", pa.string()), ("table_name", pa.string()),
    ("event_uid", pa.string()), ("event_time", pa.timestamp("us", tz="UTC")),
    *((c, pa.string()) for c in COMMON),
    ("entities", pa.string()),
    ("first_time", pa.timestamp("us", tz="UTC")), ("event_count", pa.int64()),
    ("event_uids", pa.list_(pa.string())), ("group_values", pa.string()),
    ("counted_values", pa.list_(pa.string())),
])
"""Columns of :func:`run_rules`' result (``rule_author`` because the DRL of SigmaHQ rules asks for it). ``event_uid``/``event_time`` is the matching event (for a
correlation: the event at which the threshold was reached); ``entities`` is a JSON object of the
table's entity columns; ``first_time``, ``event_count``, ``event_uids`` cover the correlation
window (the event itself for plain rules); ``group_values`` (JSON) and ``counted_values`` are the
correlation's group-by values and, for value_count, the distinct values counted."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rules_arrow(entries: list[RuleEntry]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"idx": i, "rule_id": e.id, "rule_title": e.title, "rule_level": e.level, "rule_author": e.author,
          "rule_tags": list(e.tags), "rule_kind": e.kind, "output": e.output}
         for i, e in enumerate(entries)],
        schema=pa.schema([("idx", pa.int32()), ("rule_id", pa.string()), ("rule_title", pa.string()),
                          ("rule_level", pa.string()), ("rule_author", pa.string()), ("rule_tags", pa.list_(pa.string())),
                          ("rule_kind", pa.string()), ("output", pa.bool_())]),
    )


def _window(since: Any, until: Any) -> tuple[str, list[Any]]:
    from cairn.timeparse import parse_time

    since, until = parse_time(since, option="since"), parse_time(until, option="until")
    where, params = [], []
    if since is not None:
        where += ["event_time >= CAST(? AS TIMESTAMPTZ)", "event_date >= CAST(CAST(? AS TIMESTAMPTZ) AS DATE)"]
        params += [since, since]
    if until is not None:
        where += ["event_time < CAST(? AS TIMESTAMPTZ)", "event_date <= CAST(CAST(? AS TIMESTAMPTZ) AS DATE)"]
        params += [until, until]
    return (" WHERE " + " AND ".join(where) if where else ""), params


def table_sql(rules: RuleSet, table: str, rules_relation: str,
              since: datetime | str | None = None, until: datetime | str | None = None,
              relation: str | None = None) -> tuple[str, list[Any]]:
    """The single statement that runs the converted rules of ``table``, with its parameters.

    ``rules_relation`` names a relation of :func:`_rules_arrow`'s shape for the detections of
    ``table`` in order (``detections(rules, table)``); ``relation`` is read instead of the table
    itself when given (a view with the table's columns, e.g. only its new files)."""
    profile: Profile = PROFILES[table]
    dets = detections(rules, table)
    corrs = [e for e in rules.for_table(table) if e.kind == "correlation" and e.correlation]
    index = {e.id: i for i, e in enumerate(dets)}
    exprs = list(dict.fromkeys(x for c in corrs if c.correlation for x in c.correlation.key_exprs()))
    keys = {x: f"_k{i}" for i, x in enumerate(exprs)}
    cases = ", ".join(f"CASE WHEN ({e.sql}) THEN {i} END" for i, e in enumerate(dets))
    common = ", ".join(f"{profile.common.get(c, 'NULL')}::VARCHAR AS {c}"
                       for c in COMMON)
    ents = ", ".join(f"{sql_str(c)}: {_ident(c)}" for c in profile.entity_columns)
    entities = f"CAST(to_json({{{ents}}}) AS VARCHAR)" if ents else "CAST(NULL AS VARCHAR)"
    key_cols = "".join(f", {x} AS {k}" for x, k in keys.items())
    where, params = _window(since, until)
    hits = f"""
    SELECT event_uid, event_time, {common}, {entities} AS entities{key_cols}, unnest(_hits) AS rule_idx
    FROM (SELECT *, [x for x in [{cases}] if x IS NOT NULL] AS _hits FROM {_ident(relation or table)}{where})
    WHERE len(_hits) > 0"""
    parts = [f"""
    SELECT r.rule_id, r.rule_title, r.rule_level, r.rule_author, r.rule_tags, r.rule_kind, {sql_str(table)} AS table_name,
           h.event_uid, h.event_time, {', '.join('h.' + c for c in COMMON)}, h.entities,
           h.event_time AS first_time, CAST(1 AS BIGINT) AS event_count, [h.event_uid] AS event_uids,
           CAST(NULL AS VARCHAR) AS group_values, CAST(NULL AS VARCHAR[]) AS counted_values
    FROM _hits h JOIN {rules_relation} r ON h.rule_idx = r.idx WHERE r.output"""]
    for c in corrs:
        assert c.correlation is not None
        idx = [index[r] for r in c.correlation.rule_ids]
        body = c.correlation.sql("_hits", idx, keys, carry=(*COMMON, "entities"))
        parts.append(f"""
    SELECT {sql_str(c.id)}, {sql_str(c.title)}, {sql_str(c.level)}, {sql_str(c.author)}, {_str_list(c.tags)}, 'correlation',
           {sql_str(table)}, event_uid, event_time, {', '.join(COMMON)}, entities, first_time,
           event_count, event_uids, group_values, CAST(counted_values AS VARCHAR[])
    FROM ({body})""")
    # Materialised once when correlations read the matches too; else inlined into the one reader.
    cte = "AS MATERIALIZED" if corrs else "AS"
    sql = f"WITH _hits {cte} ({hits})\n" + "\nUNION ALL".join(parts) + \
        "\nORDER BY event_time, rule_id, event_uid"
    return sql, params


def _str_list(items: tuple[str, ...]) -> str:
    return "CAST([" + ", ".join(sql_str(t) for t in items) + "] AS VARCHAR[])"


def detections(rules: RuleSet, table: str) -> list[RuleEntry]:
    """Converted detection rules of ``table``, in the order of their index in the scan."""
    return [e for e in rules.for_table(table) if e.kind == "detection"]


def run_rules(engine: DuckDBEngine, rules: RuleSet, *, tables: list[str] | None = None,
              since: datetime | str | None = None, until: datetime | str | None = None,
              relations: dict[str, str] | None = None) -> pa.Table:
    """Matches of the converted rules of ``rules`` on the lake (:data:`MATCH_SCHEMA`).

    One statement per table that has rules (``tables`` restricts them); ``since``/``until``
    bound ``event_time`` (``since`` inclusive, ``until`` exclusive); ``relations`` maps a table
    to the relation read in its place (``cairn detect`` passes views over new files only)."""
    out = [MATCH_SCHEMA.empty_table()]
    for table in rules.tables():
        if tables is not None and table not in tables:
            continue
        dets = detections(rules, table)
        if not dets:
            continue
        name = f"_cairn_sigma_rules_{uuid.uuid4().hex[:12]}"
        engine.register(name, _rules_arrow(dets))
        try:
            sql, params = table_sql(rules, table, name, since, until, (relations or {}).get(table))
            got = engine.arrow(sql, params or None)
        finally:
            engine.unregister(name)
        out.append(got.rename_columns(MATCH_SCHEMA.names).cast(MATCH_SCHEMA))
    return pa.concat_tables(out)
