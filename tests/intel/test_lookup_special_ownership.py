"""Special-purpose ranges hide ASN / AS organisation / country; AWS cloud matches are listed once each.

Real bundled data (src/cairn/data/ownership): its geolocation rows give documentation ranges a country
(198.51.100.0/24 and 203.0.113.0/24: AU, 2001:db8::/32: JP), which a lookup must not report.
"""

from __future__ import annotations

from typing import Any

import pytest
from intel_support import intel_ws  # noqa: F401

from cairn.intel.api import lookup_prepared, lookup_relation, prepare
from cairn.intel.ownership.special import OWNERSHIP_KEPT, SPECIAL_RANGES, hides_ownership, ownership_hidden
from cairn.intel.ranges import cidr_range
from cairn.lake.addresses import bin_to_ip, ip_to_bin, parse_ip

DOCUMENTATION = {"198.51.100.7": "documentation (TEST-NET-2)", "203.0.113.5": "documentation (TEST-NET-3)",
                 "2001:db8::1": "documentation"}
HIDDEN = {
    "192.0.2.1": ["documentation (TEST-NET-1)"], "10.1.2.3": ["private"], "172.16.0.1": ["private"],
    "192.168.1.1": ["private"], "100.64.0.1": ["shared address space (CGNAT)"], "127.0.0.1": ["loopback"],
    "169.254.169.254": ["link-local"], "224.0.0.251": ["multicast"], "240.0.0.1": ["reserved"],
    "198.18.0.1": ["benchmarking"], "::1": ["loopback"], "fe80::1": ["link-local"], "fd00::1": ["unique local (ULA)"],
    "ff02::1": ["multicast"], "3fff::1": ["documentation"], "2001::1": ["IETF protocol assignments", "Teredo"],
    "2002:808:808::1": ["6to4"], "64:ff9b::808:808": ["IPv4-IPv6 translation"],
}
PUBLIC = {"8.8.8.8": (15169, "Google LLC", "US"), "54.247.0.5": (16509, "Amazon.com, Inc.", "IE"),
          "1.1.1.1": (13335, "Cloudflare, Inc.", "AU")}
KEPT = {"192.31.196.1": (112, "DNS-OARC", None, "AS112-v4"),
        "192.175.48.1": (112, "DNS-OARC", None, "direct delegation AS112 service"),
        "192.88.99.1": (6939, "Hurricane Electric LLC", None, "6to4 relay anycast (deprecated)")}


def _look(iw: Any, values: list[str]) -> dict[str, dict[str, Any]]:
    return {r["input"]: r for r in lookup_prepared(iw.engine, iw.ws, prepare(values)).to_pylist()}


def _own(r: dict[str, Any]) -> tuple[Any, Any, Any]:
    return r["asn"], r["as_org"], r["country"]


def test_which_special_ranges_hide_ownership() -> None:
    kept = [c for c, _, _ in SPECIAL_RANGES if not hides_ownership(c)]
    assert kept == ["192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.175.48.0/24"]
    assert set(OWNERSHIP_KEPT) == set(kept)
    names = {n for c, n, _ in SPECIAL_RANGES if hides_ownership(c)}
    assert {"private", "loopback", "link-local", "multicast", "reserved", "shared address space (CGNAT)",
            "documentation", "documentation (TEST-NET-1)", "documentation (TEST-NET-2)",
            "documentation (TEST-NET-3)", "benchmarking", "unique local (ULA)"} <= names


def test_ownership_hidden_of_one_address() -> None:
    assert [ownership_hidden(v) for v in ("198.51.100.7", "2001:db8::1", "10.0.0.1", "2001::1", "192.31.196.1",
                                           "192.88.99.1", "8.8.8.8", "2600::1", "example.com", "10.0.0.0/8")] == [
        True, True, True, True, False, False, False, False, False, False]


def test_first_and_last_address_of_every_special_range(intel_ws) -> None:  # noqa: F811
    """SQL (lookup) and Python (:func:`ownership_hidden`) agree on every range's edges; hidden means no
    ASN, AS organisation and country at all."""
    edges = {}
    for cidr, _, _ in SPECIAL_RANGES:
        start, end, _, _ = cidr_range(cidr)
        for b in (start, end):
            edges[bin_to_ip(b)] = cidr
    got = _look(intel_ws, list(edges))
    assert len(got) == len(edges) == 67  # some ranges share an edge (0.0.0.0, 2001::)
    hidden = [ip for ip in edges if ownership_hidden(ip)]
    assert len(hidden) == 59 and all(_own(got[ip]) == (None, None, None) for ip in hidden)
    assert {ip: _own(got[ip])[0] for ip in edges if not ownership_hidden(ip)} == {
        "192.31.196.0": 112, "192.31.196.255": 112, "192.52.193.0": None, "192.52.193.255": None,
        "192.88.99.0": 6939, "192.88.99.255": 6939, "192.175.48.0": 112, "192.175.48.255": 112}


def test_bundled_data_has_wrong_geo_rows_there(intel_ws) -> None:  # noqa: F811
    """The precondition of the fix: the raw ownership table does give these ranges a country."""
    got = {}
    for ip in DOCUMENTATION:
        got[ip] = intel_ws.engine.rows(
            "SELECT DISTINCT country FROM own_asn WHERE ? BETWEEN range_start AND range_end AND country IS NOT NULL",
            [ip_to_bin(parse_ip(ip))])
    assert got == {"198.51.100.7": [("AU",)], "203.0.113.5": [("AU",)], "2001:db8::1": [("JP",)]}


def test_documentation_ranges_get_no_country_or_asn(intel_ws) -> None:  # noqa: F811
    got = _look(intel_ws, list(DOCUMENTATION))
    for ip, name in DOCUMENTATION.items():
        assert _own(got[ip]) == (None, None, None), ip
        assert got[ip]["special_ranges"] == [name]
        assert got[ip]["shareable"] is False


def test_other_hiding_special_ranges(intel_ws) -> None:  # noqa: F811
    got = _look(intel_ws, list(HIDDEN))
    assert {ip: (_own(r), r["special_ranges"]) for ip, r in got.items()} == {
        ip: ((None, None, None), names) for ip, names in HIDDEN.items()}


def test_public_addresses_keep_asn_and_country(intel_ws) -> None:  # noqa: F811
    got = _look(intel_ws, [*PUBLIC, *DOCUMENTATION])  # mixed in one lookup
    assert {ip: _own(got[ip]) for ip in PUBLIC} == PUBLIC
    assert all(got[ip]["special_ranges"] == [] for ip in PUBLIC)


def test_routed_anycast_special_ranges_keep_asn(intel_ws) -> None:  # noqa: F811
    got = _look(intel_ws, list(KEPT))
    assert {ip: (*_own(r), *r["special_ranges"]) for ip, r in got.items()} == KEPT


def test_lookup_relation_hides_too(intel_ws) -> None:  # noqa: F811
    import pyarrow as pa

    values = ["198.51.100.7", "2001:db8::1", "8.8.8.8"]
    rel = pa.table({"type": ["ip"] * 3, "value": values,
                    "ip_bin": [ip_to_bin(parse_ip(v)) for v in values]})
    intel_ws.engine.register("_t_special_rel", rel)
    try:
        rows = lookup_relation(intel_ws.engine, "_t_special_rel", "_t_sp").to_pylist()
    finally:
        intel_ws.engine.unregister("_t_special_rel")
    assert {r["value"]: _own(r) for r in rows} == {
        "198.51.100.7": (None, None, None), "2001:db8::1": (None, None, None), "8.8.8.8": PUBLIC["8.8.8.8"]}


# -- cloud matches ---------------------------------------------------------------------------------------

def _cloud(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(m["provider"], m["service"], m["region"], m["cidr"]) for m in r["cloud_matches"]]


def test_aws_cloud_matches_listed_once(intel_ws) -> None:  # noqa: F811
    got = _look(intel_ws, ["54.247.241.97", "54.247.0.5"])
    assert _cloud(got["54.247.241.97"]) == [
        ("aws", "EBS", "eu-west-1", "54.247.241.96/29"),
        ("aws", "AMAZON", "eu-west-1", "54.247.0.0/16"),
        ("aws", "EC2", "eu-west-1", "54.247.0.0/16"),
    ]
    assert _cloud(got["54.247.0.5"]) == [("aws", "AMAZON", "eu-west-1", "54.247.0.0/16"),
                                         ("aws", "EC2", "eu-west-1", "54.247.0.0/16")]
    ec2 = got["54.247.0.5"]
    assert (ec2["cloud_provider"], ec2["cloud_service"], ec2["cloud_region"]) == ("aws", "EC2", "eu-west-1")
    assert got["54.247.241.97"]["cloud_service"] == "EBS"  # the /29 is more specific
    for r in got.values():
        assert all(m["source"].startswith("aws-ip-ranges ") for m in r["cloud_matches"])


@pytest.mark.parametrize("ip", ["54.247.241.97", "3.5.140.5", "52.95.110.1", "52.94.76.10"])
def test_each_cloud_match_once(intel_ws, ip: str) -> None:  # noqa: F811
    r = _look(intel_ws, [ip])[ip]
    keys = [(m["provider"], m["service"], m["cidr"], m["source"]) for m in r["cloud_matches"]]
    assert keys and len(keys) == len(set(keys)), keys
    want = intel_ws.engine.rows(
        "SELECT provider, service, cidr, source FROM own_cloud WHERE ? BETWEEN range_start AND range_end",
        [ip_to_bin(parse_ip(ip))])
    assert sorted(keys) == sorted(want)
