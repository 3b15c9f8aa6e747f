"""``cairn.outputs.json_text.dumps`` writes what ``json.dumps(to_jsonable(...))`` wrote, without the walk."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.outputs.json_text import BULK_ITEMS, dumps, rows_as_dicts, to_jsonable

_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(),
    st.binary(max_size=20), st.datetimes(timezones=st.just(dt.UTC)), st.dates(),
)
_tree = st.recursive(_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.tuples(kids, kids), st.dictionaries(st.text(max_size=5), kids, max_size=4)),
    max_leaves=20)


def _old(data: object) -> str:
    return json.dumps(to_jsonable(data), indent=2, ensure_ascii=False)


@given(_tree)
def test_same_text_as_the_walk(data):
    assert dumps(data) == _old(data)


def test_nan_becomes_null_as_before():
    data = {"score": math.nan, "raw": b"\x00\xff", "at": dt.datetime(2026, 11, 29, 5, 0, tzinfo=dt.UTC)}
    assert dumps(data) == _old(data)
    assert json.loads(dumps(data)) == {"score": None, "raw": "AP8=", "at": "2026-11-29T05:00:00+00:00"}


@pytest.mark.parametrize("data", [
    math.inf, -math.inf, [1.0, math.inf], {"a": -math.inf, "b": [math.nan, {"c": math.inf}]},
    [{"i": i, "x": math.inf if i == 3 else i / 2} for i in range(BULK_ITEMS + 1)],
    {"rows": [math.inf] * (BULK_ITEMS + 1), "n": -math.inf},
])
def test_infinity_becomes_null_and_the_text_is_strict_json(data):
    """JSON has no infinity: like NaN it is null, in every path of ``dumps`` and in ``to_jsonable``."""
    def refuse(word):
        raise ValueError(word)
    assert json.loads(dumps(data), parse_constant=refuse) == json.loads(_old(data))
    assert "Infinity" not in dumps(data) and "Infinity" not in dumps(data, indent=None)
    assert "Infinity" not in _old(data)


def test_rows_as_dicts_infinity_is_null():
    table = pa.table({"f": pa.array([math.inf, -math.inf, math.nan, 1.5]),
                      "l": pa.array([[math.inf], None, [math.nan, 2.0], []], pa.list_(pa.float32()))})
    assert rows_as_dicts(table) == [{"f": None, "l": [None]}, {"f": None, "l": None},
                                    {"f": None, "l": [None, 2.0]}, {"f": 1.5, "l": []}]


def test_long_lists_are_one_compact_item_per_line_and_the_same_value():
    rows = [{"i": i, "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "raw": b"\x01", "nan": math.nan}
            for i in range(BULK_ITEMS + 1)]
    for data in (rows, {"rows": rows, "total": {"n": len(rows), "by": [1, 2]}}):
        text = dumps(data)
        assert json.loads(text) == json.loads(_old(data))
        assert '  {"i": 0, "at": "2026-01-01T00:00:00+00:00", "raw": "AQ==", "nan": null},\n' in text
    assert text.startswith('{\n  "rows": [\n    {"i": 0,') and text.endswith('"total": {\n    "n": 1001,\n'
                                                                          '    "by": [\n      1,\n      2\n    ]\n  }\n}')
    assert dumps(rows[:BULK_ITEMS]) == _old(rows[:BULK_ITEMS])  # short lists stay indented


def _old_rows(table: pa.Table) -> list[dict]:
    return [{k: to_jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


_times = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
_columns = {
    "utc": (st.none() | _times.map(lambda d: d.replace(tzinfo=dt.UTC)), pa.timestamp("us", "UTC")),
    "utc_ms": (st.none() | _times.map(lambda d: d.replace(tzinfo=dt.UTC, microsecond=d.microsecond // 1000 * 1000)),
               pa.timestamp("ms", "UTC")),
    "naive": (st.none() | _times, pa.timestamp("us")),
    "zoned": (st.none() | _times.map(lambda d: d.replace(tzinfo=dt.UTC)), pa.timestamp("us", "Europe/Paris")),
    "day": (st.none() | st.dates(), pa.date32()),
    "blob": (st.none() | st.binary(max_size=20), pa.binary()),
    "f": (st.none() | st.floats(), pa.float64()),
    "text": (st.none() | st.text(), pa.string()),
    "n": (st.none() | st.integers(-(2**63), 2**63 - 1), pa.int64()),
    "nested": (st.none() | st.lists(st.none() | st.binary(max_size=4) | _times.map(lambda d: d.replace(tzinfo=dt.UTC))
                                    | st.floats(), max_size=3),
               None),
}


@st.composite
def _tables(draw) -> pa.Table:
    n = draw(st.integers(0, 6))
    names = draw(st.lists(st.sampled_from(sorted(_columns)), min_size=1, max_size=5, unique=True))
    cols = {}
    for name in names:
        values, typ = _columns[name]
        vals = [draw(values) for _ in range(n)]
        if name == "nested":
            cols[name] = pa.array([None if v is None else [x for x in v if not isinstance(x, bytes | dt.datetime)]
                                   for v in vals], pa.list_(pa.float64()))
            cols["nested_blob"] = pa.array([None if v is None else [x for x in v if isinstance(x, bytes)]
                                            for v in vals], pa.list_(pa.binary()))
        else:
            cols[name] = pa.array(vals, typ)
    return pa.table(cols)


@given(_tables())
def test_rows_as_dicts_converts_in_arrow_what_the_walk_converted(table):
    assert json.dumps(rows_as_dicts(table)) == json.dumps(_old_rows(table))


def test_decimals_and_hugeints_are_numbers():
    table = pa.table({"d": pa.array([Decimal("1.50"), None], pa.decimal128(4, 2)),
                      "h": pa.array([Decimal(2**100), Decimal(-1)], pa.decimal128(38, 0))})
    assert json.loads(dumps(rows_as_dicts(table))) == [{"d": 1.5, "h": 2**100}, {"d": None, "h": -1}]


def test_whole_second_and_fractional_columns():
    whole = [dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC), None]
    frac = [*whole, dt.datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC)]
    for values in (whole, frac):
        table = pa.table({"t": pa.array(values, pa.timestamp("us", "UTC"))})
        assert rows_as_dicts(table) == _old_rows(table)
    assert rows_as_dicts(pa.table({"t": pa.array(whole[:1], pa.timestamp("us", "UTC"))})) == [
        {"t": "0001-01-01T00:00:00+00:00"}]
