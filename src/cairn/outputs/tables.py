"""Writing Arrow tables as terminal tables, CSV, JSON lines, JSON or Parquet."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json", "jsonl", "parquet")


def _json_leaf(value: Any) -> Any:
    """Bytes as base64 and times as ISO 8601 text; anything else the JSON encoder does not know is an error."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_jsonable(value: Any) -> Any:
    """Make Arrow/Python values JSON friendly (bytes as base64, times as ISO 8601)."""
    if isinstance(value, bytes | dt.datetime | dt.date | dt.time):
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
    (the encoder converts bytes and times as it meets them; NaN, rare, takes the walk)."""
    try:
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False, default=_json_leaf)
    except ValueError:
        return json.dumps(to_jsonable(data), indent=indent, ensure_ascii=False)


def rows_as_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as JSON-friendly dicts."""
    return [{k: to_jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


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
        text = (
            json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
            if fmt == "json"
            else "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
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
