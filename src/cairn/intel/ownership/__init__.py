"""Ownership: ASN, organisation, country, cloud, Tor, special-purpose ranges, domains.

Everything works offline from bundled data. :func:`ensure_tables` builds the
workspace tables (``own_asn``, ``own_cloud``, ``own_tor``, ``own_special``,
``own_public_suffixes``, ``warninglists``, ``warninglist_entries``) on first
use and rebuilds one when the fingerprint of its inputs changes (new bundled
data, a refreshed download, other settings).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel import warninglists
from cairn.intel.ownership import asn, cloud, domains, special, tor
from cairn.intel.ownership.cloud import refresh_aws_ip_ranges
from cairn.intel.ownership.special import is_shareable
from cairn.intel.ownership.tor import refresh_tor_exit_nodes
from cairn.intel.settings import IntelSettings
from cairn.intel.tables import current_fingerprint, fingerprint, publish

__all__ = ["ensure_tables", "is_shareable", "refresh_aws_ip_ranges", "refresh_tor_exit_nodes"]

BUILD_VERSION = 2


def ensure_tables(engine: DuckDBEngine, root: Path, lake: Path, settings: IntelSettings) -> list[str]:
    """Build the ownership and warninglist tables that are missing or stale; returns the rebuilt names.

    The caller holds the workspace's writer lock.
    """
    built: list[str] = []
    wl_dir = warninglists.lists_dir(settings.warninglist_path())
    wl_files = warninglists.available(wl_dir)
    wl_ids = warninglists.select(settings.warninglists, list(wl_files))
    wl_fp = fingerprint(BUILD_VERSION, str(wl_dir), [(i, wl_files[i]) for i in wl_ids])

    def stale(name: str, fp: str) -> bool:
        return current_fingerprint(engine, name) != fp

    wl_tables: tuple[pa.Table, pa.Table] | None = None
    if stale("warninglists", wl_fp) or stale("warninglist_entries", wl_fp):
        wl_tables = warninglists.load(settings.warninglists, settings.warninglist_path())
        publish(engine, lake, "warninglists", wl_tables[0], wl_fp)
        publish(engine, lake, "warninglist_entries", wl_tables[1], wl_fp)
        built += ["warninglists", "warninglist_entries"]

    mmdb = settings.mmdb_paths()
    fp = fingerprint(BUILD_VERSION, *asn.bundled_files(), *mmdb)
    if stale("own_asn", fp):
        publish(engine, lake, "own_asn", asn.asn_table(engine, mmdb), fp)
        built.append("own_asn")

    aws_path = cloud.aws_file(root)
    fp = fingerprint(BUILD_VERSION, aws_path, wl_fp, sorted(cloud.PROVIDER_LISTS.items()))
    if stale("own_cloud", fp):
        entries = engine.arrow(
            "SELECT list, value, ip_version, prefix_len, range_start, range_end FROM warninglist_entries "
            "WHERE type = 'cidr'"
        )
        table = pa.concat_tables([cloud.aws_rows(aws_path), cloud.warninglist_rows(entries)])
        publish(engine, lake, "own_cloud", table, fp)
        built.append("own_cloud")

    tor_path, tor_date, tor_source = tor.tor_file(root)
    fp = fingerprint(BUILD_VERSION, tor_path, tor_date)
    if stale("own_tor", fp):
        publish(engine, lake, "own_tor", tor.tor_rows(tor_path, tor_date, tor_source), fp)
        built.append("own_tor")

    fp = fingerprint(BUILD_VERSION, special.VERSION, special.SPECIAL_RANGES)
    if stale("own_special", fp):
        publish(engine, lake, "own_special", special.special_table(), fp)
        built.append("own_special")

    psl = domains.psl_file()
    fp = fingerprint(BUILD_VERSION, psl)
    if stale("own_public_suffixes", fp):
        publish(engine, lake, "own_public_suffixes", domains.psl_rows(psl), fp)
        built.append("own_public_suffixes")
    return built
