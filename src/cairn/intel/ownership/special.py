"""Special-purpose address ranges and names: flagged, and never sent to an outside service.

The table follows the IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890
and successors) plus multicast. Anything inside one of these ranges, and any
name under a special-use or internal suffix, is *not shareable*: online
providers (VirusTotal, AbuseIPDB, ...) must check :func:`is_shareable` or join
:data:`SHAREABLE_SQL` before they send a value anywhere.
"""

from __future__ import annotations

import re

import pyarrow as pa

from cairn.intel.normalize import normalize_ip
from cairn.intel.ranges import cidr_range
from cairn.lake.addresses import ip_to_bin, parse_ip

VERSION = "special-2024-1"

# (cidr, name, reference)
SPECIAL_RANGES: tuple[tuple[str, str, str], ...] = (
    ("0.0.0.0/8", "this network", "RFC 791"),
    ("0.0.0.0/32", "unspecified", "RFC 1122"),
    ("10.0.0.0/8", "private", "RFC 1918"),
    ("100.64.0.0/10", "shared address space (CGNAT)", "RFC 6598"),
    ("127.0.0.0/8", "loopback", "RFC 1122"),
    ("169.254.0.0/16", "link-local", "RFC 3927"),
    ("172.16.0.0/12", "private", "RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments", "RFC 6890"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    ("192.52.193.0/24", "AMT", "RFC 7450"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)", "RFC 7526"),
    ("192.168.0.0/16", "private", "RFC 1918"),
    ("192.175.48.0/24", "direct delegation AS112 service", "RFC 7534"),
    ("198.18.0.0/15", "benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    ("224.0.0.0/4", "multicast", "RFC 5771"),
    ("240.0.0.0/4", "reserved", "RFC 1112"),
    ("255.255.255.255/32", "limited broadcast", "RFC 919"),
    ("::/128", "unspecified", "RFC 4291"),
    ("::1/128", "loopback", "RFC 4291"),
    ("64:ff9b::/96", "IPv4-IPv6 translation", "RFC 6052"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", "RFC 8215"),
    ("100::/64", "discard-only", "RFC 6666"),
    ("2001::/23", "IETF protocol assignments", "RFC 2928"),
    ("2001::/32", "Teredo", "RFC 4380"),
    ("2001:2::/48", "benchmarking", "RFC 5180"),
    ("2001:db8::/32", "documentation", "RFC 3849"),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343"),
    ("2002::/16", "6to4", "RFC 3056"),
    ("3fff::/20", "documentation", "RFC 9637"),
    ("5f00::/16", "segment routing (SRv6) SIDs", "RFC 9602"),
    ("fc00::/7", "unique local (ULA)", "RFC 4193"),
    ("fe80::/10", "link-local", "RFC 4291"),
    ("fec0::/10", "site-local (deprecated)", "RFC 3879"),
    ("ff00::/8", "multicast", "RFC 4291"),
)

OWNERSHIP_KEPT: tuple[str, ...] = (
    "192.31.196.0/24",  # AS112-v4 (announced by AS112)
    "192.52.193.0/24",  # AMT relays (anycast)
    "192.88.99.0/24",  # 6to4 relay anycast (deprecated, still announced)
    "192.175.48.0/24",  # direct delegation AS112 service (AS112)
)
"""The special ranges that keep their ASN / AS organisation / country: globally routed anycast services
announced in BGP by real operators, so the ASN data about them is meaningful. Every other special range
hides them (see :func:`hides_ownership`)."""

# Names that must never leave the network: special-use (RFC 6761 and friends) and internal suffixes.
SPECIAL_DOMAIN_SUFFIXES: tuple[str, ...] = (
    "localhost", "invalid", "test", "example", "local", "onion", "home.arpa", "internal", "lan",
    "intranet", "corp", "home", "localdomain", "in-addr.arpa", "ip6.arpa", "alt",
)

SPECIAL_SCHEMA = pa.schema(
    [
        ("cidr", pa.string()),
        ("name", pa.string()),
        ("reference", pa.string()),
        ("ip_version", pa.int8()),
        ("prefix_len", pa.int32()),
        ("range_start", pa.binary()),
        ("range_end", pa.binary()),
    ]
)

_RANGES = [(cidr_range(c)[:2], c, name) for c, name, _ in SPECIAL_RANGES]

SHAREABLE_SQL = (
    "NOT EXISTS (SELECT 1 FROM own_special s WHERE {ip_bin} BETWEEN s.range_start AND s.range_end)"
)
"""SQL predicate (format ``ip_bin`` with a column expression of the caller's own relation)."""


def special_table() -> pa.Table:
    """The built-in special-purpose ranges as an Arrow table (:data:`SPECIAL_SCHEMA`)."""
    rows = []
    for cidr, name, ref in SPECIAL_RANGES:
        start, end, plen, ver = cidr_range(cidr)
        rows.append((cidr, name, ref, ver, plen, start, end))
    return pa.table(list(map(list, zip(*rows, strict=True))), schema=SPECIAL_SCHEMA)


def hides_ownership(cidr: str) -> bool:
    """Does an address inside special range ``cidr`` (an entry of :data:`SPECIAL_RANGES`) get no ASN,
    AS organisation or country? True for every special range but :data:`OWNERSHIP_KEPT`: the range is
    not routed on the Internet (private, documentation, loopback, link-local, CGNAT, benchmarking,
    reserved, ...), is multicast or broadcast, or embeds another address whose owner the prefix's row does
    not describe (NAT64, 6to4, Teredo, ORCHIDv2). Geolocation data sets carry wrong rows there."""
    return cidr not in OWNERSHIP_KEPT


def ownership_hidden(value: str) -> bool:
    """Is ``value`` an address inside a special range that hides ownership (the rule of
    :func:`unowned_sql`, for one address)? False for public addresses and non-IP values."""
    addr = parse_ip(value)
    if addr is None:
        return False
    key = ip_to_bin(addr)
    return any(lo <= key <= hi and hides_ownership(cidr) for (lo, hi), cidr, _ in _RANGES)


def unowned_sql(matches: str) -> str:
    """SELECT of the ``obs_id`` of ``matches`` (a ``<out>_matches`` relation cairn named) inside a
    special range that hides ownership (:func:`hides_ownership`). The kept ranges are constants of this
    module, written as literals."""
    kept = ", ".join("'" + c + "'" for c in OWNERSHIP_KEPT)
    return f"SELECT obs_id FROM {matches} WHERE family = 'special' AND matched NOT IN ({kept})"


def special_names(value: str) -> list[str]:
    """Names of the special ranges containing an address (empty for public or non-IP values)."""
    addr = parse_ip(value)
    if addr is None:
        return []
    key = ip_to_bin(addr)
    return [name for (lo, hi), _, name in _RANGES if lo <= key <= hi]


def special_overlaps(value: str) -> list[str]:
    """Names (sorted, distinct) of the special ranges an address or CIDR overlaps, by any part of it:
    ``10.0.0.0/7`` overlaps ``private``. Empty for public networks and non-IP values."""
    n = normalize_ip(value)
    if n.reason is not None or n.range_start is None or n.range_end is None:
        return []
    lo, hi = n.range_start, n.range_end
    return sorted({name for (start, end), _, name in _RANGES if start <= hi and lo <= end})


def is_special_domain(value: str) -> bool:
    """True for names under a special-use or internal suffix (``x.internal``, ``host.local``...)."""
    d = value.strip().lower().rstrip(".")
    return any(d == s or d.endswith("." + s) for s in SPECIAL_DOMAIN_SUFFIXES) or "." not in d


def is_shareable(value: str) -> bool:
    """May this value be sent to an outside service? False for special-purpose addresses and names.

    An address, ``ip:port`` or CIDR is not shareable when any part of it is special
    (:func:`special_overlaps`). Other values are judged by their host part: URL hosts and
    e-mail domains that are special addresses or names under internal suffixes are not
    shareable either.
    """
    v = value.strip()
    if parse_ip(v) is not None:
        return not special_names(v)
    if "://" not in v and "@" not in v and normalize_ip(v).reason is None:
        return not special_overlaps(v)
    host = v
    if "://" in v:
        host = re.split(r"[/?#]", v.split("://", 1)[1], maxsplit=1)[0].rsplit("@", 1)[-1]
        host = host[1:].split("]", 1)[0] if host.startswith("[") else host.split(":", 1)[0]
    elif "@" in v:
        host = v.rsplit("@", 1)[1]
    if host is not v and parse_ip(host) is not None:
        return not special_names(host)
    if all(c in "0123456789abcdefABCDEF" for c in v) and len(v) in (32, 40, 64, 128):
        return True
    return not is_special_domain(host)
