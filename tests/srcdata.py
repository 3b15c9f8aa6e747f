"""Real samples of the Route 53, GuardDuty and Security Hub fixtures, the delivery shapes
built from them, and an in-memory run of a source's normaliser (records_sql + typed_sql)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.sources import get_source
from cairn.sources.framing import items_table

FIXTURES = Path(__file__).parent / "fixtures"


def panther_logs(source: str, name: str) -> list[dict[str, Any]]:
    """The ``log`` of each Panther test case, distinct, in file order."""
    out: list[dict[str, Any]] = []
    for line in (FIXTURES / source / "panther" / name).read_text(encoding="utf-8").splitlines():
        log = json.loads(line)["log"]
        if log not in out:
            out.append(log)
    return out


def panther_case(source: str, name: str, test_name: str) -> dict[str, Any]:
    """The ``log`` of the Panther test case called ``test_name``."""
    for line in (FIXTURES / source / "panther" / name).read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["test_name"] == test_name:
            return case["log"]
    raise KeyError(test_name)


def pascal(value: Any, *, maps: tuple[str, ...] = ("affectedResources",)) -> Any:
    """Keys as boto3 returns them: first letter upper-cased, recursively, except the keys of
    map-typed members (``maps``), which are data."""
    if isinstance(value, list):
        return [pascal(v, maps=maps) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        k[:1].upper() + k[1:]: (v if k in maps else pascal(v, maps=maps)) for k, v in value.items()
    }


def write(path: Path, data: bytes | str | Any) -> Path:
    """Write bytes, text, or any other value as JSON; ``.gz`` names are gzipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data if isinstance(data, bytes) else (data if isinstance(data, str) else json.dumps(data)).encode()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def jsonl(records: list[Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def normalise(source: str, items: list[Any]) -> list[dict[str, Any]]:
    """Run a source's records_sql and typed SQL on ``items`` (values or JSON text) in memory.

    Gives every record's typed row plus ``route``, ``error`` (records_sql) and ``_reject``;
    IP-derived ``*_bin`` columns of IpColumns are not computed (the ingest does that).
    """
    src = get_source(source)
    rows = [
        ("mem", f"line {i}", it if isinstance(it, str) else json.dumps(it), None)
        for i, it in enumerate(items, 1)
    ]
    with DuckDBEngine() as e:
        e.register("_items_in", items_table(rows))
        e.execute("CREATE TEMP TABLE _items AS SELECT * FROM _items_in")
        e.execute(f"CREATE TEMP TABLE _records_all AS SELECT * FROM ({src.records_sql})")
        out = [
            {"origin": o, "locator": loc, "raw": raw, "route": route, "error": err}
            for o, loc, raw, route, err in e.rows(
                "SELECT origin, locator, raw, route, error FROM _records_all WHERE error IS NOT NULL"
            )
        ]
        for table, sql in src.typed_sql.items():
            typed = e.arrow(
                f"WITH _records AS (SELECT origin, locator, raw FROM _records_all "
                f"WHERE route = ? AND error IS NULL) SELECT * FROM ({sql})",
                [table],
            ).to_pylist()
            out += [{**r, "route": table, "error": None} for r in typed]
    return sorted(out, key=lambda r: _locator_key(r["locator"]))


def _locator_key(locator: str) -> tuple[int, str]:
    parts = locator.split(" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0, locator)
