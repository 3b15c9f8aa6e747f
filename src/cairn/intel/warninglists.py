"""MISP warninglists as tables: known-benign and infrastructure lists that demote or explain a verdict.

Lists come from the copy bundled in the ``pymispwarninglists`` package (CC0) or
a folder given in ``[intel.warninglists] path``. Two tables are built:
``warninglists`` (one row per list: id, title, description, version, type,
matching attributes, the cairn observable types they apply to, effect) and
``warninglist_entries``. Matching (in :mod:`cairn.intel.lookup`) follows the
list type:

- ``cidr``: entries are 16-byte ranges in the IP segment index (nesting handled);
- ``hostname``: the domain or a parent domain equals the entry (also for URL hosts); top-site
  lists (:data:`EXACT_HOSTNAME_LISTS`) match the name itself or ``www.`` + name only;
- ``string``: exact (case-insensitive) equality;
- ``substring`` / ``regex``: evaluated by the engine on the distinct observed values
  (MISP ``/pattern/flags`` become RE2 patterns; ones RE2 cannot run are skipped and counted).

``effect`` is ``demote`` for lists of things that are benign in themselves
(public resolvers, special ranges, empty-file hashes, top domains, CRL/OCSP,
sinkholes): a hit caps the verdict. Cloud/CDN, dynamic DNS and other
infrastructure lists are ``context``: reported, but attackers use them too.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa

from cairn.errors import ConfigError
from cairn.intel.ranges import cidr_range
from cairn.intel.settings import WarninglistSettings

DEMOTE_LISTS = (
    "public-dns-v4", "public-dns-v6", "public-dns-hostname",
    "rfc1918", "rfc3849", "rfc5735", "rfc6598", "rfc6761", "multicast", "ipv6-linklocal",
    "empty-hashes", "common-ioc-false-positive", "eicar.com",
    "crl-hostname", "crl-ip", "sinkholes", "tranco10k", "google", "microsoft", "microsoft-office365",
    "whats-my-ip", "second-level-tlds", "tlds", "mozilla-CA", "mozilla-IntermediateCA",
)
CONTEXT_LISTS = (
    "amazon-aws", "google-gcp", "microsoft-azure", "microsoft-azure-china", "microsoft-azure-germany",
    "microsoft-azure-us-gov", "oracle-oci", "cloudflare", "akamai", "fastly", "ovh-cluster", "stackpath",
    "zscaler", "github", "url-shortener", "dynamic-dns",
)
DEFAULT_LISTS = DEMOTE_LISTS + CONTEXT_LISTS
EXACT_HOSTNAME_LISTS = ("tranco", "tranco10k", "alexa", "public-dns-hostname")
"""Hostname lists matched on the name itself (or ``www.`` + name), not on sub-domains: a
popular site's sub-domains (``x.blogspot.com``) are often user content, not the site."""
"""cairn's default set (ids missing from the installed lists are skipped)."""

_ATTR_TYPES = {
    "ip": ("ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip", "ip"),
    "domain": ("hostname", "domain", "domain|ip", "hostname|port"),
    "url": ("url", "uri", "link"),
    "hash": ("md5", "sha1", "sha224", "sha256", "sha512", "ssdeep", "filename|md5", "filename|sha1",
             "filename|sha224", "filename|sha256", "filename|sha512", "filename|ssdeep",
             "x509-fingerprint-md5", "x509-fingerprint-sha1", "x509-fingerprint-sha256"),
    "email": ("email", "email-src", "email-dst", "target-email", "whois-registrant-email", "dns-soa-email"),
}

LISTS_SCHEMA = pa.schema(
    [
        ("list", pa.string()), ("name", pa.string()), ("description", pa.string()), ("version", pa.int64()),
        ("type", pa.string()), ("matching_attributes", pa.list_(pa.string())),
        ("observable_types", pa.list_(pa.string())), ("effect", pa.string()),
        ("match_subdomains", pa.bool_()), ("entries", pa.int64()), ("skipped", pa.int64()),
    ]
)
ENTRIES_SCHEMA = pa.schema(
    [
        ("list", pa.string()), ("type", pa.string()), ("value", pa.string()), ("ip_version", pa.int8()),
        ("prefix_len", pa.int32()), ("range_start", pa.binary()), ("range_end", pa.binary()),
    ]
)


def bundled_dir() -> Path:
    """The lists folder inside the pymispwarninglists package."""
    return Path(str(resources.files("pymispwarninglists") / "data" / "misp-warninglists" / "lists"))


def lists_dir(path: Path | None) -> Path:
    """The folder holding ``<id>/list.json`` (a configured path, or the bundled copy)."""
    if path is None:
        return bundled_dir()
    if (path / "lists").is_dir():
        path = path / "lists"
    if not path.is_dir():
        raise ConfigError(f"[intel.warninglists] path: {path} is not a folder")
    return path


def available(folder: Path) -> dict[str, Path]:
    """List id -> list.json for every list in ``folder``."""
    return {p.parent.name: p for p in sorted(folder.glob("*/list.json"))}


def select(settings: WarninglistSettings, ids: list[str]) -> list[str]:
    """The list ids to load for ``settings`` among the ``ids`` available."""
    have = set(ids)
    chosen: list[str] = []
    for name in settings.include:
        if name == "all":
            chosen += ids
        elif name == "default":
            chosen += [n for n in DEFAULT_LISTS if n in have]
        elif name in have:
            chosen.append(name)
        else:
            raise ConfigError(f"[intel.warninglists] include: unknown list {name!r}; "
                              f"available: {', '.join(sorted(have))}")
    drop = set(settings.exclude)
    return sorted({n for n in chosen if n not in drop})


def observable_types(attrs: list[str] | None) -> list[str]:
    """cairn observable types a list with these MISP ``matching_attributes`` applies to."""
    if not attrs:
        return list(_ATTR_TYPES)
    return [t for t, names in _ATTR_TYPES.items() if any(a in names for a in attrs)]


def misp_regex_to_re2(entry: str) -> str | None:
    """``/pattern/flags`` (PCRE-ish, as MISP writes them) to an RE2 pattern; None if unusable."""
    m = re.fullmatch(r"/(.*)/([a-z]*)", entry, re.S)
    pattern, flags = (m.group(1), m.group(2)) if m else (entry, "")
    if re.search(r"\(\?[=!<]|\\[1-9]", pattern):  # look-around and back-references: not RE2
        return None
    pattern = pattern.replace(r"\@", "@")
    return f"(?i){pattern}" if "i" in flags else pattern


def _entry(list_id: str, list_type: str, raw: Any) -> tuple[Any, ...] | None:
    value = str(raw).strip()
    if not value:
        return None
    if list_type == "cidr":
        try:
            start, end, plen, ver = cidr_range(value)
        except ValueError:
            return None
        return (list_id, list_type, value, ver, plen, start, end)
    if list_type == "regex":
        rx = misp_regex_to_re2(value)
        return (list_id, list_type, rx, None, None, None, None) if rx else None
    value = value.lower()
    if list_type == "hostname":
        value = value.strip(".")
        if "://" in value:
            value = value.split("://", 1)[1].split("/", 1)[0]
    return (list_id, list_type, value, None, None, None, None)


def load(settings: WarninglistSettings, path: Path | None = None) -> tuple[pa.Table, pa.Table]:
    """``(warninglists, warninglist_entries)`` tables for the selected lists."""
    files = available(lists_dir(path))
    lists, entries = [], []
    for list_id in select(settings, list(files)):
        data = json.loads(files[list_id].read_text(encoding="utf-8"))
        list_type = data.get("type", "string")
        rows = [_entry(list_id, list_type, v) for v in data.get("list", [])]
        good = list(dict.fromkeys(r for r in rows if r is not None))  # one row per normalised entry
        entries += good
        attrs = data.get("matching_attributes") or []
        effect = "demote" if list_id in DEMOTE_LISTS else "context"
        lists.append((list_id, data.get("name"), data.get("description"), int(data.get("version", 0)), list_type,
                      attrs, observable_types(attrs), effect, list_id not in EXACT_HOSTNAME_LISTS, len(good), len(rows) - len(good)))
    lt = pa.table(list(map(list, zip(*lists, strict=True))) if lists else [[] for _ in LISTS_SCHEMA],
                  schema=LISTS_SCHEMA)
    et = pa.table(list(map(list, zip(*entries, strict=True))) if entries else [[] for _ in ENTRIES_SCHEMA],
                  schema=ENTRIES_SCHEMA)
    return lt, et
