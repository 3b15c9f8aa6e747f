"""``cairn.outputs.tables.dumps`` writes what ``json.dumps(to_jsonable(...))`` wrote, without the walk."""

from __future__ import annotations

import datetime as dt
import json
import math

from hypothesis import given
from hypothesis import strategies as st

from cairn.outputs.tables import dumps, to_jsonable

_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(),
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
