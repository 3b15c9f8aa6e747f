"""Shared helpers of the ownership / lookup / verdict tests (imported by the test modules)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.api import ensure
from cairn.intel.model import INDICATOR_SCHEMA
from cairn.workspace import Workspace

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "intel"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@dataclass
class IntelWs:
    """A workspace with its reference tables built."""

    ws: Workspace
    engine: DuckDBEngine


@pytest.fixture(scope="session")
def intel_ws(tmp_path_factory: pytest.TempPathFactory):
    """One workspace for the session (building the reference tables takes a few seconds)."""
    ws = Workspace.open(tmp_path_factory.mktemp("intelws"))
    engine = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")
    ensure(engine, ws)
    yield IntelWs(ws, engine)
    engine.close()


def shared(*parts: str) -> Path:
    """A file of ../shared/data, skipping the test when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


def indicator_rows(rows: list[dict]) -> pa.Table:
    """INDICATOR_SCHEMA rows (plus effective_confidence) from short dicts; fills the range of IPs."""
    from cairn.intel.ranges import cidr_range

    full = []
    for i, r in enumerate(rows):
        d = {f.name: None for f in INDICATOR_SCHEMA}
        d.update(indicator_uid=f"uid{i}", source="feed-a", feed_version="v1", detect=True, confidence=90)
        d.update(r)
        if d["type"] == "ip":
            start, end, plen, ver = cidr_range(d["value"])
            d.update(range_start=start, range_end=end, prefix_len=plen, ip_version=ver,
                     value=str(ipaddress.ip_network(d["value"], strict=False)) if plen < (32 if ver == 4 else 128)
                     else str(ipaddress.ip_network(d["value"], strict=False).network_address))
        d.setdefault("effective_confidence", d["confidence"])
        if d.get("effective_confidence") is None:
            d["effective_confidence"] = d["confidence"]
        full.append(d)
    schema = INDICATOR_SCHEMA.append(pa.field("effective_confidence", pa.int32()))
    return pa.Table.from_pylist(full, schema=schema)


def set_indicators(engine: DuckDBEngine, rows: list[dict]) -> None:
    """Replace the workspace's ``indicators`` view by these rows (a stand-in for the feeds store)."""
    engine.execute("DROP TABLE IF EXISTS _test_indicators")
    engine.register("_test_ind_arrow", indicator_rows(rows))
    engine.execute("CREATE TABLE _test_indicators AS SELECT * FROM _test_ind_arrow")
    engine.unregister("_test_ind_arrow")
    engine.execute("CREATE OR REPLACE VIEW indicators AS SELECT * FROM _test_indicators")
