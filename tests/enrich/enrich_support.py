"""Helpers of the enrichment tests: a workspace with reference tables, and feed versions written directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reference import Ind, Reference, load_reference

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.enrich.indicators import ensure_indicators
from cairn.enrich.materialize import prepare
from cairn.intel.feed_tables import INTEL_INDICATORS, VERSIONS_DDL
from cairn.intel.ranges import cidr_range
from cairn.workspace import Workspace

OBS_SCHEMA = pa.schema([("event_uid", pa.string()), ("source", pa.string()),
                        ("event_time", pa.timestamp("us", tz="UTC")), ("field", pa.string()), ("type", pa.string()),
                        ("value", pa.string()), ("ip_bin", pa.binary())])


@dataclass
class EnrichWs:
    """A workspace whose reference tables are built; ``ref`` is their plain-Python form."""

    ws: Workspace
    engine: DuckDBEngine
    ref: Reference

    def set_feeds(self, inds: list[Ind]) -> None:
        """Make ``inds`` the current versions of their sources (as the store would), nothing else current."""
        set_feeds(self.ws, self.engine, inds)


def set_feeds(ws: Workspace, engine: DuckDBEngine, inds: list[Ind]) -> None:
    """Write one feed version per source of ``inds`` (lake Parquet + catalog rows) and make them current."""
    engine.execute(VERSIONS_DDL)
    engine.execute("UPDATE _intel_feed_versions SET is_current = false")
    by_source: dict[str, list[Ind]] = {}
    for i in inds:
        by_source.setdefault(i.source, []).append(i)
    for source, rows in by_source.items():
        version = "v" + uuid.uuid4().hex[:12]
        loaded_at = rows[0].loaded_at or datetime.now(UTC)
        data = []
        for n, i in enumerate(rows):
            d: dict[str, Any] = {c: None for c in INTEL_INDICATORS.file_columns()}
            d.update(indicator_uid=f"{source}-{version}-{n}", type=i.type, value=i.value, valid_from=i.valid_from,
                     valid_until=i.valid_until, last_seen=i.last_seen, first_seen=i.first_seen,
                     confidence=i.confidence, threat_type=i.threat_type, detect=i.detect, loaded_at=loaded_at,
                     malware_family=["fam"] if i.threat_type == "malware" else None)
            if i.type == "ip":
                start, end, plen, ver = cidr_range(i.value)
                d.update(range_start=start, range_end=end, prefix_len=plen, ip_version=ver)
            data.append(d)
        schema = pa.schema([pa.field(c.name, _arrow(c.type)) for c in INTEL_INDICATORS.columns
                            if c.name in INTEL_INDICATORS.file_columns()])
        rel = f"intel_indicators/source={source}/feed_version={version}/part-0.parquet"
        path = ws.lake / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(data, schema=schema), path)
        engine.execute("INSERT INTO _cairn_files (table_name, path, partition_value, rows, run_id) "
                       "VALUES ('intel_indicators', ?, ?, ?, ?)", [rel, f"source={source}/feed_version={version}",
                                                                   len(data), version])
        engine.execute("INSERT INTO _intel_feed_versions (source, feed_version, is_current, loaded_at, max_age_days, "
                       "decay_half_life_days) VALUES (?, ?, true, ?, ?, ?)",
                       [source, version, loaded_at, rows[0].max_age_days, rows[0].half_life_days])
    ensure_indicators(engine, str(ws.lake))


def _arrow(sql_type: str) -> pa.DataType:
    return {"VARCHAR": pa.string(), "BLOB": pa.binary(), "INTEGER": pa.int32(), "TINYINT": pa.int8(),
            "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "VARCHAR[]": pa.list_(pa.string()),
            "BOOLEAN": pa.bool_()}[sql_type]


@pytest.fixture(scope="session", name="enrich_ws")
def enrich_ws_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnrichWs]:
    """One workspace for the session (reference tables take a few seconds to build)."""
    ws = Workspace.open(tmp_path_factory.mktemp("enrichws"))
    engine = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")
    with ws.writer_lock():
        prepare(engine, ws)
    yield EnrichWs(ws, engine, load_reference(engine))
    engine.close()


def observables_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Observable rows (ip_bin filled for type ip) as an Arrow table."""
    from cairn.intel.ranges import bin_of

    full = []
    for n, r in enumerate(rows):
        d = {"event_uid": f"e{n}", "source": "cloudtrail", "field": "sourceIPAddress", "ip_bin": None, **r}
        if d["type"] == "ip" and d.get("ip_bin") is None:
            d["ip_bin"] = bin_of(d["value"])
        full.append(d)
    return pa.Table.from_pylist(full, schema=OBS_SCHEMA)


SAMPLES = Path(__file__).resolve().parents[2] / "src" / "cairn" / "data" / "samples"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared(*parts: str) -> Path:
    """A file of ../shared/data; the test is skipped when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the bundled samples ingested and the reference tables built (copied per test)."""
    from cairn.lake.ingest import Ingestor

    root = tmp_path_factory.mktemp("enrich-template") / "ws"
    ws = Workspace.open(root)
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp") as engine:
        summary = Ingestor(ws, engine).run([str(SAMPLES)])
        assert summary.committed and summary.loaded > 300
        with ws.writer_lock():
            prepare(engine, ws)
    return root


@dataclass
class SampleLake:
    """A copy of the sample workspace, with an intel store."""

    ws: Workspace
    engine: DuckDBEngine

    def load(self, path: Path, source: str, fmt: str = "auto", **kw: Any) -> Any:
        from cairn.intel.feeds import load_target
        from cairn.intel.store import IntelStore, LoadSettings

        settings = kw.pop("settings", None) or LoadSettings(internal=True)
        return load_target(IntelStore(self.ws, self.engine), str(path), source, fmt=fmt, settings=settings, **kw)

    def dicts(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        return self.engine.arrow(sql, params).to_pylist()


@pytest.fixture(name="sample_lake")
def sample_lake_fixture(sample_template: Path, tmp_path: Path) -> Iterator[SampleLake]:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(sample_template, root)
    ws = Workspace.open(root)
    engine = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")
    yield SampleLake(ws, engine)
    engine.close()


def csv_feed(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A CSV feed with the columns the tests map (value, type, valid_from, valid_until, last_seen, confidence,
    threat_type)."""
    import csv

    cols = ["value", "type", "valid_from", "valid_until", "last_seen", "confidence", "threat_type"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: (r.get(c).isoformat() if isinstance(r.get(c), datetime) else r.get(c, "")) for c in cols})
    return path


CSV_COLUMNS = {c: c for c in ["value", "type", "valid_from", "valid_until", "last_seen", "confidence", "threat_type"]}


def current_indicators(engine: DuckDBEngine) -> list[Ind]:
    """The current feed versions as reference indicators (read as plain data from the store's tables)."""
    rows = engine.arrow(
        "SELECT i.source, i.type, i.value, i.valid_from, i.valid_until, i.last_seen, i.first_seen, i.loaded_at, "
        "i.confidence, i.threat_type, coalesce(i.detect, true) AS detect, coalesce(v.max_age_days, 0) AS max_age, "
        "coalesce(v.decay_half_life_days, 0) AS half_life FROM intel_indicators i "
        "JOIN _intel_feed_versions v USING (feed_version) WHERE v.is_current").to_pylist()
    return [Ind(source=r["source"], type=r["type"], value=r["value"], valid_from=r["valid_from"],
                valid_until=r["valid_until"], last_seen=r["last_seen"], first_seen=r["first_seen"],
                loaded_at=r["loaded_at"], confidence=r["confidence"], threat_type=r["threat_type"],
                detect=r["detect"], max_age_days=r["max_age"], half_life_days=r["half_life"]) for r in rows]
