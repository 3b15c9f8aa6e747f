"""Rule values and field names reach SQL escaped: quotes, LIKE wildcards, backslashes, JSON keys."""

from __future__ import annotations

from typing import Any

import pytest
from sigma.types import SigmaString

from cairn.detect.sigma import load_rules
from cairn.detect.sigma.sqltext import json_path, like_pattern, sql_str
from detect.sigmadata import ct, match_one, rule_yaml, write_records

HOSTILE_UA = "it's 100% o_k \\ back\\slash"
EVENTS = [
    ct("hostile", userAgent=HOSTILE_UA,
       requestParameters={"a'b": "x'y", 'q"k': 'z"w', "back\\slash": "v"}),
    ct("decoy", userAgent="its 100x oXk / back/slash"),
    ct("decoy2", userAgent="it''s 100%% o__k \\\\ back\\\\slash"),
]

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("exact value with quote, %, _ and backslashes", {"userAgent": HOSTILE_UA}, {"hostile"}),
    ("contains a literal %", {"userAgent|contains": "100% "}, {"hostile"}),
    ("contains a literal _", {"userAgent|contains": "o_k"}, {"hostile"}),
    ("startswith a quote", {"userAgent|startswith": "it's"}, {"hostile"}),
    ("endswith a backslash word", {"userAgent|endswith": "back\\slash"}, {"hostile"}),
    ("LIKE pattern keeps %, _ and \\ literal", {"userAgent": "*100%*o_k*\\\\*"}, {"hostile"}),
    ("escaped Sigma wildcard is a literal *", {"userAgent|contains": "100\\*"}, set()),
    ("SQL injection attempt is a plain value", {"userAgent": "x'; DROP TABLE cloudtrail; --"}, set()),
    ("regex with a quote", {"userAgent|re": "^it's [0-9]+% o_k"}, {"hostile"}),
    ("JSON key with a single quote", {"requestParameters.a'b": "x'y"}, {"hostile"}),
    ('JSON key with a double quote', {'requestParameters.q"k': 'z"w'}, {"hostile"}),
    ("JSON key with a backslash", {"requestParameters.back\\slash": "v"}, {"hostile"}),
]


@pytest.fixture(scope="module")
def hostile_lake(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conftest import Lake

    root = tmp_path_factory.mktemp("sigma-escaping")
    lake = Lake(root / "ws")
    lake.ingest(write_records(root / "events.json", EVENTS))
    yield lake
    lake.close()


@pytest.mark.parametrize(("name", "selection", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hostile_value(name: str, selection: dict[str, Any], expected: set[str], hostile_lake: Any) -> None:
    assert match_one(hostile_lake.engine, {"sel": selection, "condition": "sel"}) == expected
    assert hostile_lake.scalar("SELECT count(*) FROM cloudtrail") == 3


def test_keyword_with_quotes(hostile_lake: Any) -> None:
    assert match_one(hostile_lake.engine, {"keywords": ["IT'S 100%"], "condition": "keywords"}) == {"hostile"}


def test_hostile_metadata_reaches_sql_escaped(hostile_lake: Any) -> None:
    """Titles, ids and tags are data, never SQL (they travel in a registered Arrow table)."""
    from cairn.detect.sigma import run_rules

    text = rule_yaml({"sel": {"userAgent|contains": "o_k"}, "condition": "sel"},
                     title="it's'); DROP TABLE cloudtrail; --", tags=["attack.t1'--"])
    rows = run_rules(hostile_lake.engine, load_rules(texts={"t.yml": text})).to_pylist()
    assert [r["rule_title"] for r in rows] == ["it's'); DROP TABLE cloudtrail; --"]


def test_literal_helpers() -> None:
    assert sql_str("a'b\\c") == "'a''b\\c'"
    assert like_pattern(SigmaString("50%_off\\\\*"), lower=True) == "'50\\%\\_off\\\\%'"
    assert like_pattern(SigmaString("O'Neil?"), lower=True) == "'o''neil_'"
    assert json_path(["a'b", 'q"k', "[*]", "x\\y"]) == '$."a\'b"."q\\"k"[*]."x\\\\y"'
    with pytest.raises(ValueError, match="NUL"):
        sql_str("a\x00b")
