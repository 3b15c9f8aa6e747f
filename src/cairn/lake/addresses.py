"""IP address classification and the binary form used for range joins.

Every address is stored twice: as canonical text (``ip``) and as 16 bytes
(``ip_bin``), big-endian, with IPv4 mapped into IPv6 (``::ffff:a.b.c.d``). Byte
order equals numeric order, so IPv4 and IPv6 ranges join the same way on any
engine (DuckDB, Spark, Trino compare binary values byte by byte), and no
128-bit integer has to survive Arrow or Spark.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import pyarrow as pa

AWS_INTERNAL = "AWS Internal"
_PADDED_V4 = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")

IP_MAP_SCHEMA = pa.schema(
    [
        ("value", pa.string()),
        ("kind", pa.string()),
        ("ip", pa.string()),
        ("ip_bin", pa.binary()),
        ("domain", pa.string()),
    ]
)


def ip_to_bin(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """16-byte big-endian form; IPv4 becomes ::ffff:a.b.c.d."""
    if addr.version == 4:
        return b"\x00" * 10 + b"\xff\xff" + addr.packed
    return addr.packed


def bin_to_ip(value: bytes) -> str:
    """Inverse of :func:`ip_to_bin`, giving canonical text."""
    addr = ipaddress.IPv6Address(value)
    mapped = addr.ipv4_mapped
    return str(mapped) if mapped else str(addr)


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse an address; IPv4-mapped IPv6 becomes IPv4; brackets and zone ids are dropped;
    zero-padded IPv4 octets are read as decimal."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    t = t.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(t)
    except ValueError:
        # Zero-padded dotted decimal ("10.0.0.07"), as some exports and anonymisers write it.
        octets = [int(p) for p in t.split(".")] if _PADDED_V4.match(t) else []
        if not octets or max(octets) > 255:
            return None
        addr = ipaddress.IPv4Address(".".join(map(str, octets)))
    if addr.version == 6 and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def classify(value: str | None) -> tuple[str, str | None, bytes | None, str | None]:
    """Classify a source-address field: ``(kind, ip, ip_bin, domain)``.

    kind is ``ip``, ``service`` (an AWS service principal such as
    ``ec2.amazonaws.com``), ``aws_internal``, ``hostname`` (another DNS name),
    ``empty`` or ``other``.
    """
    if value is None or not value.strip():
        return ("empty", None, None, None)
    addr = parse_ip(value)
    if addr is not None:
        return ("ip", str(addr), ip_to_bin(addr), None)
    v = value.strip()
    if v.lower() == AWS_INTERNAL.lower():
        return ("aws_internal", None, None, None)
    low = v.lower().rstrip(".")
    if _looks_like_hostname(low):
        if low.endswith((".amazonaws.com", ".amazonaws.com.cn")) or low in _AWS_SERVICE_NAMES:
            return ("service", None, None, low)
        return ("hostname", None, None, low)
    return ("other", None, None, None)


_AWS_SERVICE_NAMES = {"aws internal", "internal"}


def _looks_like_hostname(v: str) -> bool:
    if "." not in v or len(v) > 253 or v.rsplit(".", 1)[1].isdigit():
        return False
    return all(
        part and len(part) <= 63 and all(c.isalnum() or c in "-_" for c in part)
        for part in v.split(".")
    )


def ip_map(values: Iterable[str | None]) -> pa.Table:
    """Classify distinct values into an Arrow table (see :data:`IP_MAP_SCHEMA`)."""
    rows: dict[str, tuple[str, str | None, bytes | None, str | None]] = {}
    for v in values:
        if v is not None and v not in rows:
            rows[v] = classify(v)
    keys = list(rows)
    cols = list(zip(*rows.values(), strict=True)) if rows else [[], [], [], []]
    return pa.table(
        [pa.array(keys, pa.string())] + [pa.array(list(c), t.type) for c, t in zip(cols, list(IP_MAP_SCHEMA)[1:], strict=True)],
        schema=IP_MAP_SCHEMA,
    )
