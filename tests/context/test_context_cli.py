"""``cairn context`` on the bundled demo data with the example inventory; the docs' SQL runs on it."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path
from typing import Any

import pytest

from cairn.context import bundled_inventory
from cairn.context.lookup import match_values
from cairn.context.match import create_match_views
from cairn.demo import samples_dir
from cairn.engines.duckdb_engine import DuckDBEngine
from conftest import Lake
from context.conftest import EXAMPLES, ROOT

INVENTORY = sorted(str(p) for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".csv"))
BUNDLED = Path(samples_dir()).parent / "context"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich tables as wide as needed, so that cells are not folded."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with every bundled sample ingested (no context loaded yet)."""
    root = tmp_path_factory.mktemp("demo") / "ws"
    lake = Lake(root)
    lake.ingest(samples_dir())
    lake.close()
    return root


@pytest.fixture(scope="module")
def loaded(demo: Path) -> Path:
    """... with the example inventory loaded."""
    from cairn.context.store import load_files
    from cairn.workspace import Workspace

    ws = Workspace.open(demo)
    with DuckDBEngine(ws.catalog_path) as e:
        reports = load_files(ws, e, INVENTORY)
    assert all(r.status in ("loaded", "unchanged") and not r.problems and not r.notes for r in reports)
    return demo


def test_load_table_then_json_unchanged(cli: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    res = cli("-w", ws, "context", "load", *INVENTORY)
    assert res.code == 0, res.err
    assert "context load" in res.out and res.out.count("loaded") == 4
    res = cli("-w", ws, "--json", "context", "load", *INVENTORY)
    assert res.code == 0
    assert [(Path(r["file"]).name, r["kind"], r["status"], r["rows"]) for r in res.json()] == [
        ("accounts.yaml", "accounts", "unchanged", 11), ("assets.csv", "assets", "unchanged", 8),
        ("identities.yaml", "identities", "unchanged", 8), ("networks.csv", "networks", "unchanged", 9)]


def test_load_errors_list_every_problem(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("cidr,zone\n10.0.0.0/33,x\n10.0.0.0/8,y\nfe80::/200,z\n", encoding="utf-8")
    res = cli("-w", tmp_path / "ws", "context", "load", bad)
    assert res.code == 3
    err = " ".join(res.err.split())
    assert "2 problems in inventory files; nothing was loaded" in err
    assert f"{bad}:2: networks record 1: cidr: '10.0.0.0/33' is not an IPv4 or IPv6 network" in err
    assert f"{bad}:4: networks record 3: cidr: 'fe80::/200' is not an IPv4 or IPv6 network" in err
    bad.write_text("cidr,zone\n10.0.0.0/33,x\n10.0.0.0/8,y\n[/bold]fe80::/200,z\n", encoding="utf-8")
    res = cli("-w", tmp_path / "ws", "--json", "context", "load", bad)
    assert res.code == 3 and res.json()["problems"][1] == (
        f"{bad}:4: networks record 3: cidr: '[/bold]fe80::/200' is not an IPv4 or IPv6 network")
    assert "'[/bold]fe80::/200'" in res.err
    res = cli("-w", tmp_path / "ws", "--json", "context", "load", "--skip-invalid", bad)
    assert res.code == 0
    (r,) = res.json()
    assert (r["rows"], r["invalid"], len(r["problems"])) == (1, 2, 2)
    res = cli("-w", tmp_path / "ws", "context", "load", "--kind", "vpcs", bad)
    assert res.code == 2 and "unknown kind 'vpcs'" in res.err


def test_files_from_settings(cli: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "cairn.toml").write_text("[context]\nfiles = []\n", encoding="utf-8")
    res = cli("-w", ws, "context", "load")
    assert res.code == 2 and "the settings list none (files in the context section)" in " ".join(res.err.split())
    inv = ws / "inventory"
    inv.mkdir()
    (inv / "n.csv").write_text("cidr,zone\n10.0.0.0/8,corp\n", encoding="utf-8")
    (ws / "cairn.toml").write_text('[context]\nfiles = ["inventory/n.csv"]\n', encoding="utf-8")
    res = cli("-w", ws, "--json", "context", "load")
    assert res.code == 0 and [(r["kind"], r["rows"]) for r in res.json()] == [("networks", 1)]
    (ws / "cairn.toml").write_text('[context]\nfile = "x"\n', encoding="utf-8")
    res = cli("-w", ws, "context", "load")
    assert res.code == 2 and "unknown key(s) in the context section: file" in " ".join(res.err.split())


def test_show(cli: Any, loaded: Path) -> None:
    res = cli("-w", loaded, "context", "show", "networks")
    assert res.code == 0 and "ctx_networks: 9 rows" in res.out and "vpc-abcdefab012345678" in res.out
    res = cli("-w", loaded, "--json", "context", "show", "identities")
    rows = res.json()
    assert len(rows) == 8 and {r["kind"] for r in rows} == {"principal_arn", "role_arn", "user", "access_key"}
    assert next(r for r in rows if r["kind"] == "access_key")["tags"] == {
        "note": "key used for the CloudTrail deletion exercise"}
    res = cli("-w", loaded, "--json", "context", "show")
    assert {k: len(v) for k, v in res.json().items()} == {"accounts": 11, "networks": 9, "identities": 8,
                                                          "assets": 8}
    res = cli("-w", loaded, "context", "show", "loads")
    assert res.code == 0 and "networks.csv" in res.out
    for limit, expected in ((0, 9), (2, 2)):  # --limit 0 means all rows, as for `alerts --limit 0`
        assert len(cli("-w", loaded, "--json", "context", "show", "networks", "--limit", limit).json()) == expected
    res = cli("-w", loaded, "context", "show", "--limit", "0")
    assert res.code == 0 and "ctx_networks: 9 rows" in res.out and "no context loaded" not in res.out
    assert cli("-w", loaded, "context", "show", "vpcs").code == 2


def test_match(cli: Any, loaded: Path) -> None:
    session = "arn:aws:sts::123456789123:assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40"
    values = ["10.0.0.71", session, "mordors3stack-s3bucket-llp2yingx64a", "8.8.8.8"]
    res = cli("-w", loaded, "--json", "context", "match", *values)
    assert res.code == 0
    by_input = {r["input"]: r for r in res.json()}
    nets = [(m["cidr"], m["best"]) for m in by_input["10.0.0.71"]["matches"]]
    assert nets == [("10.0.0.0/24", True), ("10.0.0.0/16", False), ("10.0.0.0/8", False)]
    kinds = {(m["kind"], m["match_kind"], m.get("team") or m.get("name")) for m in by_input[session]["matches"]}
    assert kinds == {("identities", "role", "web-platform"), ("accounts", "arn_account", "research-lab")}
    (asset,) = by_input["mordors3stack-s3bucket-llp2yingx64a"]["matches"]
    assert (asset["match_kind"], asset["name"], asset["criticality"]) == ("bucket", "research-data", "high")
    assert by_input["8.8.8.8"]["matches"] == []
    res = cli("-w", loaded, "context", "match", *values)
    out = " ".join(res.out.split())
    assert res.code == 0 and "no context" in out and "cidr (24) best" in out and "web-platform" in out
    res = cli("-w", loaded, "--json", "context", "match", "--type", "user", "CHRISTOPHE")
    assert [m["person"] for m in res.json()[0]["matches"]] == ["Christophe (red-team operator)"]


def test_tables_and_query(cli: Any, loaded: Path) -> None:
    res = cli("-w", loaded, "--json", "tables")
    rows = {r["table"]: r["rows"] for r in res.json()}
    assert {k: rows[k] for k in ("ctx_accounts", "ctx_networks", "ctx_identities", "ctx_assets")} == {
        "ctx_accounts": 11, "ctx_networks": 9, "ctx_identities": 8, "ctx_assets": 8}
    res = cli("-w", loaded, "--json", "query",
              "SELECT a.name, count(*) AS n FROM cloudtrail c JOIN ctx_accounts a "
              "ON a.account_id = c.recipient_account_id WHERE c.event_name = 'DeleteTrail' GROUP BY 1")
    assert res.json() == [{"name": "security-audit", "n": 1}]


def test_match_views_over_the_lake(loaded: Path) -> None:
    with DuckDBEngine(loaded / "catalog.duckdb") as e:
        views = create_match_views(e, "observables")
        summary = {(r["type"], r["value"]): r for r in e.arrow(f"SELECT * FROM {views['summary']}").to_pylist()}
        assert summary[("ip", "2001:db8:1234:a102:3304:8879:34cf:4071")]["network"]["cidr"] == "2001:db8:1234:a102::/64"
        assert summary[("access_key", "AKIAFBJ48BV9CGRBRKGM")]["identity"]["team"] == "red-team"
        assert summary[("resource", "vpc-abcdefab012345678")]["asset"]["criticality"] == "high"
        assert summary[("account", "847129010505")]["account"]["name"] == "security-audit"
        unknown = e.scalar(f"SELECT count(DISTINCT value) FROM observables o WHERE type = 'ip' AND NOT EXISTS "
                           f"(SELECT 1 FROM {views['networks']} m WHERE m.value = o.value)")
        assert unknown > 20  # the Stratus detonations come from outside every known network
        assert match_values(e, ["arn:aws:iam::844015365555:role/aws-reserved/sso.amazonaws.com/"
                                "AWSReservedSSO_account-admin_599c9e90e350d2ff"])[0]["matches"][1]["team"] == \
            "identity-team"


def test_docs_queries_run_on_the_demo(loaded: Path) -> None:
    text = (ROOT / "docs" / "context.md").read_text(encoding="utf-8")
    queries = re.findall(r"```sql\n(.*?)```", text, re.S)
    assert len(queries) >= 5
    with DuckDBEngine(loaded / "catalog.duckdb") as e:
        for q in queries:
            assert e.rows(q), q


def test_bundled_inventory_is_the_example() -> None:
    names = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".csv"))
    assert names == ["accounts.yaml", "assets.csv", "identities.yaml", "networks.csv"]
    assert [p.name for p in bundled_inventory()] == names
    _, mismatch, errors = filecmp.cmpfiles(EXAMPLES, BUNDLED, names, shallow=False)
    assert not mismatch and not errors
