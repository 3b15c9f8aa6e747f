"""Writing Arrow tables as terminal tables, CSV, JSON lines, JSON or Parquet."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cairn.errors import CairnError, ConfigError
from cairn.outputs.json_text import compact, dumps, rows_as_dicts, to_jsonable
from cairn.outputs.readable import readable, unique_names, with_unique_names

__all__ = ["FILE_FORMATS", "FORMATS", "dumps", "output_format", "readable", "render", "rows_as_dicts",
           "to_jsonable", "unique_names"]

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
FILE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
"""The format of an output file named with one of these suffixes (and no explicit format)."""



def output_format(fmt: str | None, out: Path | None) -> str:
    """The format to write: ``fmt`` when given, else the one of ``out``'s suffix (:data:`FILE_FORMATS`),
    else ``table`` on the terminal. A table cannot go to a file."""
    if fmt is None and out is not None:
        fmt = FILE_FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise ConfigError(f"cannot tell the format of {out} from its name; give -f/--format "
                              f"({', '.join(f for f in FORMATS if f != 'table')}) or name it "
                              f"{'|'.join(FILE_FORMATS)}")
    fmt = fmt or "table"
    if fmt not in FORMATS:
        raise CairnError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "table" and out is not None:
        raise ConfigError(f"cannot write {out}: the table format is for the terminal; give -f/--format "
                          f"({', '.join(f for f in FORMATS if f != 'table')})")
    if fmt == "parquet" and out is None:
        raise ConfigError("parquet output needs -o/--output FILE")
    return fmt


def _write(out: Path, write: Callable[[], object]) -> None:
    """Run ``write`` (which writes ``out``); an OS failure is a :class:`CairnError` naming the file."""
    try:
        write()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if Path(out).is_dir():
            reason = "is a folder"
        elif not Path(out).parent.is_dir():
            reason = "no such folder"
        raise CairnError(f"cannot write {out}: {reason}") from exc


def _to_file(out: Path, write: Callable[[Any], object]) -> None:
    """``write`` into ``out`` opened by Python, whose close reports what Arrow's own file may not
    (a full disk)."""
    with open(out, "wb") as f:
        write(f)


def render(table: pa.Table, fmt: str, out: Path | None = None, *, console: Console | None = None,
           title: str | None = None, max_width: int = 60) -> None:
    """Write ``table`` in ``fmt`` to ``out`` (a path) or standard output.

    Every column is written: JSON, JSON lines and Parquet rename repeated names ``name_2``, ``name_3``,
    ...; CSV and the terminal table keep them. Values that cannot be written faithfully are written as
    DuckDB's text of them (:func:`readable`). A file that cannot be written raises :class:`CairnError`.
    """
    if fmt == "parquet":
        if out is None:
            raise ConfigError("parquet output needs -o/--output FILE")
        ready = readable(with_unique_names(table), parquet=True)
        _write(out, lambda: _to_file(out, lambda f: pq.write_table(ready, f)))
        return
    if fmt == "csv":
        flat = _flatten_for_csv(readable(table))
        if out:
            _write(out, lambda: _to_file(out, lambda f: pacsv.write_csv(flat, f)))
        else:
            sink = pa.BufferOutputStream()
            pacsv.write_csv(flat, sink)
            sys.stdout.write(sink.getvalue().to_pybytes().decode())
        return
    if fmt in ("json", "jsonl"):
        rows = rows_as_dicts(table)
        text = dumps(rows) + "\n" if fmt == "json" else "".join(compact(r) + "\n" for r in rows)
        if out:
            _write(out, lambda: Path(out).write_text(text, encoding="utf-8"))
        else:
            sys.stdout.write(text)
        return
    if out is not None:
        raise ConfigError(f"cannot write {out}: the table format is for the terminal")
    console = console or Console(emoji=False)
    shown = readable(table)
    t = Table(title=Text(title) if title is not None else None, show_lines=False)
    for name in shown.column_names:
        t.add_column(Text(name), overflow="fold", max_width=max_width)
    columns = [col.to_pylist() for col in shown.columns]
    for row in zip(*columns, strict=True):
        t.add_row(*[_cell(v, max_width) for v in row])
    console.print(t)


def _cell(v: Any, width: int) -> Text:
    """A value as verbatim text (no markup, no emoji codes), cut to ``width * 3`` characters."""
    if v is None:
        return Text("∅", style="dim")
    if isinstance(v, bytes):
        s = v.hex()
    elif isinstance(v, dt.datetime):
        s = v.strftime("%Y-%m-%d %H:%M:%S%z")
    else:
        s = str(v) if not isinstance(v, list | dict) else json.dumps(to_jsonable(v))
    return Text(s if len(s) <= width * 3 else s[: width * 3 - 1] + "…")


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
