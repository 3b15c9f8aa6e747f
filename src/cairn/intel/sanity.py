"""Sanity checks on IP indicators before they are stored (issue 3, 5b).

A feed that lists ``0.0.0.0/0``, a whole /4, or RFC 1918 space would turn every
internal flow into a "threat intel hit". These checks refuse such entries, each
with a reason, and the load report counts them per reason:

- the whole address space (``0.0.0.0/0``, ``::/0``);
- CIDRs broader than ``max_prefix_v4`` (default /8) or ``max_prefix_v6`` (default /32);
- private and special-purpose ranges (:data:`SPECIAL_RANGES`, from the IANA IPv4 and IPv6
  special-purpose address registries) unless the source is marked ``internal = true``. An
  indicator is refused when it *overlaps* such a range, so ``172.0.0.0/8`` (which contains
  172.16.0.0/12) is refused as well as ``10.1.2.3``.

Empty values are refused earlier, by normalisation.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from dataclasses import dataclass

from cairn.lake.addresses import ip_to_bin

# (network, name) - the ranges a public threat feed has no business listing.
SPECIAL_RANGES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (RFC 791)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space / CGNAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved and broadcast (RFC 1112, RFC 919)"),
    ("::/128", "unspecified (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("fec0::/10", "site-local, deprecated (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)

_RANGES = sorted(
    (ip_to_bin(n.network_address), ip_to_bin(n.broadcast_address), str(n), name)
    for n, name in ((ipaddress.ip_network(c), name) for c, name in SPECIAL_RANGES)
)
_STARTS = [r[0] for r in _RANGES]
assert all(a[1] < b[0] for a, b in itertools.pairwise(_RANGES)), "ranges must be disjoint"


def _overlap(start: bytes, end: bytes) -> tuple[bytes, bytes, str, str] | None:
    """The special range overlapping [start, end], if any. The ranges are disjoint and sorted,
    so the last one starting at or before ``end`` is the only candidate."""
    i = bisect.bisect_right(_STARTS, end) - 1
    return _RANGES[i] if i >= 0 and _RANGES[i][1] >= start else None


@dataclass(frozen=True)
class SanityPolicy:
    """What a source is allowed to list."""

    internal: bool = False
    """The source lists the organisation's own (private) addresses: skip the special-range check."""
    max_prefix_v4: int = 8
    """Refuse IPv4 CIDRs with a shorter prefix (broader) than this."""
    max_prefix_v6: int = 32
    """Refuse IPv6 CIDRs with a shorter prefix than this."""


def check_ip(
    version: int, prefix_len: int, start: bytes, end: bytes, policy: SanityPolicy
) -> str | None:
    """Reason to refuse an IP indicator, or None."""
    if prefix_len == 0:
        return "whole address space (0.0.0.0/0 or ::/0)"
    limit = policy.max_prefix_v4 if version == 4 else policy.max_prefix_v6
    if prefix_len < limit:
        return f"CIDR broader than /{limit} (IPv{version})"
    if not policy.internal:
        hit = _overlap(start, end)
        if hit:
            return f"special-purpose range {hit[2]}: {hit[3]}"
    return None


def special_range(value: str) -> str | None:
    """Name of the special-purpose range an address or CIDR overlaps, or None (for docs and tests)."""
    net = ipaddress.ip_network(value, strict=False)
    hit = _overlap(ip_to_bin(net.network_address), ip_to_bin(net.broadcast_address))
    return f"{hit[2]}: {hit[3]}" if hit else None
