"""Usage errors exit 2 (README), ``tables --schema`` knows the enriched views, markup is not eaten."""

from __future__ import annotations

from pathlib import Path


def test_lookup_without_values_is_a_usage_error(cli, tmp_path: Path) -> None:
    r = cli("-w", tmp_path / "ws", "lookup")
    assert r.code == 2
    assert "nothing to look up: give values, - for stdin, or --file FILE" in r.err
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n", encoding="utf-8")
    r = cli("-w", tmp_path / "ws", "lookup", "--file", empty)
    assert r.code == 2 and f"nothing to look up: {empty} has no values" in " ".join(r.err.split())


def test_tables_schema_unknown_is_a_usage_error(cli, tmp_path: Path) -> None:
    r = cli("-w", tmp_path / "ws", "tables", "--schema", "nope")
    assert r.code == 2
    err = " ".join(r.err.split())
    assert "--schema: unknown table 'nope'" in err and "views are cloudtrail_enriched" in err


def test_tables_schema_of_an_enriched_view(cli, tmp_path: Path) -> None:
    base = cli("-w", tmp_path / "ws", "--json", "tables", "--schema", "cloudtrail").json()
    r = cli("-w", tmp_path / "ws", "--json", "tables", "--schema", "cloudtrail_enriched")
    assert r.code == 0, r.err
    cols = r.json()
    assert cols[: len(base)] == base
    assert [c["name"] for c in cols[len(base):]] == ["max_score_id", "enrichment"]
    assert cols[-1]["type"].startswith("STRUCT(field VARCHAR") and cols[-1]["type"].endswith(")[]")
    r = cli("-w", tmp_path / "ws", "tables", "--schema", "vpcflow_enriched")
    assert r.code == 0 and "vpcflow_enriched (view)" in r.out and "max_score_id" in r.out


def test_tables_schema_columns_match_the_view(cli, tmp_path: Path) -> None:
    """The columns listed are those DuckDB gives the view."""
    ws = tmp_path / "ws"
    assert cli("-w", ws, "enrich-lake").code == 0  # creates the <table>_enriched views
    listed = [c["name"] for c in cli("-w", ws, "--json", "tables", "--schema", "route53_enriched").json()]
    got = cli("-w", ws, "--json", "query", "DESCRIBE route53_enriched")
    assert got.code == 0, got.err
    assert listed == [c["column_name"] for c in got.json()]


def test_actions_list_without_actions_shows_the_table_name(cli, tmp_path: Path) -> None:
    r = cli("-w", tmp_path / "ws", "actions", "list")
    assert r.code == 0, r.err
    assert "add [actions.NAME] tables to cairn.toml" in r.out
