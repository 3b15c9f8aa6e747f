"""JSON text of cairn's results: strict JSON (NaN and infinity as null), bytes as base64, times as
ISO 8601, and Arrow tables as JSON-friendly rows converted by Arrow rather than value by value."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cairn.outputs.readable import readable, with_unique_names

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
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_jsonable(value: Any) -> Any:
    """Make Arrow/Python values JSON friendly (bytes as base64, times as ISO 8601, NaN and ±infinity,
    which JSON has no words for, as null)."""
    if isinstance(value, bytes | dt.datetime | dt.date | dt.time | Decimal):
        return _json_leaf(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """JSON text of ``data`` as :func:`to_jsonable` would make it, without walking it first
    (the encoder converts bytes and times as it meets them; NaN and infinity, rare, take the walk).
    Always strict JSON.

    Indented, except that a list of more than :data:`BULK_ITEMS` items (the data itself, or a value
    of the top-level dict) is written one compact item per line: the same JSON value, read by
    people as rows, and written by the C encoder instead of the pure-Python indenting one.
    """
    if indent is not None and _bulky(data):
        pad = " " * indent
        if isinstance(data, list):
            return _bulk_list(data, pad, "")
        parts = [f"{pad}{compact(k)}: "
                 + (_bulk_list(v, pad, pad) if _bulky(v) else _encode(v, indent).replace("\n", "\n" + pad))
                 for k, v in data.items()]
        return "{\n" + ",\n".join(parts) + "\n}" if parts else "{}"
    return _encode(data, indent)


def _encode(data: Any, indent: int | None) -> str:
    try:
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False, default=_json_leaf)
    except ValueError:
        return json.dumps(to_jsonable(data), indent=indent, ensure_ascii=False, allow_nan=False)


_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_json_leaf)


def compact(data: Any) -> str:
    """One line of JSON (the default separators of ``json.dumps``); one encoder for every call."""
    try:
        return _COMPACT.encode(data)
    except ValueError:
        return json.dumps(to_jsonable(data), ensure_ascii=False, allow_nan=False)


def _bulky(data: Any) -> bool:
    if isinstance(data, list):
        return len(data) > BULK_ITEMS
    return isinstance(data, dict) and any(isinstance(v, list) and len(v) > BULK_ITEMS for v in data.values())


def _bulk_list(items: list[Any], pad: str, outer: str) -> str:
    inner = outer + pad
    return "[\n" + ",\n".join(inner + compact(x) for x in items) + "\n" + outer + "]"


def json_ready(table: pa.Table) -> pa.Table:
    """``table`` with its flat columns already in their JSON form, computed by Arrow: times in UTC (or
    without zone) and dates as ``isoformat`` text, binary as base64, NaN and ±infinity as null. Nested and other
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
            col = pc.if_else(pc.or_(pc.is_nan(col), pc.is_inf(col)), pa.scalar(None, t), col)
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


JSON_FIELD = b"cairn:json"
"""Arrow field metadata key of a text column that holds JSON (DuckDB's JSON type arrives as plain text)."""


def mark_json_columns(table: pa.Table, is_json: list[bool]) -> pa.Table:
    """``table`` with its JSON-typed columns (``is_json`` per column) marked for :func:`rows_as_dicts`."""
    if not any(is_json):
        return table
    fields = [f.with_metadata({**(f.metadata or {}), JSON_FIELD: b"1"}) if j else f
              for f, j in zip(table.schema, is_json, strict=True)]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def rows_as_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as JSON-friendly dicts (flat columns converted by :func:`json_ready`, values
    JSON has no type for as text by :func:`readable`, maps as objects, columns marked by
    :func:`mark_json_columns` as their JSON values); repeated column names become ``name_2``, ``name_3``,
    ... (:func:`unique_names`) so that no column is lost."""
    named = with_unique_names(table)
    json_cols = [n for n, f in zip(named.column_names, table.schema, strict=True)
                 if f.metadata and f.metadata.get(JSON_FIELD)]
    ready = json_ready(readable(named))
    rows = ready.to_pylist(maps_as_pydicts="lossy")
    walk = [f.name for f in ready.schema if _needs_walk(f.type)]
    if walk or json_cols:
        for row in rows:
            for k in walk:
                row[k] = to_jsonable(row[k])
            for k in json_cols:
                if row[k] is not None:
                    row[k] = json.loads(row[k])
    return rows


