"""Record-level problems under --skip-invalid, the docs' examples load, ``--json`` and ``unload`` errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cairn.context.problems import InventoryError
from context.conftest import ROOT, CtxWorkspace

ROWS = "account_id,name\n123456789012,a\n210987654321,c,EXTRA\n12345,bad\n"


def test_skip_invalid_leaves_out_only_the_row_with_extra_cells(cws: CtxWorkspace) -> None:
    f = cws.write("acc3.csv", ROWS)
    (r,) = cws.load(f, skip_invalid=True)
    assert (r.kind, r.status, r.rows, r.invalid) == ("accounts", "loaded", 1, 2)
    assert r.problems == [f"{f}:3: accounts record 2: row has 3 fields, the header has 2",
                          f"{f}:4: accounts record 3: account_id: '12345' is not an AWS account id (12 digits)"]
    assert cws.dicts("SELECT account_id, name FROM ctx_accounts") == [{"account_id": "123456789012", "name": "a"}]
    assert cws.dicts("SELECT rows, invalid FROM ctx_loads WHERE is_current") == [{"rows": 1, "invalid": 2}]


def test_without_skip_invalid_the_extra_cells_fail_the_load(cws: CtxWorkspace) -> None:
    f = cws.write("acc3.csv", ROWS)
    with pytest.raises(InventoryError) as err:
        cws.load(f)
    assert [str(p) for p in err.value.problems] == [
        f"{f}:3: accounts record 2: row has 3 fields, the header has 2",
        f"{f}:4: accounts record 3: account_id: '12345' is not an AWS account id (12 digits)"]
    assert err.value.exit_code == 3
    assert cws.scalar("SELECT count(*) FROM ctx_accounts") == 0


def test_skip_invalid_leaves_out_a_yaml_item_that_is_not_a_record(cws: CtxWorkspace) -> None:
    f = cws.write("n.yaml", "networks:\n  - 10.0.0.0/8\n  - {cidr: 10.1.0.0/16}\n")
    (r,) = cws.load(f, skip_invalid=True)
    assert (r.status, r.rows, r.invalid) == ("loaded", 1, 1)
    assert r.problems == [f"{f}:2: networks record 1: expected the fields of a record, got '10.0.0.0/8'"]


def test_a_failed_file_reports_all_its_problems(cws: CtxWorkspace) -> None:
    f = cws.write("a.yaml", "accounts:\n  - {account_id: '12'}\nvpcs: []\n")
    (r,) = cws.load(f, skip_invalid=True)
    assert r.status == "failed"
    assert r.problems == [f"{f}:2: accounts record 1: account_id: '12' is not an AWS account id (12 digits)",
                          f"{f}:3: unknown section 'vpcs'; expected accounts, networks, identities, assets"]


def test_invalid_counts_records_not_problems(cws: CtxWorkspace) -> None:
    f = cws.write("a.csv", "account_id,tags\n12,notatag\n111122223333,\n")
    (r,) = cws.load(f, skip_invalid=True)
    assert (r.rows, r.invalid, len(r.problems)) == (1, 1, 2)


def _doc_examples() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "context.md").read_text(encoding="utf-8")
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(yaml|csv)\n(.*?)^```", text, re.M | re.S)]


EXAMPLES = _doc_examples()


def test_the_docs_have_examples() -> None:
    assert sum(1 for fmt, _ in EXAMPLES if fmt == "yaml") >= 6 and sum(1 for fmt, _ in EXAMPLES if fmt == "csv") >= 4


@pytest.mark.parametrize("n", range(len(EXAMPLES)), ids=[f"{f}-{i}" for i, (f, _) in enumerate(EXAMPLES)])
def test_every_example_of_the_docs_loads(cws: CtxWorkspace, n: int) -> None:
    fmt, body = EXAMPLES[n]
    f = cws.files / f"example{n}.{fmt}"
    f.write_text(body, encoding="utf-8")
    reports = cws.load(f)  # any problem raises InventoryError
    assert reports and all(r.status == "loaded" and r.rows > 0 and not r.problems for r in reports)
    assert sum(r.rows for r in reports) == sum(
        cws.scalar(f"SELECT count(*) FROM ctx_{r.kind}") for r in reports)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path / "ws"


def test_json_option_on_context_subcommands(cli, ws: Path, tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("account_id,name\n111122223333,a\n", encoding="utf-8")
    r = cli("-w", ws, "context", "load", f, "--json")
    assert r.code == 0, r.err
    assert [(x["kind"], x["status"], x["rows"]) for x in r.json()] == [("accounts", "loaded", 1)]
    r = cli("-w", ws, "context", "show", "accounts", "--json")
    assert r.code == 0, r.err
    assert [x["account_id"] for x in r.json()] == ["111122223333"]
    assert cli("-w", ws, "--json", "context", "show", "accounts").json() == r.json()
    r = cli("-w", ws, "context", "match", "111122223333", "--json")
    assert r.code == 0, r.err
    assert r.json()[0]["matches"][0]["kind"] == "accounts"
    r = cli("-w", ws, "context", "unload", f, "--json")
    assert r.code == 0, r.err
    assert [(x["status"], x["replaced_rows"]) for x in r.json()] == [("removed", 1)]


def test_unload_of_a_file_never_loaded_is_an_error(cli, ws: Path, tmp_path: Path) -> None:
    loaded = tmp_path / "a.csv"
    loaded.write_text("account_id\n111122223333\n", encoding="utf-8")
    assert cli("-w", ws, "context", "load", loaded).code == 0
    r = cli("-w", ws, "context", "unload", loaded, tmp_path / "never.csv")
    assert r.code == 3
    assert "never.csv is not loaded; nothing was unloaded" in " ".join(r.err.split())
    assert cli("-w", ws, "--json", "context", "show", "accounts").json()[0]["account_id"] == "111122223333"
