"""Loading is idempotent, a file replaces what it loaded before (atomically), loads are recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.context import store
from cairn.errors import ConfigError
from context.conftest import CtxWorkspace


def _state(cws: CtxWorkspace) -> dict[str, object]:
    """Everything a load touches: rows of every context table, catalogued files, files on disk."""
    return {
        "accounts": cws.dicts("SELECT * EXCLUDE (loaded_at, load_id) FROM ctx_accounts ORDER BY ALL"),
        "networks": cws.dicts("SELECT * EXCLUDE (loaded_at, load_id) FROM ctx_networks ORDER BY ALL"),
        "files": cws.dicts("SELECT table_name, rows FROM _cairn_files ORDER BY ALL"),
        "disk": sorted(p.name for p in (cws.ws.lake / "context").rglob("*.parquet"))
        if (cws.ws.lake / "context").exists() else [],
    }


def test_reload_is_idempotent(cws: CtxWorkspace) -> None:
    f = cws.write("org.yaml", "accounts: [{account_id: '111122223333'}]\nnetworks: [{cidr: 10.0.0.0/8}]\n")
    first = cws.load(f)
    before = _state(cws)
    second = cws.load(f)
    assert [(r.kind, r.status, r.rows) for r in first] == [("accounts", "loaded", 1), ("networks", "loaded", 1)]
    assert [(r.kind, r.status, r.rows) for r in second] == [("accounts", "unchanged", 1),
                                                            ("networks", "unchanged", 1)]
    assert [r.load_id for r in second] == [r.load_id for r in first]
    assert _state(cws) == before
    loads = cws.dicts("SELECT kind, rows, is_current, checked_at IS NOT NULL AS checked FROM ctx_loads ORDER BY kind")
    assert loads == [{"kind": "accounts", "rows": 1, "is_current": True, "checked": True},
                     {"kind": "networks", "rows": 1, "is_current": True, "checked": True}]


def test_an_edited_file_replaces_its_rows_and_only_them(cws: CtxWorkspace) -> None:
    a = cws.write("a.csv", "account_id,name\n111122223333,old\n444455556666,gone\n")
    b = cws.write("b.csv", "account_id,name\n777788889999,other file\n")
    cws.load(a, b)
    old_a = cws.ws.lake / cws.scalar("SELECT f.path FROM _cairn_files f JOIN ctx_loads l ON f.run_id = l.load_id "
                                     "WHERE l.source_file = ?", [str(a.resolve())])
    assert old_a.exists()
    cws.write("a.csv", "account_id,name\n111122223333,new\n")
    (r,) = cws.load(a)
    assert (r.status, r.rows, r.replaced_rows) == ("loaded", 1, 2)
    assert cws.dicts("SELECT account_id, name FROM ctx_accounts ORDER BY 1") == [
        {"account_id": "111122223333", "name": "new"}, {"account_id": "777788889999", "name": "other file"}]
    assert not old_a.exists()
    assert len(list((cws.ws.lake / "context").rglob("*.parquet"))) == 2
    assert cws.scalar("SELECT count(*) FROM _cairn_files WHERE table_name = 'ctx_accounts'") == 2
    history = cws.dicts("SELECT source_file, rows, is_current, replaced_at IS NOT NULL AS replaced FROM ctx_loads "
                        "ORDER BY loaded_at, source_file")
    assert history == [
        {"source_file": str(a.resolve()), "rows": 2, "is_current": False, "replaced": True},
        {"source_file": str(b.resolve()), "rows": 1, "is_current": True, "replaced": False},
        {"source_file": str(a.resolve()), "rows": 1, "is_current": True, "replaced": False},
    ]


def test_the_same_file_named_twice_or_differently_is_one_source(cws: CtxWorkspace, monkeypatch) -> None:
    f = cws.write("a.csv", "account_id\n111122223333\n")
    monkeypatch.chdir(cws.files)
    reports = cws.load(f, Path("a.csv"), Path("../inv/a.csv"))
    assert len(reports) == 1
    assert cws.scalar("SELECT count(*) FROM ctx_accounts") == 1


def test_a_section_removed_from_a_file_empties_that_kind(cws: CtxWorkspace) -> None:
    f = cws.write("org.yaml", "accounts: [{account_id: '111122223333'}]\nnetworks: [{cidr: 10.0.0.0/8}]\n")
    cws.load(f)
    cws.write("org.yaml", "accounts: [{account_id: '111122223333'}]\n")
    reports = cws.load(f)
    assert [(r.kind, r.status, r.replaced_rows) for r in reports] == [("accounts", "loaded", 1),
                                                                      ("networks", "removed", 1)]
    assert cws.scalar("SELECT count(*) FROM ctx_networks") == 0
    assert cws.scalar("SELECT count(*) FROM ctx_accounts") == 1
    # ... but an explicit --kind only touches that kind
    cws.write("org.yaml", "accounts: [{account_id: '111122223333'}]\nnetworks: [{cidr: 10.0.0.0/8}]\n")
    cws.load(f)
    cws.write("org.yaml", "accounts: []\nnetworks: [{cidr: 10.0.0.0/8}]\n")
    (r,) = cws.load(f, kind="networks")
    assert (r.kind, r.status) == ("networks", "loaded")
    assert cws.scalar("SELECT count(*) FROM ctx_accounts") == 1


def test_unload(cws: CtxWorkspace) -> None:
    f = cws.write("org.yaml", "accounts: [{account_id: '111122223333'}]\nnetworks: [{cidr: 10.0.0.0/8}]\n")
    cws.load(f)
    reports = store.unload_files(cws.ws, cws.engine, [f])
    assert [(r.kind, r.status, r.replaced_rows) for r in reports] == [("accounts", "removed", 1),
                                                                      ("networks", "removed", 1)]
    assert _state(cws) == {"accounts": [], "networks": [], "files": [], "disk": []}
    assert cws.scalar("SELECT count(*) FROM ctx_loads WHERE is_current") == 0
    assert store.unload_files(cws.ws, cws.engine, [f]) == []


def test_a_failed_commit_leaves_everything_as_it_was(cws: CtxWorkspace, monkeypatch) -> None:
    a = cws.write("a.csv", "account_id\n111122223333\n")
    n = cws.write("n.csv", "cidr\n10.0.0.0/8\n")
    cws.load(a, n)
    before = _state(cws)
    loads_before = cws.dicts("SELECT * FROM ctx_loads ORDER BY load_id")
    cws.write("a.csv", "account_id\n444455556666\n")
    cws.write("n.csv", "cidr\n192.168.0.0/16\n")
    real = store._swap
    calls = []

    def fail_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kw)

    monkeypatch.setattr(store, "_swap", fail_second)
    with pytest.raises(RuntimeError):
        cws.load(a, n)
    assert cws.dicts("SELECT * FROM ctx_loads ORDER BY load_id") == loads_before
    after = _state(cws)
    assert after["accounts"] == before["accounts"] and after["networks"] == before["networks"]
    assert after["files"] == before["files"]
    # the file moved in before the failure is an orphan the catalog does not list; the next sweep removes it
    from cairn.lake.catalog import Catalog

    Catalog(cws.engine, cws.ws.lake).sweep(cws.ws.staging)
    assert _state(cws) == before
    assert not list(cws.ws.staging.iterdir())


def test_unknown_kind(cws: CtxWorkspace) -> None:
    with pytest.raises(ConfigError, match="unknown kind 'vpcs'; choose one of auto, accounts, networks"):
        cws.load(cws.files / "x.csv", kind="vpcs")


def test_tables_are_registered_in_the_catalog(cws: CtxWorkspace) -> None:
    from cairn.lake.catalog import all_specs

    specs = all_specs()
    for name in ("ctx_accounts", "ctx_networks", "ctx_identities", "ctx_assets", "ctx_loads"):
        assert name in specs
        assert cws.scalar("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]) == 1
    f = cws.write("a.csv", "account_id,tags\n111122223333,a=1\n")
    cws.load(f)
    got = cws.dicts("SELECT account_id, tags['a'] AS a, typeof(tags) AS t, typeof(contacts) AS c FROM ctx_accounts")
    assert got == [{"account_id": "111122223333", "a": "1", "t": "MAP(VARCHAR, VARCHAR)", "c": "VARCHAR[]"}]


def test_an_empty_file_is_reported(cws: CtxWorkspace) -> None:
    f = cws.write("empty.yaml", "# nothing yet\n")
    assert [(r.kind, r.status) for r in cws.load(f)] == [("auto", "empty")]
