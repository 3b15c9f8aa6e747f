"""Writing Arrow tables as terminal tables, CSV, JSON lines, JSON or Parquet."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json", "jsonl", "parquet")


BULK_ITEMS = 1000
"""A list longer than this is written one compact item per line (the indenting encoder is pure Python)."""
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "+00:00", "Z"})


def _json_leaf(value: Any) -> Any:
    """Bytes as base64, times as ISO 8601 text, decimals as numbers (integral ones exactly); anything else
    the JSON encoder does not know is an error."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_jsonable(value: Any) -> Any:
    """Make Arrow/Python values JSON friendly (bytes as base64, times as ISO 8601)."""
    if isinstance(value, bytes | dt.datetime | dt.date | dt.time | Decimal):
        return _json_leaf(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """JSON text of ``data`` as :func:`to_jsonable` would make it, without walking it first
    (the encoder converts bytes and times as it meets them; NaN, rare, takes the walk).

    Indented, except that a list of more than :data:`BULK_ITEMS` items (the data itself, or a value
    of the top-level dict) is written one compact item per line: the same JSON value, read by
    people as rows, and written by the C encoder instead of the pure-Python indenting one.
    """
    if indent is not None and _bulky(data):
        pad = " " * indent
        if isinstance(data, list):
            return _bulk_list(data, pad, "")
        parts = [f"{pad}{_compact(k)}: "
                 + (_bulk_list(v, pad, pad) if _bulky(v) else _encode(v, indent).replace("\n", "\n" + pad))
                 for k, v in data.items()]
        return "{\n" + ",\n".join(parts) + "\n}" if parts else "{}"
    return _encode(data, indent)


def _encode(data: Any, indent: int | None) -> str:
    try:
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False, default=_json_leaf)
    except ValueError:
        return json.dumps(to_jsonable(data), indent=indent, ensure_ascii=False)


_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_json_leaf)


def _compact(data: Any) -> str:
    """One line of JSON (the default separators of ``json.dumps``); one encoder for every call."""
    try:
        return _COMPACT.encode(data)
    except ValueError:
        return json.dumps(to_jsonable(data), ensure_ascii=False)


def _bulky(data: Any) -> bool:
    if isinstance(data, list):
        return len(data) > BULK_ITEMS
    return isinstance(data, dict) and any(isinstance(v, list) and len(v) > BULK_ITEMS for v in data.values())


def _bulk_list(items: list[Any], pad: str, outer: str) -> str:
    inner = outer + pad
    return "[\n" + ",\n".join(inner + _compact(x) for x in items) + "\n" + outer + "]"


def json_ready(table: pa.Table) -> pa.Table:
    """``table`` with its flat columns already in their JSON form, computed by Arrow: times in UTC (or
    without zone) and dates as ``isoformat`` text, binary as base64, NaN as null. Nested and other
    columns are left to :func:`to_jsonable`; the rows come out as :func:`to_jsonable` would make them."""
    cols = []
    for col in table.columns:
        t = col.type
        if pa.types.is_timestamp(t) and t.unit != "ns" and (t.tz is None or t.tz in _UTC_ZONES):
            col = _iso_times(col, t.tz)
        elif pa.types.is_date(t):
            col = pc.strftime(col, format="%Y-%m-%d")
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            col = pa.chunked_array([pa.array([None if v is None else base64.b64encode(v).decode()
                                              for v in col.to_pylist()], pa.string())])
        elif pa.types.is_floating(t):
            col = pc.if_else(pc.is_nan(col), pa.scalar(None, t), col)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _iso_times(col: pa.ChunkedArray, tz: str | None) -> pa.ChunkedArray:
    """``datetime.isoformat`` of every time (``.ffffff`` only when not zero; ``+00:00`` when zoned)."""
    whole = not pc.any(pc.not_equal(pc.subsecond(col), 0)).as_py()
    text = pc.strftime(col.cast(pa.timestamp("s" if whole else "us", tz)), format="%Y-%m-%dT%H:%M:%S")
    if not whole:
        text = pc.replace_substring_regex(text, r"\.000000$", "")
    return text if tz is None else pc.binary_join_element_wise(text, "+00:00", "")


def _needs_walk(t: pa.DataType) -> bool:
    """Can values of this (converted) type still hold something JSON has no type for?"""
    return not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t))


def rows_as_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as JSON-friendly dicts (flat columns converted by :func:`json_ready`)."""
    ready = json_ready(table)
    rows = ready.to_pylist()
    walk = [f.name for f in ready.schema if _needs_walk(f.type)]
    if walk:
        for row in rows:
            for k in walk:
                row[k] = to_jsonable(row[k])
    return rows


def render(table: pa.Table, fmt: str, out: Path | None = None, *, console: Console | None = None,
           title: str | None = None, max_width: int = 60) -> None:
    """Write ``table`` in ``fmt`` to ``out`` (a path) or standard output."""
    if fmt == "parquet":
        if out is None:
            raise ValueError("parquet output needs -o/--output FILE")
        pq.write_table(table, out)
        return
    if fmt == "csv":
        flat = _flatten_for_csv(table)
        if out:
            pacsv.write_csv(flat, out)
        else:
            sink = pa.BufferOutputStream()
            pacsv.write_csv(flat, sink)
            sys.stdout.write(sink.getvalue().to_pybytes().decode())
        return
    if fmt in ("json", "jsonl"):
        rows = rows_as_dicts(table)
        text = dumps(rows) + "\n" if fmt == "json" else "".join(_compact(r) + "\n" for r in rows)
        if out:
            Path(out).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return
    console = console or Console()
    t = Table(title=title, show_lines=False)
    for name in table.column_names:
        t.add_column(name, overflow="fold", max_width=max_width)
    for row in table.to_pylist():
        t.add_row(*[_cell(v, max_width) for v in row.values()])
    console.print(t)


def _cell(v: Any, width: int) -> str:
    if v is None:
        return "[dim]∅[/dim]"
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S%z")
    s = str(v) if not isinstance(v, list | dict) else json.dumps(to_jsonable(v))
    s = s.replace("[", r"\[")
    return s if len(s) <= width * 3 else s[: width * 3 - 1] + "…"


def _flatten_for_csv(table: pa.Table) -> pa.Table:
    cols = []
    for col in table.columns:
        if pa.types.is_nested(col.type) or pa.types.is_binary(col.type):
            vals = [None if v is None else (json.dumps(to_jsonable(v)) if not isinstance(v, bytes) else v.hex())
                    for v in col.to_pylist()]
            cols.append(pa.array(vals, pa.string()))
        else:
            cols.append(col)
    return pa.table(cols, names=table.column_names)
