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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.lookup import run_lookup
from cairn.intel.lookup_values import prepare_values
from cairn.intel.ownership import ensure_tables
from cairn.intel.ownership.domains import registrable_sql
from cairn.intel.ownership.special import is_shareable, special_overlaps, unowned_sql
from cairn.intel.settings import intel_settings
from cairn.intel.verdict import INTEL_CACHE_DDL, build_verdicts
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace


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
    """Refang, type and canonicalise inputs into ``(input, type, value, ip_bin, error)`` rows
    (:func:`cairn.intel.lookup_values.prepare_values`; blank values are left out)."""
    return prepare_values(_as_strings(values))


def result_sql(out: str) -> str:
    """SELECT of one row per observable: verdict, ownership, warninglists, evidence.

    Reads ``<out>_matches`` (by ``obs_id``), ``_obs``, ``_evidence`` and ``_verdicts``; an address in a special range that
    hides ownership (:func:`cairn.intel.ownership.special.unowned_sql`) gets no ASN, AS organisation or
    country. ``<out>_matches`` holds one cloud row per
    ``own_cloud`` row of a range (AMAZON and EC2 of one CIDR: two identical rows); they are made distinct
    and each is joined to the ``own_cloud`` rows of its source and CIDR, so each appears once."""
    return f"""
        WITH asn AS (
            SELECT m.obs_id,
                   arg_min(a.asn, a.source LIKE 'bundled%') FILTER (WHERE a.asn IS NOT NULL) AS asn,
                   arg_min(a.as_org, a.source LIKE 'bundled%') FILTER (WHERE a.asn IS NOT NULL) AS as_org,
                   arg_min(a.country, a.source LIKE 'bundled%') FILTER (WHERE a.country IS NOT NULL) AS country
            FROM {out}_matches m JOIN own_asn a ON a.range_start = m.range_start AND a.range_end = m.range_end
                                               AND a.source = m.ref
            ANTI JOIN ({unowned_sql(out + '_matches')}) u ON u.obs_id = m.obs_id
            WHERE m.family = 'asn' GROUP BY ALL
        ),
        cl AS (
            SELECT m.obs_id,
                   arg_max(struct_pack(provider := c.provider, service := c.service, region := c.region,
                                       cidr := c.cidr),
                           m.specificity * 2 + CAST(coalesce(c.service, '') <> 'AMAZON' AS INTEGER)) AS best,
                   list(struct_pack(provider := c.provider, service := c.service, region := c.region,
                                    cidr := c.cidr, source := c.source) ORDER BY m.specificity DESC, c.service)
                     AS cloud_matches
            FROM (SELECT DISTINCT obs_id, ref, range_start, range_end, matched, specificity
                  FROM {out}_matches WHERE family = 'cloud') m
            JOIN own_cloud c ON c.range_start = m.range_start AND c.range_end = m.range_end AND c.source = m.ref
                            AND c.cidr = m.matched
            GROUP BY ALL
        ),
        fl AS (
            SELECT obs_id, bool_or(family = 'tor') AS tor,
                   list(DISTINCT ref ORDER BY ref) FILTER (WHERE family = 'special') AS special
            FROM {out}_matches WHERE family IN ('tor', 'special') GROUP BY ALL
        ),
        rd AS ({registrable_sql(out + '_obs', 'domain')}),
        ev AS (
            SELECT type, value, list(struct_pack(source := source, kind := kind, score_id := score_id,
                                                 confidence := confidence, observed_at := observed_at,
                                                 feed_version := feed_version, counts := counts,
                                                 why := why, detail := CAST(detail AS VARCHAR))
                                     ORDER BY score_id DESC, source, why) AS evidence
            FROM {out}_evidence GROUP BY ALL
        )
        SELECT o.type, o.value, v.score_id, v.score, v.sources, v.independent_sources, v.warninglists, v.why,
               asn.asn, asn.as_org, asn.country,
               cl.best.provider AS cloud_provider, cl.best.service AS cloud_service, cl.best.region AS cloud_region,
               coalesce(cl.cloud_matches, []) AS cloud_matches, coalesce(fl.tor, false) AS tor,
               coalesce(fl.special, []) AS special_ranges, rd.registrable_domain,
               coalesce(ev.evidence, []) AS evidence
        FROM (SELECT rowid AS obs_id, type, value, domain FROM {out}_obs) o
        JOIN {out}_verdicts v USING (type, value)
        LEFT JOIN asn USING (obs_id) LEFT JOIN cl USING (obs_id) LEFT JOIN fl USING (obs_id)
        LEFT JOIN ev USING (type, value) LEFT JOIN rd ON rd.domain = o.domain
    """


def _match_and_judge(engine: DuckDBEngine, relation: str, out: str) -> None:
    """Matches, evidence and verdicts of ``relation`` (``<out>_matches``, ``_evidence``, ``_verdicts``)."""
    engine.execute(INTEL_CACHE_DDL)
    run_lookup(engine, relation, out)
    build_verdicts(engine, out)


def lookup_relation(engine: DuckDBEngine, relation: str, out: str = "_lk") -> pa.Table:
    """Verdict and ownership of every ``(type, value, ip_bin)`` row of ``relation`` (tables must exist)."""
    _match_and_judge(engine, relation, out)
    return engine.arrow(result_sql(out) + " ORDER BY type, value")


def ensure(engine: DuckDBEngine, ws: Workspace) -> None:
    """Build missing or stale reference tables of ``ws`` under its writer lock."""
    Catalog(engine, ws.lake)
    with ws.writer_lock():
        ensure_tables(engine, ws.root, ws.lake, intel_settings(ws.config))


def _shareable_column(prepared: pa.Table) -> pa.Array:
    """:func:`is_shareable` of the values that are not single addresses (one call per distinct value);
    null for single addresses (the lookup's special-range matches decide them) and invalid inputs."""
    single = pc.and_(pc.equal(prepared["type"], "ip"), pc.is_valid(prepared["ip_bin"]))
    need = pc.and_(pc.is_valid(prepared["value"]), pc.invert(pc.fill_null(single, False)))
    idx = np.flatnonzero(need.to_numpy(zero_copy_only=False))
    out: list[bool | None] = [None] * prepared.num_rows
    seen: dict[str, bool] = {}
    for i, v in zip(idx.tolist(), prepared["value"].take(pa.array(idx)).to_pylist(), strict=True):
        share = seen.get(v)
        out[i] = seen[v] = is_shareable(v) if share is None else share
    return pa.array(out, pa.bool_())


def _cidr_special_column(prepared: pa.Table) -> pa.Array:
    """:func:`special_overlaps` of the CIDR inputs (valid ip values that are not single addresses):
    every special range a network overlaps; null for the other rows (the lookup's matches decide)."""
    cidr = pc.and_(pc.and_(pc.equal(prepared["type"], "ip"), pc.is_valid(prepared["value"])),
                   pc.is_null(prepared["ip_bin"]))
    idx = np.flatnonzero(pc.fill_null(cidr, False).to_numpy(zero_copy_only=False))
    out: list[list[str] | None] = [None] * prepared.num_rows
    for i, v in zip(idx.tolist(), prepared["value"].take(pa.array(idx, pa.int64())).to_pylist(), strict=True):
        out[i] = special_overlaps(v)
    return pa.array(out, pa.list_(pa.string()))


def lookup_prepared(engine: DuckDBEngine, ws: Workspace, prepared: pa.Table) -> pa.Table:
    """Look up already prepared inputs (:func:`prepare`), one row per input in its order;
    adds ``input``, ``error`` and ``shareable`` (may the value go to an outside service). A CIDR's
    ``special_ranges`` are the special ranges it overlaps; any of them makes it not shareable."""
    ensure(engine, ws)
    good = prepared.filter(pc.is_valid(prepared["value"]))
    rows = prepared.append_column("_share", _shareable_column(prepared)).append_column(
        "_special", _cidr_special_column(prepared)).append_column(
        "_i", pa.array(np.arange(prepared.num_rows, dtype=np.int64)))
    engine.register("_lk_input", good.select(["type", "value", "ip_bin"]))
    engine.register("_lk_rows", rows)
    try:
        _match_and_judge(engine, "_lk_input", "_lk")
        return engine.arrow(
            f"""SELECT p.input, p.error,
                       CASE WHEN p.value IS NOT NULL
                            THEN coalesce(p._share, len(coalesce(r.special_ranges, [])) = 0) END AS shareable,
                       p.type, p.value,
                       r.* EXCLUDE (type, value) REPLACE (coalesce(p._special, r.special_ranges) AS special_ranges)
                FROM _lk_rows p LEFT JOIN ({result_sql("_lk")}) r ON r.type = p.type AND r.value = p.value
                ORDER BY p._i""")
    finally:
        engine.unregister("_lk_input")
        engine.unregister("_lk_rows")


def lookup(values: Iterable[Any] | Any, workspace: Path | str | Workspace | None = None,
           config: Path | None = None) -> pa.Table:
    """Verdict, sources, ownership and warninglist hits of each value (one row per input)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(
        Path(workspace) if workspace else None, config)
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp") as engine:
        return lookup_prepared(engine, ws, prepare(values))
