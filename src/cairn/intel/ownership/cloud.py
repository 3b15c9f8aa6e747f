"""Cloud attribution: provider, service and region of an address.

- **AWS** from ``ip-ranges.json``: a bundled snapshot (``aws-ip-ranges.json.gz``)
  or a newer copy fetched by :func:`refresh_aws_ip_ranges` into the workspace.
  AWS prefixes nest (``AMAZON`` covers ``EC2``, ``S3``, ...); every prefix is a
  row, the lookup returns all matches and marks the most specific one, and
  prefers a named service over ``AMAZON`` on the same prefix.
- **Other providers** (Azure, GCP, Oracle, Cloudflare, Akamai, Fastly, OVH, ...)
  from the CIDR warninglists named in :data:`PROVIDER_LISTS`.
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from cairn.errors import InputError, RemoteError, TransientError
from cairn.intel.ownership.asn import data_dir
from cairn.intel.ranges import cidr_range

AWS_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
BUNDLED_AWS = "aws-ip-ranges.json.gz"
REFRESHED_AWS = "aws-ip-ranges.json"

# warninglist id -> provider (amazon-aws is left out: ip-ranges.json has services and regions)
PROVIDER_LISTS: dict[str, str] = {
    "google-gcp": "gcp",
    "microsoft-azure": "azure",
    "microsoft-azure-china": "azure",
    "microsoft-azure-germany": "azure",
    "microsoft-azure-us-gov": "azure",
    "oracle-oci": "oracle",
    "cloudflare": "cloudflare",
    "akamai": "akamai",
    "fastly": "fastly",
    "ovh-cluster": "ovh",
    "stackpath": "stackpath",
    "zscaler": "zscaler",
}

CLOUD_SCHEMA = pa.schema(
    [
        ("provider", pa.string()),
        ("service", pa.string()),
        ("region", pa.string()),
        ("network_border_group", pa.string()),
        ("cidr", pa.string()),
        ("ip_version", pa.int8()),
        ("prefix_len", pa.int32()),
        ("range_start", pa.binary()),
        ("range_end", pa.binary()),
        ("source", pa.string()),
    ]
)


def ownership_dir(root: Path) -> Path:
    """Where refreshed ownership downloads of a workspace live."""
    return root / "intel" / "ownership"


def _load_json(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", origin=str(path)) from exc
    if not isinstance(data, dict) or "prefixes" not in data:
        raise InputError("not an AWS ip-ranges.json document (no 'prefixes')", origin=str(path))
    return data


def aws_file(root: Path | None) -> Path:
    """The ip-ranges.json to use: the workspace's refreshed copy if it is newer, else the bundled one."""
    bundled = data_dir() / BUNDLED_AWS
    if root is not None:
        fresh = ownership_dir(root) / REFRESHED_AWS
        if fresh.exists():
            try:
                if _load_json(fresh).get("createDate", "") >= _load_json(bundled).get("createDate", ""):
                    return fresh
            except InputError:
                pass
    return bundled


def aws_rows(path: Path) -> pa.Table:
    """Rows of :data:`CLOUD_SCHEMA` for every IPv4 and IPv6 prefix of an ip-ranges.json file."""
    data = _load_json(path)
    source = f"aws-ip-ranges {data.get('createDate', '?')}"
    rows = []
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        for p in data.get(key) or []:
            cidr = p.get(field)
            if not cidr:
                continue
            start, end, plen, ver = cidr_range(cidr)
            rows.append(("aws", p.get("service"), p.get("region"), p.get("network_border_group"), cidr, ver, plen,
                         start, end, source))
    return pa.table(list(map(list, zip(*rows, strict=True))), schema=CLOUD_SCHEMA)


def warninglist_rows(entries: pa.Table) -> pa.Table:
    """Cloud rows from warninglist entries (columns ``list, value, ip_version, prefix_len, range_*``)."""
    rows = []
    for r in entries.to_pylist():
        provider = PROVIDER_LISTS.get(r["list"])
        if provider and r["range_start"] is not None:
            rows.append((provider, None, None, None, r["value"], r["ip_version"], r["prefix_len"],
                         r["range_start"], r["range_end"], f"warninglist:{r['list']}"))
    if not rows:
        return CLOUD_SCHEMA.empty_table()
    return pa.table(list(map(list, zip(*rows, strict=True))), schema=CLOUD_SCHEMA)


def download(url: str, dest: Path, *, timeout: float = 30.0, validate: Any = None) -> dict[str, Any]:
    """Fetch ``url`` into ``dest`` with ETag / Last-Modified revalidation.

    A ``<dest>.meta.json`` keeps the validators; a 304 leaves ``dest`` as it is.
    ``validate(path)`` may raise to refuse the body; ``dest`` is replaced only
    after it succeeds. Returns ``{status, etag, fetched_at, changed}``.
    """
    meta_path = dest.with_name(dest.name + ".meta.json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    headers = {"User-Agent": "cairn (+https://github.com/)", "Accept-Encoding": "identity"}
    if dest.exists() and meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if dest.exists() and meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    req = urllib.request.Request(url, headers=headers)
    now = datetime.now(UTC).isoformat()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
            etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            meta["checked_at"] = now
            meta_path.write_text(json.dumps(meta, indent=2))
            return {"status": 304, "changed": False, **meta}
        cls = TransientError if exc.code >= 500 or exc.code == 429 else RemoteError
        raise cls(f"GET {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise TransientError(f"GET {url}: {exc}") from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(body)
    try:
        if validate is not None:
            validate(tmp)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    meta = {"url": url, "etag": etag, "last_modified": modified, "fetched_at": now, "checked_at": now,
            "bytes": len(body)}
    meta_path.write_text(json.dumps(meta, indent=2))
    return {"status": 200, "changed": True, **meta}


def refresh_aws_ip_ranges(root: Path, url: str = AWS_URL, *, timeout: float = 30.0) -> dict[str, Any]:
    """Download ip-ranges.json into workspace ``root`` (ETag-aware); the cloud table rebuilds on next use.

    ``root`` is the workspace folder (``Workspace.root``). Returns the download
    summary plus ``createDate`` and ``prefixes`` of the file now in use.
    """
    dest = ownership_dir(root) / REFRESHED_AWS
    result = download(url, dest, timeout=timeout, validate=aws_rows)
    data = _load_json(dest)
    result.update(createDate=data.get("createDate"),
                  prefixes=len(data.get("prefixes") or []) + len(data.get("ipv6_prefixes") or []))
    return result
