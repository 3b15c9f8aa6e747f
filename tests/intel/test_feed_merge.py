"""The store's merge of rows with the same indicator: the split path (singletons projected, only repeated
keys aggregated) against aggregating every row; batches; the load memory limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from feeds_support import Store, st_fixture  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import ConfigError
from cairn.intel import store as store_mod
from cairn.intel.formats import ParseContext, get_format
from cairn.intel.inputs import LocalInput
from cairn.intel.store import IntelStore, LoadSettings, intel_memory_limit
from cairn.workspace import Workspace

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_KEYS = [("domain", "a.example", None), ("domain", "a.example", 8080), ("ip", "1.2.3.4", None),
         ("url", "http://x.example/", None), ("domain", "b.example", None), ("domain", "c.example", None)]
_TS = st.one_of(st.none(), st.integers(0, 5).map(lambda d: T0 + timedelta(days=d)))
_WORDS = st.one_of(st.none(), st.sampled_from(["x", "y", "z"]))
_LIST = st.one_of(st.none(), st.lists(_WORDS, max_size=3))
_ROW = st.fixed_dictionaries({
    "key": st.sampled_from(_KEYS), "first_seen": _TS, "last_seen": _TS, "valid_from": _TS, "valid_until": _TS,
    "confidence": st.one_of(st.none(), st.integers(0, 100)),
    "severity": st.one_of(st.none(), st.sampled_from(["low", "high", "critical", "bogus"])),
    "threat_type": _WORDS, "malware_family": _LIST, "tags": _LIST, "reference": _WORDS,
    "tlp": st.one_of(st.none(), st.sampled_from(["clear", "amber", "red", "purple"])),
    "detect": st.one_of(st.none(), st.booleans()), "locator": _WORDS,
})
_SCHEMA = pa.schema([("type", pa.string()), ("value", pa.string()), ("hash_type", pa.string()),
                     ("range_start", pa.binary()), ("range_end", pa.binary()), ("prefix_len", pa.int32()),
                     ("ip_version", pa.int8()), ("port", pa.int32()),
                     *[(c, pa.timestamp("us", tz="UTC")) for c in ("first_seen", "last_seen", "valid_from",
                                                                    "valid_until")],
                     ("confidence", pa.int32()), ("severity", pa.string()), ("threat_type", pa.string()),
                     ("malware_family", pa.list_(pa.string())), ("tags", pa.list_(pa.string())),
                     ("reference", pa.string()), ("tlp", pa.string()), ("detect", pa.bool_()),
                     ("locator", pa.string()), ("_row", pa.int64())])


def _merged(rows: list[dict], *, split: bool, defaults: dict) -> list[tuple]:
    e = DuckDBEngine()
    data = [{**{k: v for k, v in r.items() if k != "key"}, "type": r["key"][0], "value": r["key"][1],
             "port": r["key"][2], "hash_type": None, "range_start": None, "range_end": None, "prefix_len": None,
             "ip_version": None, "_row": i} for i, r in enumerate(rows)]
    e.register("_rows", pa.Table.from_pylist(data, schema=_SCHEMA))
    e.execute("CREATE TEMP TABLE _intel_normed AS SELECT *, hash(type, value, port) AS _h FROM _rows")
    having = "HAVING count(*) > 1" if split else ""
    e.execute(f"CREATE TEMP TABLE _intel_dups AS SELECT _h FROM _intel_normed GROUP BY _h {having}")
    params = {"source": "s", "loaded_at": T0, **defaults}
    out = e.rows(f"SELECT * FROM ({store_mod._SINGLE_SQL} UNION ALL {store_mod._MERGE_SQL}) "
                 f"ORDER BY type, value, port NULLS FIRST", params)
    e.close()
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=12),
       st.sampled_from([dict(confidence=None, severity=None, threat_type=None, tlp=None),
                        dict(confidence=50, severity="medium", threat_type="c2", tlp="green")]))
def test_split_merge_equals_full_aggregation(rows, defaults):
    assert _merged(rows, split=True, defaults=defaults) == _merged(rows, split=False, defaults=defaults)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_batches_merge_across_parts(st: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lines = [f"host{i % 700}.example" for i in range(2_000)] + ["45.155.205.1", "45.155.205.1:80", "bad value!"]
    f = _write(tmp_path / "l.txt", lines)
    one = st.load(f, "one")
    monkeypatch.setattr(store_mod, "BATCH_ROWS", 300)
    batches = []
    real = IntelStore._normalise_batch
    monkeypatch.setattr(IntelStore, "_normalise_batch", lambda self, t, *a: batches.append(len(t)) or real(self, t, *a))
    many = st.store.load(LocalInput(f), "many", get_format("plain"), ParseContext(batch_rows=100), LoadSettings())
    assert len(batches) == 7  # 300-row batches of 100-row chunks (2,003 rows), the last one shorter
    assert (many.parsed, many.loaded, many.duplicates, many.rejected) == \
           (one.parsed, one.loaded, one.duplicates, one.rejected) == (2_003, 702, 1_300, 1)
    cols = "type, value, port, first_seen, confidence, tags, locator, detect"
    assert st.q(f"SELECT {cols} FROM indicators WHERE source = 'one' ORDER BY ALL") == \
           st.q(f"SELECT {cols} FROM indicators WHERE source = 'many' ORDER BY ALL")
    # locator is the first occurrence in feed order, across batches
    assert st.q("SELECT locator FROM indicators WHERE source = 'many' AND value = 'host5.example'") == [("line 6",)]
    files = st.q("SELECT path FROM _cairn_files f JOIN intel_feed_versions v ON f.run_id = v.feed_version "
                 "WHERE v.source = 'many' AND f.table_name = 'intel_indicators'")
    keys = st.q(f"SELECT type, value, port FROM read_parquet('{st.ws.lake / files[0][0]}')")
    assert len(files) == 1 and keys == sorted(keys, key=lambda k: (k[0], k[1], k[2] is None, k[2] or 0))  # sorted


def test_empty_feed(st: Store, tmp_path: Path):
    r = st.load(_write(tmp_path / "e.txt", ["# nothing"]), "empty", fmt="plain")
    assert (r.status, r.parsed, r.loaded) == ("loaded", 0, 0)
    assert st.q("SELECT count(*) FROM indicators") == [(0,)]


def test_memory_limit_applied_and_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ws = Workspace.open(tmp_path / "ws")
    engine = DuckDBEngine(ws.catalog_path, memory_limit="3GB", temp_directory=ws.root / "tmp")
    store = IntelStore(ws, engine, memory_limit="300MB")
    before = engine.scalar("SELECT current_setting('memory_limit')")
    seen = []
    real = IntelStore._merge

    def spy(self, *a, **k):
        seen.append(engine.scalar("SELECT current_setting('memory_limit')"))
        return real(self, *a, **k)

    monkeypatch.setattr(IntelStore, "_merge", spy)
    from cairn.intel.feeds import load_target

    for _ in range(3):  # no drift from the engine's rounded display of the limit
        load_target(store, str(_write(tmp_path / "l.txt", [f"h{_}.example"])), "m", settings=LoadSettings())
        assert engine.scalar("SELECT current_setting('memory_limit')") == before
    assert seen and all(s.startswith("286") for s in seen)  # 300MB = 286.1 MiB
    assert engine.scalar("SELECT current_setting('preserve_insertion_order')") is True
    engine.close()


def test_memory_limit_setting(tmp_path: Path):
    cfg = Workspace.open(tmp_path / "a").config
    assert intel_memory_limit(cfg) == "1GB"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "cairn.toml").write_text('[intel]\nmemory_limit = "512MB"\n')
    assert intel_memory_limit(Workspace.open(tmp_path / "b").config) == "512MB"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cairn.toml").write_text("[intel]\nmemory_limit = 5\n")
    with pytest.raises(ConfigError, match="memory_limit"):
        intel_memory_limit(Workspace.open(tmp_path / "c").config)
    ws = Workspace.open(tmp_path / "d")
    engine = DuckDBEngine()
    with pytest.raises(ConfigError, match="not a memory size"):
        from cairn.intel.feeds import load_target

        load_target(IntelStore(ws, engine, memory_limit="lots"), str(_write(tmp_path / "x.txt", ["a.example"])),
                    "m", settings=LoadSettings())
    engine.close()
