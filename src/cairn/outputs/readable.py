"""Arrow columns that JSON, CSV, Python or Parquet cannot carry faithfully, as DuckDB's own text of
their values, and unique column names for outputs keyed by name."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from cairn.errors import CairnError


def unique_names(names: list[str]) -> list[str]:
    """``names`` with repeats renamed ``name_2``, ``name_3``, ... (skipping names already taken), so that
    every column survives as a key of a dict or a field of a Parquet file."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            n = 2
            while f"{name}_{n}" in taken:
                n += 1
            name = f"{name}_{n}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


def with_unique_names(table: pa.Table) -> pa.Table:
    """``table`` with :func:`unique_names` (itself when no name repeats)."""
    names = unique_names(table.column_names)
    return table if names == table.column_names else table.rename_columns(names)


# Python's datetime range (years 1 to 9999) in seconds and days from the Unix epoch.
_MIN_SECOND, _MAX_SECOND = -62_135_596_800, 253_402_300_799
_MIN_DAY, _MAX_DAY = -719_162, 2_932_896
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000}


def _types(t: pa.DataType) -> Iterator[pa.DataType]:
    """``t`` and every type nested in it."""
    yield t
    for i in range(getattr(t, "num_fields", 0)):
        yield from _types(t.field(i).type)


def _leaves(arr: pa.Array) -> Iterator[pa.Array]:
    """The arrays of the innermost values of ``arr`` (itself when it is flat)."""
    t = arr.type
    if pa.types.is_map(t):
        yield from _leaves(arr.keys)
        yield from _leaves(arr.items)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _leaves(arr.flatten())
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            yield from _leaves(arr.field(i))
    else:
        yield arr


def _beyond_python(arr: pa.Array) -> bool:
    """Does ``arr`` hold a date or time Python cannot hold (infinity, before year 1, after year 9999)?"""
    t = arr.type
    if pa.types.is_timestamp(t) and t.unit in _PER_SECOND:
        lo, hi = _MIN_SECOND * _PER_SECOND[t.unit], (_MAX_SECOND + 1) * _PER_SECOND[t.unit] - 1
    elif pa.types.is_date32(t):
        lo, hi = _MIN_DAY, _MAX_DAY
    elif pa.types.is_date64(t):
        lo, hi = _MIN_DAY * 86_400_000, (_MAX_DAY + 1) * 86_400_000 - 1
    else:
        return False
    ends = pc.min_max(arr.view(pa.int32() if pa.types.is_date32(t) else pa.int64()))
    return ends["min"].is_valid and (ends["min"].as_py() < lo or ends["max"].as_py() > hi)


def _needs_text(col: pa.ChunkedArray, *, parquet: bool) -> bool:
    """Must ``col`` be written as text: Parquet cannot store it (intervals, extension types), or Python,
    JSON and CSV cannot carry its values faithfully (also nanosecond times, durations, dates beyond
    Python's years 1 to 9999, infinity)?"""
    types = list(_types(col.type))
    if any(pa.types.is_interval(t) or isinstance(t, pa.BaseExtensionType) for t in types):
        return True
    if parquet:
        return False
    if any(pa.types.is_duration(t) or ((pa.types.is_timestamp(t) or pa.types.is_time(t)) and t.unit == "ns")
           for t in types):
        return True
    if not any(pa.types.is_timestamp(t) or pa.types.is_date(t) for t in types):
        return False
    return any(_beyond_python(leaf) for chunk in col.chunks for leaf in _leaves(chunk))


def readable(table: pa.Table, *, parquet: bool = False) -> pa.Table:
    """``table`` with the columns that cannot be written faithfully (see :func:`_needs_text`) as DuckDB's
    own text of their values (``3 days 04:05:06.5``, ``infinity``, ``0044-03-15 (BC)``, ``123``);
    other columns unchanged. ``parquet``: only what Parquet cannot store."""
    picked = [i for i, col in enumerate(table.columns) if _needs_text(col, parquet=parquet)]
    if not picked:
        return table
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("picked", pa.table([table.column(i) for i in picked], names=[f"c{i}" for i in picked]))
        text = con.sql("SELECT " + ", ".join(f"CAST(c{i} AS VARCHAR)" for i in picked) + " FROM picked")
        texts = text.to_arrow_table()
    except duckdb.Error as exc:
        names = ", ".join(repr(table.column_names[i]) for i in picked)
        raise CairnError(f"cannot convert column {names} to text: {exc}") from exc
    finally:
        con.close()
    cols = list(table.columns)
    for k, i in enumerate(picked):
        cols[i] = texts.column(k).cast(pa.string())
    return pa.table(cols, names=table.column_names)


