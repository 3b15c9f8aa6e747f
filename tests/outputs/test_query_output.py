"""``cairn query`` output: values verbatim, every column, file errors, formats from file names, values with
no Python/JSON form, strict JSON, empty SQL. Through the real command line (the ``cli`` fixture)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from cairn.outputs.tables import render, unique_names


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace for the module (queries here read no lake table)."""
    return tmp_path_factory.mktemp("query") / "ws"


def _strict(text: str) -> Any:
    """Parse JSON, refusing the ``Infinity``/``NaN`` words Python's encoder may write."""
    def refuse(word: str) -> Any:
        raise ValueError(f"not JSON: {word}")
    return json.loads(text, parse_constant=refuse)


def _rows(r: Any, fmt: str) -> list[dict[str, Any]]:
    if fmt == "json":
        return _strict(r.out)
    if fmt == "jsonl":
        return [_strict(line) for line in r.out.splitlines()]
    return list(csv.DictReader(io.StringIO(r.out)))


# -- 1. values and names print verbatim in the terminal table -------------------------------------------
VERBATIM = ["2001:db8:a:b::1", ":x:", "[red]evil.com", "[bold]x[/bold]", "a\\[b]", "[link=http://e.vil]y[/link]"]


@pytest.mark.parametrize("value", VERBATIM)
def test_table_cells_and_names_are_verbatim(value: str, cli: Any, ws: Path) -> None:
    name = value.replace('"', '""')
    lit = value.replace("'", "''")
    r = cli("-w", ws, "query", f"SELECT '{lit}' AS \"{name}\", 1 AS n")
    assert r.code == 0, r.err
    assert r.out.count(value) == 2  # the header and the cell


@pytest.mark.parametrize("value", VERBATIM)
def test_render_is_verbatim_even_on_an_emoji_console(value: str) -> None:
    sink = io.StringIO()
    render(pa.table({value: [value, None]}), "table", console=Console(file=sink, width=200))
    text = sink.getvalue()
    assert text.count(value) == 2 and "∅" in text


# -- 2. repeated column names ------------------------------------------------------------------------------
@pytest.mark.parametrize(("names", "unique"), [
    (["a", "a", "a"], ["a", "a_2", "a_3"]),
    (["a", "a", "a_2"], ["a", "a_3", "a_2"]),
    (["x", "y"], ["x", "y"]),
    (["a", "A", "a"], ["a", "A", "a_2"]),
])
def test_unique_names(names: list[str], unique: list[str]) -> None:
    assert unique_names(names) == unique


DUPES = "SELECT 1 AS a, 2 AS a, 3 AS a, 4 AS a_2"


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_repeated_names_keep_every_column(fmt: str, cli: Any, ws: Path) -> None:
    r = cli("-w", ws, "query", DUPES, "-f", fmt)
    assert r.code == 0, r.err
    if fmt == "csv":
        assert r.out.splitlines() == ['"a","a","a","a_2"', "1,2,3,4"]
    else:
        assert _rows(r, fmt) == [{"a": 1, "a_3": 2, "a_4": 3, "a_2": 4}]


def test_repeated_names_in_table_and_parquet(cli: Any, ws: Path, tmp_path: Path) -> None:
    r = cli("-w", ws, "query", DUPES)
    assert r.code == 0 and [c.strip() for c in r.out.splitlines()[3].split("│")[1:-1]] == ["1", "2", "3", "4"]
    out = tmp_path / "d.parquet"
    assert cli("-w", ws, "query", DUPES, "-o", out).code == 0
    assert pq.read_table(out).to_pylist() == [{"a": 1, "a_3": 2, "a_4": 3, "a_2": 4}]


# -- 3. files that cannot be written -----------------------------------------------------------------------
def _full_device(tmp_path: Path) -> Path:
    dev = tmp_path / "full"
    try:
        os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 7))  # a character device like /dev/full
    except (PermissionError, AttributeError, OSError):
        pytest.skip("cannot make a /dev/full device here")
    return dev


@pytest.mark.parametrize(("target", "fmt", "code", "reason"), [
    ("missing/x.csv", "csv", 1, "no such folder"),
    ("missing/x.parquet", "parquet", 1, "no such folder"),
    (".", "json", 1, "is a folder"),
    (".", "parquet", 1, "is a folder"),
    ("FULL", "csv", 1, "No space left on device"),
    ("FULL", "json", 1, "No space left on device"),
    ("FULL", "jsonl", 1, "No space left on device"),
    ("FULL", "parquet", 1, "No space left on device"),
])
def test_unwritable_outputs_are_errors(target: str, fmt: str, code: int, reason: str, cli: Any, ws: Path,
                                       tmp_path: Path) -> None:
    path = _full_device(tmp_path) if target == "FULL" else tmp_path / target
    r = cli("-w", ws, "query", "SELECT 1 AS a", "-f", fmt, "-o", path)
    assert r.code == code
    assert f"error: cannot write {path}: {reason}" in " ".join(r.err.split())
    assert "Traceback" not in r.err and "wrote" not in r.err


def test_parquet_needs_a_file(cli: Any, ws: Path) -> None:
    r = cli("-w", ws, "query", "SELECT 1", "-f", "parquet")
    assert r.code == 2 and "parquet output needs -o/--output FILE" in r.err and r.out == ""


# -- 4. the format of -o FILE ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "read"), [
    ("x.csv", lambda p: list(csv.DictReader(p.open()))),
    ("x.json", lambda p: _strict(p.read_text())),
    ("x.jsonl", lambda p: [_strict(x) for x in p.read_text().splitlines()]),
    ("x.ndjson", lambda p: [_strict(x) for x in p.read_text().splitlines()]),
    ("x.PARQUET", lambda p: pq.read_table(p).to_pylist()),
])
def test_format_from_the_file_name(name: str, read: Any, cli: Any, ws: Path, tmp_path: Path) -> None:
    out = tmp_path / name
    r = cli("-w", ws, "query", "SELECT 7 AS a", "-o", out)
    assert r.code == 0 and r.out == "" and f"wrote 1 rows to {out}" in r.err
    assert [str(row["a"]) for row in read(out)] == ["7"]


@pytest.mark.parametrize("args", [["-o", "x.txt"], ["-o", "x"], ["-f", "table", "-o", "x.csv"]])
def test_no_table_into_a_file(args: list[str], cli: Any, ws: Path, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("-w", ws, "query", "SELECT 1 AS a", *args)
    assert r.code == 2 and f"cannot {'write' if '-f' in args else 'tell the format of'} {args[-1]}" in r.err
    assert r.out == "" and "wrote" not in r.err and list(tmp_path.iterdir()) == []


# -- 5. values Arrow, Python, JSON or CSV cannot carry: DuckDB's text of them -------------------------------
ODD = [
    ("INTERVAL '3 days 4 hours 5.5 seconds'", "3 days 04:00:05.5", True),
    ("'2024-01-01 00:00:00.123456789'::TIMESTAMP_NS", "2024-01-01 00:00:00.123456789", False),
    ("'infinity'::TIMESTAMP", "infinity", False),
    ("'-infinity'::TIMESTAMPTZ", "-infinity", False),
    ("'infinity'::DATE", "infinity", False),
    ("TIMESTAMP '294247-01-01'", "294247-01-01 00:00:00", False),
    ("DATE '0044-03-15 (BC)'", "0044-03-15 (BC)", False),
    ("123::VARINT", "123", True),
    ("'0101'::BIT", "0101", True),
    ("TIMETZ '12:00:00+01'", "12:00:00+01", True),
    ("[INTERVAL 1 DAY, NULL]", "[1 day, NULL]", True),
    ("['infinity'::TIMESTAMP]", "[infinity]", False),
    ("{'b': '01'::BIT}", "{'b': 01}", True),
]


@pytest.mark.parametrize(("expr", "text", "parquet_text"), ODD)
@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl", "parquet"])
def test_odd_values_as_duckdb_text(expr: str, text: str, parquet_text: bool, fmt: str, cli: Any, ws: Path,
                                   tmp_path: Path) -> None:
    sql = f"SELECT {expr} AS v, 1 AS n"
    out = tmp_path / "v.parquet"
    r = cli("-w", ws, "query", sql, "-f", fmt, *(["-o", out] if fmt == "parquet" else []))
    assert r.code == 0, r.err
    if fmt == "table":
        assert text in r.out
    elif fmt == "parquet":
        stored = pq.read_table(out)
        assert stored.num_rows == 1
        if parquet_text:
            assert stored.column("v").to_pylist() == [text]
    else:
        assert _rows(r, fmt) == [{"v": text, "n": 1 if fmt != "csv" else "1"}]


def test_ordinary_times_keep_their_form(cli: Any, ws: Path) -> None:
    sql = "SELECT TIMESTAMPTZ '2024-05-06 07:08:09' AS t, DATE '2024-05-06' AS d, INTERVAL 1 DAY AS i"
    assert _rows(cli("-w", ws, "query", sql, "-f", "json"), "json") == [
        {"t": "2024-05-06T07:08:09+00:00", "d": "2024-05-06", "i": "1 day"}]


# -- 6. strict JSON ---------------------------------------------------------------------------------------
INF = ("SELECT 'inf'::DOUBLE AS a, '-inf'::FLOAT AS b, 'nan'::DOUBLE AS c, 1.5 AS d, "
       "['inf'::DOUBLE, 2.5, 'nan'::DOUBLE] AS l, {'k': '-inf'::DOUBLE} AS s")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_infinity_is_null_in_json(fmt: str, cli: Any, ws: Path) -> None:
    r = cli("-w", ws, "query", INF, "-f", fmt)
    assert r.code == 0, r.err
    assert _rows(r, fmt) == [{"a": None, "b": None, "c": None, "d": 1.5, "l": [None, 2.5, None], "s": {"k": None}}]


# -- 7. SQL without rows -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sql", ["", "   ", "/* c */", "\n-- only a comment\n", ";"])
def test_empty_sql_is_an_error(sql: str, cli: Any, ws: Path) -> None:
    r = cli("-w", ws, "query", sql)
    assert r.code == 5 and "error: empty query: the SQL has no statement that returns rows" in r.err
    assert "Traceback" not in r.err


def test_empty_sql_from_stdin(cli: Any, ws: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    r = cli("-w", ws, "query", "-")
    assert r.code == 5 and "empty query" in r.err


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_maps_are_objects_and_json_columns_are_json(fmt: str, cli: Any, ws: Path) -> None:
    """A MAP came out as a list of [key, value] pairs and a JSON column as a string of JSON text (while
    ``cairn enrich -f json`` embeds the same columns); CSV keeps the JSON text."""
    sql = ("SELECT MAP {'cost-center': '1001', 'env': 'prod'} AS tags, [MAP {'k': 1}] AS nested, "
           "'{\"a\": [1, null], \"b\": {}}'::JSON AS doc, CAST(NULL AS JSON) AS none, 'plain' AS s")
    [row] = _rows(cli("-w", ws, "query", "-f", fmt, sql), fmt)
    assert row == {"tags": {"cost-center": "1001", "env": "prod"}, "nested": [{"k": 1}],
                   "doc": {"a": [1, None], "b": {}}, "none": None, "s": "plain"}
    r = cli("-w", ws, "query", "-f", "csv", "SELECT '{\"a\": 1}'::JSON AS doc")
    assert list(csv.DictReader(io.StringIO(r.out))) == [{"doc": '{"a": 1}'}]
