"""Tor exit nodes: a bundled dated list, refreshable from a configurable URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from cairn.errors import InputError
from cairn.intel.ownership.asn import data_dir
from cairn.intel.ownership.cloud import download, ownership_dir
from cairn.lake.addresses import ip_to_bin, parse_ip

TOR_URL = "https://check.torproject.org/torbulkexitlist"
BUNDLED_TOR = "tor-exit-nodes.lst"
BUNDLED_DATE = "2024-02-27"
BUNDLED_SOURCE = "bundled:SecOps-Institute/Tor-IP-Addresses (MIT)"

TOR_SCHEMA = pa.schema(
    [("ip", pa.string()), ("ip_bin", pa.binary()), ("list_date", pa.string()), ("source", pa.string())]
)


def tor_file(root: Path | None) -> tuple[Path, str, str]:
    """``(path, list date, source)`` of the list to use: a refreshed copy if any, else the bundled one."""
    if root is not None:
        fresh = ownership_dir(root) / "tor-exit-nodes.lst"
        if fresh.exists():
            import json

            meta_path = fresh.with_name(fresh.name + ".meta.json")
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            return fresh, str(meta.get("fetched_at", ""))[:10], f"refreshed:{meta.get('url', '?')}"
    return data_dir() / BUNDLED_TOR, BUNDLED_DATE, BUNDLED_SOURCE


def parse_list(text: str) -> list[str]:
    """Addresses of a plain list (one per line, ``#`` comments, blank lines ignored)."""
    out = []
    for line in text.splitlines():
        v = line.split("#", 1)[0].strip()
        if v:
            addr = parse_ip(v)
            if addr is not None:
                out.append(str(addr))
    return out


def tor_rows(path: Path, list_date: str, source: str) -> pa.Table:
    """Rows of :data:`TOR_SCHEMA` from a list file."""
    ips = sorted(set(parse_list(path.read_text(encoding="utf-8", errors="replace"))))
    return pa.table(
        {"ip": ips, "ip_bin": [ip_to_bin(parse_ip(i)) for i in ips],  # type: ignore[arg-type]
         "list_date": [list_date] * len(ips), "source": [source] * len(ips)},
        schema=TOR_SCHEMA,
    )


def _validate(path: Path) -> None:
    if not parse_list(path.read_text(encoding="utf-8", errors="replace")):
        raise InputError("no IP addresses in the downloaded Tor list", origin=str(path))


def refresh_tor_exit_nodes(root: Path, url: str = TOR_URL, *, timeout: float = 30.0) -> dict[str, Any]:
    """Download the exit-node list into workspace ``root``; ``own_tor`` rebuilds on next use."""
    return download(url, ownership_dir(root) / "tor-exit-nodes.lst", timeout=timeout, validate=_validate)
