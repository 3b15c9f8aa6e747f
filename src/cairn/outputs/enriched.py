"""Writing enriched events: OCSF, ASFF, flat JSON lines, CSV and Parquet.

Every writer reads relations shaped like the lake's ``<table>_enriched`` views (the table's columns,
``max_score_id``, ``enrichment``), so the lake path and streaming ``cairn enrich`` share them.

- ``ocsf``: one OCSF 1.1.0 event per line (:mod:`cairn.outputs.ocsf`); tables without an OCSF class
  (``json_events``, ``cloudtrail_insights``) are counted as skipped.
- ``asff``: one ASFF finding per line for the finding tables (:mod:`cairn.outputs.asff_enriched`).
- ``json``: one JSON object per line: ``{"table": ..., <columns>, "max_score_id", "enrichment": [...]}``;
  JSON columns (``raw``, ``request_parameters``, ...) are embedded as JSON, address bytes left out.
- ``csv`` / ``parquet``: one file per table (``-o`` names the file for one table, else a folder
  receiving ``<table>.csv`` / ``<table>.parquet``); nested columns are JSON text in CSV.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.enrich.tables import ENRICHMENT_COLUMNS
from cairn.errors import ConfigError
from cairn.lake.schema import TableSpec
from cairn.outputs import ocsf
from cairn.outputs.asff_enriched import iter_findings
from cairn.outputs.tables import render, to_jsonable

FORMATS = ("ocsf", "asff", "json", "parquet", "csv")
FINDING_TABLES = ("guardduty_findings", "securityhub_findings")


@dataclass
class WriteSummary:
    """What a writer wrote."""

    format: str
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"format": self.format, "written": self.written, "skipped": self.skipped, "files": self.files}


def flat_sql(spec: TableSpec, relation: str) -> str:
    """SELECT the flat form of an enriched relation: the table's columns without address bytes,
    ``max_score_id``, and ``enrichment`` without ``ip_bin``."""
    cols = [c.name for c in spec.columns if c.type not in ("BLOB", "BLOB[]")]
    fields = ", ".join(f"{c.name} := e.{c.name}" for c in ENRICHMENT_COLUMNS if c.name != "ip_bin")
    return (
        f"SELECT {', '.join('t.' + c for c in cols)}, coalesce(t.max_score_id, 0) AS max_score_id, "
        f"list_transform(list_sort(coalesce(t.enrichment, [])), lambda e: struct_pack({fields})) AS enrichment "
        f"FROM {relation} t ORDER BY t.event_time, t.event_uid"
    )


@contextmanager
def _sink(out: Path | None) -> Iterator[IO[str]]:
    """Standard output, or ``out`` written in full or not at all (a temporary file renamed at the end)."""
    if out is None:
        yield sys.stdout
        return
    if out.is_dir():
        raise ConfigError(f"cannot write {out}: is a folder (give a file name, or a folder with -f csv|parquet)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _lines(fh: IO[str], rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    for row in rows:
        fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def flat_rows(engine: DuckDBEngine, spec: TableSpec, relation: str, batch_rows: int = 10_000
              ) -> Iterator[dict[str, Any]]:
    """The flat rows of an enriched relation as JSON-ready dicts (JSON columns parsed)."""
    json_cols = {c.name for c in spec.columns if c.type == "JSON"}
    reader = engine.con.sql(flat_sql(spec, relation)).to_arrow_reader(batch_rows)
    for batch in reader:
        for row in batch.to_pylist():
            out: dict[str, Any] = {"table": spec.name}
            for k, v in row.items():
                if k in json_cols and isinstance(v, str):
                    try:
                        v = json.loads(v)
                    except ValueError:
                        pass
                out[k] = to_jsonable(v)
            yield out


def write(engine: DuckDBEngine, fmt: str, views: Mapping[str, str], specs: Mapping[str, TableSpec],
          out: Path | None, *, matches: str | None = None, asff_options: Mapping[str, Any] | None = None
          ) -> WriteSummary:
    """Write the enriched relations ``views`` (lake table -> relation) in ``fmt`` to ``out`` (or stdout)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    summary = WriteSummary(fmt)
    if fmt in ("ocsf", "json", "asff"):
        with _sink(out) as fh:
            for table, rel in views.items():
                if fmt == "ocsf":
                    if table not in ocsf.CLASSES:
                        summary.skipped[table] = int(engine.scalar(f"SELECT count(*) FROM {rel}") or 0)
                        continue
                    summary.written[table] = _lines(fh, ocsf.iter_events(engine, table, rel, matches))
                elif fmt == "asff":
                    if table not in FINDING_TABLES:
                        summary.skipped[table] = int(engine.scalar(f"SELECT count(*) FROM {rel}") or 0)
                        continue
                    summary.written[table] = _lines(
                        fh, iter_findings(engine, table, rel, matches, **dict(asff_options or {})))
                else:
                    summary.written[table] = _lines(fh, flat_rows(engine, specs[table], rel))
        if out is not None:
            summary.files.append(str(out))
        return summary
    # csv / parquet: one file per table
    if fmt == "parquet" and out is None:
        raise ConfigError("parquet output needs -o/--output (a file for one table, else a folder)")
    tables = list(views)
    if out is not None and len(tables) > 1 and out.suffix.lower() in (".csv", ".parquet"):
        raise ConfigError(f"the input holds {len(tables)} tables ({', '.join(tables)}): give -o a folder, "
                          f"not {out}")
    if out is None and len(tables) > 1:
        raise ConfigError(f"the input holds {len(tables)} tables ({', '.join(tables)}); CSV on standard output "
                          "takes one: give -o FOLDER or --source")
    for table, rel in views.items():
        arrow = engine.arrow(flat_sql(specs[table], rel))
        target = out
        if out is not None and (len(tables) > 1 or out.is_dir()):
            out.mkdir(parents=True, exist_ok=True)
            target = out / f"{table}.{fmt}"
        if fmt == "parquet":
            assert target is not None
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(arrow, target, compression="zstd")
        else:
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
            render(arrow, "csv", target)
        summary.written[table] = arrow.num_rows
        if target is not None:
            summary.files.append(str(target))
    return summary
