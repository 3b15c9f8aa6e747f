"""Compile converted rules in DuckDB against empty tables of the lake's schema, so that a rule
marked converted is known to bind and run (types, functions, regular expressions)."""

from __future__ import annotations

from dataclasses import replace

import duckdb

from cairn.detect.sigma.loader import RuleEntry


def validate_entries(entries: list[RuleEntry]) -> list[RuleEntry]:
    """``entries`` with the ones DuckDB rejects turned into failures (with DuckDB's message)."""
    from cairn.lake.catalog import all_specs

    specs = all_specs()
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        made: set[str] = set()
        out: list[RuleEntry] = []
        for e in entries:
            if e.reason is not None or e.sql is None or e.table is None:
                out.append(e)
                continue
            if e.table not in made:
                con.execute(f'CREATE TABLE "{e.table}" AS {specs[e.table].empty_select()}')
                made.add(e.table)
            sql = e.sql if e.kind == "correlation" else f'SELECT count(*) FROM "{e.table}" WHERE {e.sql}'
            try:
                con.execute(sql).fetchall()
            except duckdb.Error as exc:
                first = str(exc).strip().splitlines()[0]
                out.append(replace(e.failed(f"DuckDB rejected the SQL: {first}"), sql=e.sql))
                continue
            out.append(e)
        return out
    finally:
        con.close()
