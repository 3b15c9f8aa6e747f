"""Python API: ``lookup(values, workspace=...) -> pyarrow.Table``.

``values`` may be an iterable of strings, a pandas or polars Series / one-column
DataFrame, or a pyarrow array (pandas and polars are optional: nothing imports
them). Values are refanged and typed by :mod:`cairn.intel.normalize`; the
workspace's reference tables are built on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel import normalize as norm
from cairn.intel.lookup import run_lookup
from cairn.intel.ownership import ensure_tables
from cairn.intel.ownership.domains import registrable_sql
from cairn.intel.ownership.special import is_shareable
from cairn.intel.settings import intel_settings
from cairn.intel.verdict import INTEL_CACHE_DDL, build_verdicts
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace

INPUT_SCHEMA = pa.schema(
    [("input", pa.string()), ("type", pa.string()), ("value", pa.string()), ("ip_bin", pa.binary()),
     ("error", pa.string())]
)


def _as_strings(values: Any) -> list[str | None]:
    if isinstance(values, str):
        return [values]
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return [None if v is None else str(v) for v in values.to_pylist()]
    if hasattr(values, "columns") and len(values.columns) == 1:  # one-column DataFrame
        values = values[values.columns[0]]
    if hasattr(values, "to_list"):  # pandas / polars Series
        values = values.to_list()
    return [None if v is None or v != v else str(v) for v in values]


def prepare(values: Iterable[Any] | Any) -> pa.Table:
    """Refang, type and canonicalise inputs into ``(input, type, value, ip_bin, error)`` rows."""
    rows = []
    for raw in _as_strings(values):
        if raw is None or not raw.strip():
            continue
        n = norm.normalize(raw)
        if n.value is None:
            rows.append((raw, n.type, None, None, n.reason))
            continue
        ip_bin = n.range_start if n.type == "ip" and n.range_start == n.range_end else None
        rows.append((raw, n.type, n.value, ip_bin, None))
    cols = list(map(list, zip(*rows, strict=True))) if rows else [[] for _ in INPUT_SCHEMA]
    return pa.table(cols, schema=INPUT_SCHEMA)


def result_sql(out: str) -> str:
    """SELECT of one row per observable: verdict, ownership, warninglists, evidence."""
    return f"""
        WITH asn AS (
            SELECT m.type, m.value,
                   arg_min(a.asn, a.source LIKE 'bundled%') FILTER (WHERE a.asn IS NOT NULL) AS asn,
                   arg_min(a.as_org, a.source LIKE 'bundled%') FILTER (WHERE a.asn IS NOT NULL) AS as_org,
                   arg_min(a.country, a.source LIKE 'bundled%') FILTER (WHERE a.country IS NOT NULL) AS country
            FROM {out}_matches m JOIN own_asn a ON a.range_start = m.range_start AND a.range_end = m.range_end
                                               AND a.source = m.ref
            WHERE m.family = 'asn' GROUP BY ALL
        ),
        cl AS (
            SELECT m.type, m.value,
                   arg_max(struct_pack(provider := c.provider, service := c.service, region := c.region,
                                       cidr := c.cidr),
                           m.specificity * 2 + CAST(coalesce(c.service, '') <> 'AMAZON' AS INTEGER)) AS best,
                   list(struct_pack(provider := c.provider, service := c.service, region := c.region,
                                    cidr := c.cidr, source := c.source) ORDER BY m.specificity DESC, c.service)
                     AS cloud_matches
            FROM {out}_matches m JOIN own_cloud c ON c.range_start = m.range_start AND c.range_end = m.range_end
                                                 AND c.source = m.ref
            WHERE m.family = 'cloud' GROUP BY ALL
        ),
        fl AS (
            SELECT type, value, bool_or(family = 'tor') AS tor,
                   list(DISTINCT ref ORDER BY ref) FILTER (WHERE family = 'special') AS special
            FROM {out}_matches GROUP BY ALL
        ),
        rd AS ({registrable_sql(out + '_obs', 'domain')}),
        ev AS (
            SELECT type, value, list(struct_pack(source := source, kind := kind, score_id := score_id,
                                                 confidence := confidence, observed_at := observed_at,
                                                 feed_version := feed_version, counts := counts,
                                                 why := why, detail := CAST(detail AS VARCHAR))
                                     ORDER BY score_id DESC, source) AS evidence
            FROM {out}_evidence GROUP BY ALL
        )
        SELECT o.type, o.value, v.score_id, v.score, v.sources, v.independent_sources, v.warninglists, v.why,
               asn.asn, asn.as_org, asn.country,
               cl.best.provider AS cloud_provider, cl.best.service AS cloud_service, cl.best.region AS cloud_region,
               coalesce(cl.cloud_matches, []) AS cloud_matches, coalesce(fl.tor, false) AS tor,
               coalesce(fl.special, []) AS special_ranges, rd.registrable_domain,
               coalesce(ev.evidence, []) AS evidence
        FROM (SELECT DISTINCT type, value, domain FROM {out}_obs) o
        JOIN {out}_verdicts v USING (type, value)
        LEFT JOIN asn USING (type, value) LEFT JOIN cl USING (type, value) LEFT JOIN fl USING (type, value)
        LEFT JOIN ev USING (type, value) LEFT JOIN rd ON rd.domain = o.domain
    """


def lookup_relation(engine: DuckDBEngine, relation: str, out: str = "_lk") -> pa.Table:
    """Verdict and ownership of every ``(type, value, ip_bin)`` row of ``relation`` (tables must exist)."""
    engine.execute(INTEL_CACHE_DDL)
    run_lookup(engine, relation, out)
    build_verdicts(engine, out)
    return engine.arrow(result_sql(out) + " ORDER BY type, value")


def ensure(engine: DuckDBEngine, ws: Workspace) -> None:
    """Build missing or stale reference tables of ``ws`` under its writer lock."""
    Catalog(engine, ws.lake)
    with ws.writer_lock():
        ensure_tables(engine, ws.root, ws.lake, intel_settings(ws.config))


def lookup_prepared(engine: DuckDBEngine, ws: Workspace, prepared: pa.Table) -> pa.Table:
    """Look up already prepared inputs (:func:`prepare`); adds ``input``, ``shareable`` and ``error``."""
    ensure(engine, ws)
    good = prepared.filter(pc.is_valid(prepared["value"]))
    engine.register("_lk_input", good.select(["type", "value", "ip_bin"]))
    try:
        res = lookup_relation(engine, "_lk_input")
    finally:
        engine.unregister("_lk_input")
    by_key = {(r["type"], r["value"]): r for r in res.to_pylist()}
    rows = []
    for p in prepared.to_pylist():
        r = dict(by_key.get((p["type"], p["value"]), {})) if p["value"] else {}
        r.update(input=p["input"], type=p["type"], value=p["value"], error=p["error"],
                 shareable=is_shareable(p["value"]) if p["value"] else None)
        rows.append(r)
    names = ["input", "error", "shareable", *res.schema.names]
    schema = pa.schema([pa.field("input", pa.string()), pa.field("error", pa.string()),
                        pa.field("shareable", pa.bool_()), *res.schema])
    return pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows], schema=schema)


def lookup(values: Iterable[Any] | Any, workspace: Path | str | Workspace | None = None,
           config: Path | None = None) -> pa.Table:
    """Verdict, sources, ownership and warninglist hits of each value (one row per input)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(
        Path(workspace) if workspace else None, config)
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp") as engine:
        return lookup_prepared(engine, ws, prepare(values))
