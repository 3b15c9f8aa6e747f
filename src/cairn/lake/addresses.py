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
import socket
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

AWS_INTERNAL = "AWS Internal"
_PADDED_V4 = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
"""A dotted-quad IPv4 address without leading zeros (unanchored: also for IPv4 embedded in IPv6 text)."""
PLAIN_V4 = f"^{IPV4_RE}$"
"""A dotted IPv4 address that :mod:`ipaddress` accepts as it is (no leading zeros): its own canonical text."""
_H = "[0-9A-Fa-f]{1,4}"
_V4_PADDED = r"((25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
_V6 = "|".join((  # RFC 4291 text forms, an embedded IPv4 tail included
    rf"({_H}:){{7}}{_H}", rf"({_H}:){{1,7}}:", rf"({_H}:){{1,6}}:{_H}", rf"({_H}:){{1,5}}(:{_H}){{1,2}}",
    rf"({_H}:){{1,4}}(:{_H}){{1,3}}", rf"({_H}:){{1,3}}(:{_H}){{1,4}}", rf"({_H}:){{1,2}}(:{_H}){{1,5}}",
    rf"{_H}:(:{_H}){{1,6}}", rf":((:{_H}){{1,7}}|:)", rf"({_H}:){{6}}{_V4_PADDED}",
    rf"({_H}:){{0,5}}:({_H}:){{0,5}}{_V4_PADDED}", rf"::({_H}:){{0,5}}{_V4_PADDED}"))
ADDRESS_RE = rf"{_V4_PADDED}|{_V6}"
"""A log field that is an address (for a full match in SQL): dotted IPv4 with octets up to 255 (leading
zeros allowed, read as decimal as :func:`classify` does) or IPv6 text. Fields that do not match are
quarantined by the sources that check them rather than stored as null."""
_V6_CHARS = frozenset("0123456789abcdefABCDEF:")
_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"

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


def plain_v4_bins(texts: pa.Array) -> pa.Array:
    """The 16-byte forms of texts that all match :data:`PLAIN_V4` (vectorised)."""
    n = len(texts)
    octets = pc.list_flatten(pc.split_pattern(texts, ".")).cast(pa.uint8()).to_numpy(zero_copy_only=False)
    keys = np.zeros((n, 16), dtype=np.uint8)
    keys[:, 10:12] = 0xFF
    keys[:, 12:] = octets.reshape(n, 4)
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(keys.tobytes())])
    return fixed.cast(pa.binary())


def plain_v4_table(texts: pa.Array, schema: pa.Schema) -> pa.Table:
    """Rows ``(text, 'ip', text, 16 bytes, NULL)`` in ``schema`` (:data:`IP_MAP_SCHEMA` or a lookup input
    schema: those columns in that order) of texts that all match :data:`PLAIN_V4`."""
    n = len(texts)
    return pa.table([texts, pa.array(["ip"] * n, pa.string()), texts, plain_v4_bins(texts),
                     pa.nulls(n, pa.string())], schema=schema)


def plain_v6(text: str) -> tuple[str, bytes] | None:
    """``(canonical text, 16 bytes)`` of a plain IPv6 address (hex digits and colons), by the C
    library's ``inet_pton`` / ``inet_ntop`` (the same RFC 5952 text as :mod:`ipaddress`); None for
    anything else, IPv4-mapped and IPv4-compatible forms included (callers take the general path)."""
    if not 2 <= len(text) <= 39 or not _V6_CHARS.issuperset(text):
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return None
    if packed[:12] == _MAPPED_PREFIX:
        return None
    canonical = socket.inet_ntop(socket.AF_INET6, packed)
    return None if "." in canonical else (canonical, packed)


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
    """Classify distinct values into an Arrow table (see :data:`IP_MAP_SCHEMA`): :func:`classify`'s
    answers, with plain IPv4 addresses done by Arrow compute and plain IPv6 ones by :func:`plain_v6`."""
    keys = pa.array(list(dict.fromkeys(v for v in values if v is not None)), pa.string())
    fast = pc.fill_null(pc.match_substring_regex(keys, PLAIN_V4), False)
    parts = [plain_v4_table(keys.filter(fast), IP_MAP_SCHEMA)]
    rest = keys.filter(pc.invert(fast)).to_pylist()
    if rest:
        rows = []
        for v in rest:
            six = plain_v6(v)
            rows.append(("ip", six[0], six[1], None) if six else classify(v))
        cols = list(zip(*rows, strict=True))
        parts.append(pa.table([pa.array(rest, pa.string())] + [pa.array(list(c), t.type) for c, t in zip(
            cols, list(IP_MAP_SCHEMA)[1:], strict=True)], schema=IP_MAP_SCHEMA))
    return pa.concat_tables(parts)
