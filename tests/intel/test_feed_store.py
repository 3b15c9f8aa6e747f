"""The indicator store: versions, re-load diffs, no-op reloads, lifecycle, sanity rejects, catalog views."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feeds_support import FIX, Store, st_fixture  # noqa: F401

from cairn.errors import ConfigError
from cairn.intel.store import LoadSettings
from cairn.lake.catalog import Catalog, all_specs


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_load_reload_diff_and_unchanged(st: Store, tmp_path: Path):
    f = write(tmp_path / "list.txt", ["45.155.205.1", "45.155.205.2", "evil.example"])
    r1 = st.load(f, "blk")
    assert (r1.status, r1.parsed, r1.loaded, r1.added, r1.removed, r1.unchanged) == ("loaded", 3, 3, 3, 0, 0)
    again = st.load(f, "blk")
    assert (again.status, again.feed_version, again.unchanged) == ("unchanged", r1.feed_version, 3)
    write(f, ["45.155.205.2", "evil.example", "EVIL.example.", "new.example", "hxxp://x[.]example/a"])
    r2 = st.load(f, "blk")
    assert (r2.status, r2.parsed, r2.loaded, r2.duplicates) == ("loaded", 5, 4, 1)
    assert (r2.added, r2.removed, r2.unchanged) == (2, 1, 2)
    assert st.q("SELECT count(*) FROM indicators") == [(4,)]
    assert st.q("SELECT DISTINCT feed_version FROM indicators") == [(r2.feed_version,)]
    # history: both versions stay queryable, and the uid of a value is stable across versions
    hist = st.q("SELECT feed_version, count(*) FROM intel_indicators GROUP BY 1 ORDER BY 1")
    assert hist == sorted([(r1.feed_version, 3), (r2.feed_version, 4)])
    uids = st.q("SELECT count(DISTINCT indicator_uid) FROM intel_indicators WHERE value = 'evil.example'")
    assert uids == [(1,)]
    versions = st.dicts("SELECT feed_version, is_current, added, removed FROM intel_feed_versions ORDER BY loaded_at")
    assert [(v["is_current"], v["added"], v["removed"]) for v in versions] == [(False, 3, 0), (True, 2, 1)]


def test_settings_change_forces_a_new_version(st: Store, tmp_path: Path):
    f = write(tmp_path / "l.txt", ["45.155.205.1"])
    st.load(f, "s")
    r = st.load(f, "s", settings=LoadSettings(confidence=70))
    assert r.status == "loaded" and st.q("SELECT confidence FROM indicators") == [(70,)]
    # lifecycle settings only update the policy (no new version)
    r = st.load(f, "s", settings=LoadSettings(confidence=70, max_age_days=5.0))
    assert r.status == "unchanged"
    assert st.q("SELECT max_age_days FROM intel_feed_versions WHERE is_current") == [(5.0,)]


def test_sources_are_independent(st: Store, tmp_path: Path):
    st.load(write(tmp_path / "a.txt", ["45.155.205.1"]), "a")
    st.load(write(tmp_path / "b.txt", ["45.155.205.1", "45.155.205.9"]), "b")
    assert st.q("SELECT source, count(*) FROM indicators GROUP BY 1 ORDER BY 1") == [("a", 1), ("b", 2)]
    assert st.q("SELECT count(DISTINCT indicator_uid) FROM indicators") == [(3,)]


def test_expiry_and_decay(st: Store, tmp_path: Path):
    now = datetime.now(UTC)
    day = timedelta(days=1)
    lines = [
        "value,seen,until",
        f"fresh.example,{(now - 1 * day).isoformat()},",
        f"tenday.example,{(now - 10 * day).isoformat()},",
        f"old.example,{(now - 100 * day).isoformat()},",
        f"expired.example,{(now - 1 * day).isoformat()},{(now - 1 * day).isoformat()}",
        f"future.example,{(now - 1 * day).isoformat()},{(now + 100 * day).isoformat()}",
    ]
    f = write(tmp_path / "x.csv", lines)
    r = st.load(f, "life", fmt="csv", columns={"value": "value", "last_seen": "seen",
                                                "valid_until": "until"},
                settings=LoadSettings(confidence=80, max_age_days=30, decay_half_life_days=10))
    assert r.loaded == 5
    got = {row[0]: row[1:] for row in st.q("SELECT value, effective_confidence, expires_at FROM indicators")}
    assert set(got) == {"fresh.example", "tenday.example", "future.example"}
    assert got["tenday.example"][0] == 40  # 80 * 0.5^(10/10)
    assert 74 <= got["fresh.example"][0] <= 75  # 80 * 0.5^(1/10) = 74.6
    assert got["future.example"][1] is not None
    assert st.q("SELECT count(*) FROM intel_indicators") == [(5,)]  # expired ones stay in the history


def test_not_yet_valid_indicators_are_left_out_until_valid_from(st: Store, tmp_path: Path):
    """A STIX-style ``valid_from`` in the future: kept in the history, not current (not matched) yet."""
    now = datetime.now(UTC)
    lines = ["value,from", f"past.example,{(now - timedelta(days=1)).isoformat()}",
             f"later.example,{(now + timedelta(days=3)).isoformat()}", "nofrom.example,"]
    st.load(write(tmp_path / "v.csv", lines), "vf", fmt="csv", columns={"value": "value", "valid_from": "from"})
    assert st.q("SELECT value FROM indicators ORDER BY 1") == [("nofrom.example",), ("past.example",)]
    assert st.q("SELECT count(*) FROM intel_indicators") == [(3,)]


def test_no_decay_without_half_life(st: Store, tmp_path: Path):
    st.load(write(tmp_path / "l.txt", ["45.155.205.1"]), "n", settings=LoadSettings(confidence=60))
    assert st.q("SELECT confidence, effective_confidence, expires_at FROM indicators") == [(60, 60, None)]


def test_sanity_rejects_are_counted_and_quarantined(st: Store, tmp_path: Path):
    f = write(tmp_path / "s.txt", ["0.0.0.0/0", "::/0", "8.0.0.0/6", "2a00::/16", "10.1.2.3", "192.168.0.0/16",
                                    "100.64.0.1", "127.0.0.1", "169.254.169.254", "fd00::1", "fe80::1", "224.0.0.1",
                                    "198.51.100.7", "8.8.8.8", "8.8.4.0/24", "", "   ", "not a value!"])
    r = st.load(f, "sane")
    assert r.loaded == 2 and r.sanity_dropped == 13
    assert r.reasons["sanity: whole address space (0.0.0.0/0 or ::/0)"] == 2
    assert r.reasons["sanity: CIDR broader than /8 (IPv4)"] == 1
    assert r.reasons["sanity: special-purpose range 10.0.0.0/8: private (RFC 1918)"] == 1
    rej = st.dicts("SELECT kind, locator, reason, raw FROM intel_rejects WHERE source = 'sane' ORDER BY locator")
    assert {x["kind"] for x in rej} == {"sanity", "normalize"}
    assert {"kind": "sanity", "locator": "line 1", "reason": "whole address space (0.0.0.0/0 or ::/0)",
            "raw": "0.0.0.0/0"} in rej
    assert any(x["kind"] == "normalize" and x["raw"] == "not" for x in rej)
    internal = st.load(f, "corp", settings=LoadSettings(internal=True))
    assert internal.loaded == 11 and internal.sanity_dropped == 4


def test_misp_feed_folder_loads_and_diffs(st: Store, tmp_path: Path):
    from test_feed_formats import write_misp_feed

    feed = write_misp_feed(tmp_path / "feed")
    r = st.load(feed, "misp")
    assert (r.format, r.loaded, r.unsupported, r.meta["counts"]) == ("misp", 4, 1, {"deleted": 1})
    assert st.load(feed, "misp").status == "unchanged"
    row = st.dicts("SELECT * FROM indicators WHERE type = 'url'")[0]
    assert row["value"] == "http://evil.example/gate.php" and row["severity"] == "high"


def test_rejects_and_unsupported_are_kept(st: Store):
    r = st.load(FIX / "maltrail" / "maltrail_sample.csv", "mt")
    assert r.unsupported == 28 and r.loaded + r.duplicates + r.rejected == r.parsed
    kinds = dict(st.q("SELECT kind, count(*) FROM intel_rejects GROUP BY 1"))
    assert kinds["unsupported"] == 28
    top = st.store.rejects("mt", limit=5).to_pylist()
    assert len(top) == 5 and all(x["source"] == "mt" for x in top)


def test_tables_are_registered(st: Store, tmp_path: Path):
    specs = all_specs()
    for name in ("intel_indicators", "indicators", "intel_feed_versions", "intel_rejects"):
        assert name in specs
    st.load(write(tmp_path / "l.txt", ["45.155.205.1", "10.0.0.1"]), "x")
    stats = {n: rows for n, _f, rows, _lo, _hi in Catalog(st.engine, st.ws.lake).table_stats()}
    assert stats["indicators"] == 1 and stats["intel_indicators"] == 1 and stats["intel_rejects"] == 1
    # the views survive a full refresh by another writer
    Catalog(st.engine, st.ws.lake).refresh_views()
    assert st.q("SELECT count(*) FROM indicators") == [(1,)]


def test_interrupted_load_leaves_nothing(st: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    f = write(tmp_path / "l.txt", ["45.155.205.1"])
    st.load(f, "k")
    write(f, ["45.155.205.2"])

    def boom(*a, **k):
        raise RuntimeError("killed")

    monkeypatch.setattr(type(st.store), "_commit", boom)
    with pytest.raises(RuntimeError):
        st.load(f, "k")
    monkeypatch.undo()
    assert st.q("SELECT value FROM indicators") == [("45.155.205.1",)]
    assert st.q("SELECT count(*) FROM intel_feed_versions") == [(1,)]
    r = st.load(f, "k")
    assert (r.added, r.removed) == (1, 1)
    listed = {p for (p,) in st.q("SELECT path FROM _cairn_files")}
    on_disk = {p.relative_to(st.ws.lake).as_posix() for p in st.ws.lake.rglob("*.parquet")}
    assert on_disk == listed


def test_bad_source_name(st: Store, tmp_path: Path):
    with pytest.raises(ConfigError, match="invalid source name"):
        st.load(write(tmp_path / "l.txt", ["45.155.205.1"]), "../x")


def test_versions_record_counts(st: Store):
    r = st.load(FIX / "ipsum" / "ipsum-head.txt", "ipsum")
    v = st.store.current("ipsum")
    assert (v["format"], v["parsed"], v["loaded"], v["content_hash"]) == ("ipsum", 201, r.loaded, r.content_hash)
    assert json.loads(v["meta"])["reasons"] == r.reasons
