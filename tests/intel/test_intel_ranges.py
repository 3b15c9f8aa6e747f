"""The segment index against a slow, obviously correct matcher (Hypothesis, IPv4 and IPv6)."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.ranges import (
    bin_of,
    build_index,
    cidr_range,
    match_blob_sql,
    match_sql,
    segments_sql,
    split_probes,
)
from cairn.lake.addresses import bin_to_ip


def _span(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    """The network in the 128-bit space of the 16-byte keys (IPv4 at ::ffff:0:0/96)."""
    base = 0xFFFF00000000 if net.version == 4 else 0
    return base + int(net.network_address), base + int(net.broadcast_address)


def reference(ranges: list[tuple[str, str]], ips: list[str]) -> set[tuple[str, str, str, bool]]:
    """Every (ip, family, network, most_specific) by brute force with ipaddress.

    Matching happens in the 16-byte key space, where IPv4 lives at ::ffff:0:0/96: an IPv6
    range covering that block (::/64, ::/0) covers IPv4 addresses too.
    """
    out = set()
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        if addr.version == 6 and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        key = (0xFFFF00000000 if addr.version == 4 else 0) + int(addr)
        nets = [(fam, ipaddress.ip_network(c, strict=False)) for fam, c in ranges]
        hits = [(f, n) for f, n in nets if _span(n)[0] <= key <= _span(n)[1]]
        for fam in {f for f, _ in hits}:
            best = max(n.prefixlen for f, n in hits if f == fam)
            for f, n in hits:
                if f == fam:
                    out.add((str(addr), f, str(n.network_address), n.prefixlen == best))
    return out


def engine_matches(ranges: list[tuple[str, str]], ips: list[str]) -> set[tuple[str, str, str, bool]]:
    e = DuckDBEngine()
    rows = [(f, *cidr_range(c)[:3]) for f, c in ranges]
    e.register("src", pa.table({"family": [r[0] for r in rows], "range_start": [r[1] for r in rows],
                                "range_end": [r[2] for r in rows], "prefix_len": [r[3] for r in rows]}))
    build_index(e, "src")
    e.register("p", pa.table({"ip_bin": sorted({bin_of(i) for i in ips})}))
    got = {(bin_to_ip(r[0]), r[1], bin_to_ip(r[2]), r[5]) for r in e.rows(match_sql("p"))}
    e.close()
    return got


def _net(version: int):
    bits = 32 if version == 4 else 128
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    # Addresses drawn near a few anchors so that ranges overlap and nest often.
    anchors = [0, 1 << (bits - 1), (1 << bits) - (1 << (bits // 2))]
    return st.tuples(st.sampled_from(anchors), st.integers(0, (1 << (bits // 2)) - 1),
                     st.integers(bits // 2, bits)).map(
        lambda t: str(cls(((t[0] + t[1]) >> (bits - t[2]) << (bits - t[2]), t[2]))))


ranges_st = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.one_of(_net(4), _net(6))), min_size=1,
                     max_size=25)


def probes(ranges: list[tuple[str, str]], extra: list[int]) -> list[str]:
    """First and last address of each range, one before and one after, plus random ones."""
    out = set()
    for _, c in ranges:
        n = ipaddress.ip_network(c)
        top = (1 << n.max_prefixlen) - 1
        for v in (int(n.network_address) - 1, int(n.network_address), int(n.broadcast_address),
                  int(n.broadcast_address) + 1):
            if 0 <= v <= top:
                out.add(str(ipaddress.ip_address(v) if n.version == 6 or v > 0xFFFFFFFF
                            else ipaddress.IPv4Address(v)))
    for v in extra:
        out.add(str(ipaddress.IPv4Address(v & 0xFFFFFFFF)))
        out.add(str(ipaddress.IPv6Address(v)))
    return sorted(out)


@settings(max_examples=40, deadline=None)
@given(ranges_st, st.lists(st.integers(0, (1 << 128) - 1), max_size=5))
def test_index_matches_reference(ranges, extra):
    ips = probes(ranges, extra)
    assert engine_matches(ranges, ips) == reference(ranges, ips)


def test_nested_and_boundaries():
    ranges = [("a", "10.0.0.0/8"), ("a", "10.1.0.0/16"), ("a", "10.1.2.0/24"), ("b", "10.1.0.0/16"),
              ("a", "0.0.0.0/0"), ("a", "255.255.255.255/32"), ("c", "::/0"), ("c", "2001:db8::/32")]
    ips = ["10.1.2.3", "10.0.255.255", "10.2.0.0", "11.0.0.0", "255.255.255.255", "0.0.0.0",
           "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", "::", "::ffff:ffff"]
    assert engine_matches(ranges, ips) == reference(ranges, ips)


def test_cidr_range_forms():
    start, end, plen, ver = cidr_range("10.1.2.3/8")
    assert bin_to_ip(start) == "10.0.0.0" and bin_to_ip(end) == "10.255.255.255" and (plen, ver) == (8, 4)
    assert cidr_range("::ffff:1.2.3.0/120")[2:] == (24, 4)
    assert cidr_range("2001:db8::/32")[2:] == (32, 6)


# -- the fast path (integer keys) against the BLOB path -----------------------------------------

_V4 = 0xFFFF << 32  # ::ffff:0.0.0.0
# Anchors on both sides of the IPv4 block and of the 128-bit space, where the keyed tables split.
_ANCHORS = [0, _V4 - (1 << 20), _V4, _V4 + (1 << 31), _V4 + (1 << 32) - (1 << 12), _V4 + (1 << 32),
            1 << 127, (1 << 128) - (1 << 20)]


def _anchored_net():
    return st.tuples(st.sampled_from(_ANCHORS), st.integers(-(1 << 16), 1 << 16), st.integers(40, 128)).map(
        lambda t: ipaddress.IPv6Network((max(0, min((1 << 128) - 1, t[0] + t[1])) >> (128 - t[2]) << (128 - t[2]),
                                         t[2])))


def _both(nets: list[tuple[str, ipaddress.IPv6Network | tuple[int, int]]], keys: list[int]) -> tuple[list, list]:
    """(fast path rows, BLOB path rows); a range is a network or an arbitrary (first, last) pair."""
    e = DuckDBEngine()
    rows = [(f, n.network_address.packed, n.broadcast_address.packed, n.prefixlen)
            if isinstance(n, ipaddress.IPv6Network) else (f, n[0].to_bytes(16, "big"), n[1].to_bytes(16, "big"), 0)
            for f, n in nets]
    e.register("src", pa.table({"family": [r[0] for r in rows], "range_start": [r[1] for r in rows],
                                "range_end": [r[2] for r in rows], "prefix_len": [r[3] for r in rows]}))
    build_index(e, "src")
    e.register("p", pa.table({"ip_bin": pa.array([k.to_bytes(16, "big") for k in sorted(set(keys))], pa.binary())}))
    e.register("p_dup", pa.table({"ip_bin": pa.array([k.to_bytes(16, "big") for k in keys * 2], pa.binary())}))
    order = " ORDER BY ALL"
    fast = e.rows(match_sql("p") + order)
    assert e.rows(match_sql("p_dup", distinct=True) + order) == fast
    blob = e.rows(match_blob_sql("p") + order)
    # run_lookup's path: probes split once into keyed tables (a carried column), ASOF per part, cover join
    split_probes(e, "p_dup", "ip_bin", "_s")
    seg = e.rows(f"SELECT DISTINCT s.ip_bin, c.family, c.range_start, c.range_end, c.prefix_len, c.most_specific "
                 f"FROM ({segments_sql('_s', 'ip_bin')}) s JOIN _cairn_ipx_cover c USING (seg_id)" + order)
    assert seg == fast
    e.close()
    return fast, blob


def _anchored_pair():
    """An arbitrary (first, last) range near the anchors (ASN ranges are not CIDR-aligned)."""
    edge = st.tuples(st.sampled_from(_ANCHORS), st.integers(-(1 << 12), 1 << 12)).map(
        lambda t: max(0, min((1 << 128) - 1, t[0] + t[1])))
    return st.tuples(edge, edge).map(lambda t: (min(t), max(t)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.one_of(_anchored_net(), _anchored_pair())),
                min_size=1, max_size=20),
       st.lists(st.integers(0, (1 << 128) - 1), max_size=5))
def test_fast_path_equals_blob_path(nets, extra):
    keys = set(extra) | {a for a in _ANCHORS} | {a - 1 for a in _ANCHORS if a} | {(1 << 128) - 1}
    for _, n in nets:
        lo, hi = (int(n.network_address), int(n.broadcast_address)) if isinstance(n, ipaddress.IPv6Network) else n
        keys |= {k for k in (lo - 1, lo, hi, hi + 1) if 0 <= k < 1 << 128}
    fast, blob = _both(nets, sorted(keys))
    assert fast == blob


def test_fast_path_block_edges():
    nets = [("a", ipaddress.IPv6Network("::/0")), ("b", ipaddress.IPv6Network("::ffff:0:0/96")),
            ("b", ipaddress.IPv6Network("::ffff:255.255.255.0/120")), ("c", ipaddress.IPv6Network("::fffe:0:0/95")),
            ("c", ipaddress.IPv6Network("::1:0:0:0/112"))]
    keys = [0, _V4 - 1, _V4, _V4 + 1, _V4 + (1 << 32) - 1, _V4 + (1 << 32), (1 << 128) - 1]
    fast, blob = _both(nets, keys)
    assert fast == blob and len({r[0] for r in fast}) == len(keys)
    # ranges (ASN tables are not CIDR-aligned) across either end of the IPv4 block, no cut at the ends
    top = _V4 + (1 << 32)
    nets = [("a", (_V4 - 100, _V4 + 100)), ("b", (top - 100, top + 100)), ("c", (_V4 - 50, _V4 + 50))]
    keys = [_V4 - 100, _V4 - 1, _V4, _V4 + 7, _V4 + 50, _V4 + 51, top - 1, top, top + 7, top + 101]
    fast, blob = _both(nets, keys)
    assert fast == blob and len({r[0] for r in fast}) == len(keys) - 1
    # no range at all below the first probe: nothing matches, on either path
    fast, blob = _both([("a", ipaddress.IPv6Network("2001:db8::/32"))], [0, _V4 + 5, (1 << 128) - 1])
    assert fast == blob == []
