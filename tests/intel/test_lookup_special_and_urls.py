"""Lookups of zoned IPv6 addresses, shareability of CIDRs and URL hosts, and URL user info keeping its case."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pyarrow as pa
import pytest
from feeds_support import Store, st_fixture  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s
from intel_support import intel_ws  # noqa: F401

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel import normsql
from cairn.intel.api import lookup_prepared, prepare
from cairn.intel.model import PARSED_SCHEMA
from cairn.intel.normalize import normalize
from cairn.intel.ownership.special import SPECIAL_RANGES, is_shareable, special_overlaps

_ENGINE = DuckDBEngine()


def sql_norm(values: list[tuple[str | None, str | None]]) -> list[tuple]:
    """``(type, value, port, reason)`` of the bulk SQL path (feed loads)."""
    cols = {f.name: [None] * len(values) for f in PARSED_SCHEMA}
    cols["value"] = [v for v, _ in values]
    cols["type"] = [t for _, t in values]
    t = pa.table(cols, schema=PARSED_SCHEMA).append_column("_row", pa.array(range(len(values)), pa.int64()))
    _ENGINE.register("_p", t)
    normsql.normalize_table(_ENGINE, "_p")
    out = _ENGINE.rows("SELECT type, value, port, reason FROM _intel_norm ORDER BY _row")
    _ENGINE.unregister("_p")
    return out


# -- IPv6 zone ids --------------------------------------------------------------------------------------

ZONED = [
    ("fe80::1%eth0", "fe80::1", None),
    ("FE80::1%25Eth0", "fe80::1", None),
    ("[fe80::1%eth0]:443", "fe80::1", 443),
    ("fe80::1%eth0/64", "fe80::/64", None),
    ("fe80::1%en0.5", "fe80::1", None),
]


@pytest.mark.parametrize("text,value,port", ZONED)
def test_zone_ids_are_dropped_on_both_paths(text: str, value: str, port: int | None):
    n = normalize(text)
    assert (n.type, n.value, n.port, n.reason) == ("ip", value, port, None)
    assert sql_norm([(text, None)]) == [("ip", value, port, None)]


def test_lookup_of_a_zoned_address(intel_ws):  # noqa: F811
    rows = lookup_prepared(intel_ws.engine, intel_ws.ws, prepare(["fe80::1%eth0", "fe80::1"])).to_pylist()
    zoned, plain = rows
    assert (zoned["type"], zoned["value"], zoned["error"]) == ("ip", "fe80::1", None)
    assert zoned["special_ranges"] == plain["special_ranges"] == ["link-local"]
    assert zoned["shareable"] is False and zoned["score_id"] == plain["score_id"]


def test_cli_lookup_of_a_zoned_address(cli, tmp_path: Path):
    r = cli("--workspace", tmp_path / "ws", "--json", "lookup", "fe80::1%eth0")
    assert r.code == 0, r.err
    (row,) = r.json()
    assert (row["type"], row["value"], row["error"], row["shareable"]) == ("ip", "fe80::1", None, False)


# -- special ranges: CIDRs, URL hosts, e-mail domains -------------------------------------------------------

@pytest.mark.parametrize("value,shareable", [
    ("10.0.0.0/8", False), ("10.1.0.0/16", False), ("8.0.0.0/6", False), ("0.0.0.0/0", False), ("::/0", False),
    ("2001:db8::/48", False), ("fe80::/64", False), ("::ffff:10.0.0.0/104", False), ("100.64.0.0/9", False),
    ("8.8.8.0/24", True), ("2a00:1450::/32", True), ("11.0.0.0/8", True),
    ("10.0.0.1:80", False), ("8.8.8.8:53", True), ("[fe80::1]:443", False),
    ("http://10.0.0.1/x", False), ("http://10.0.0.1?x", False), ("http://u:p@10.0.0.1:8080/", False),
    ("http://[fe80::1]/", False), ("http://[::ffff:10.0.0.1]/", False), ("http://8.8.8.8/", True),
    ("http://db.internal/", False), ("a@[10.0.0.1]", False), ("a@8.8.8.8", True),
])
def test_is_shareable_judges_networks_and_hosts(value: str, shareable: bool):
    assert is_shareable(value) is shareable


_SPECIAL_NETS = [ipaddress.ip_network(c) for c, _, _ in SPECIAL_RANGES]
def _near(net: ipaddress.IPv4Network | ipaddress.IPv6Network, shift: int, prefix: int) -> ipaddress.IPv4Network | \
        ipaddress.IPv6Network:
    """A network of ``prefix`` bits around ``shift`` addresses off the start of ``net``."""
    top = net.max_prefixlen
    start = (int(net.network_address) + shift) % 2**top
    return ipaddress.ip_network((start, min(prefix, top)), strict=False)


def _random(bits: int, klass: type) -> s.SearchStrategy:
    return s.builds(lambda a, p: ipaddress.ip_network((klass(a), p), strict=False),
                    s.integers(0, 2**bits - 1), s.integers(0, bits))


_CIDRS = s.one_of(
    _random(32, ipaddress.IPv4Address), _random(128, ipaddress.IPv6Address),
    s.builds(_near, s.sampled_from(_SPECIAL_NETS), s.integers(-(2**20), 2**20), s.integers(0, 128)),  # edges
)


def _overlapping(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> set[str]:
    return {name for (c, name, _), sp in zip(SPECIAL_RANGES, _SPECIAL_NETS, strict=True)
            if sp.version == net.version and sp.overlaps(net)}


@settings(max_examples=400, deadline=None)
@given(_CIDRS)
def test_a_cidr_touching_a_special_range_is_never_shareable(net):
    text = str(net)
    names = _overlapping(net)
    if names:
        assert is_shareable(text) is False, (text, names)
        assert names <= set(special_overlaps(text)), text
    if net.version == 4:  # exact for IPv4 (IPv6 ranges may also hold the IPv4-mapped space)
        assert set(special_overlaps(text)) == names and is_shareable(text) is (not names)


def test_lookup_reports_the_special_ranges_a_cidr_overlaps(intel_ws):  # noqa: F811
    values = ["10.0.0.0/8", "10.1.0.0/16", "8.0.0.0/6", "8.8.8.0/24", "192.0.0.0/16", "10.0.0.1", "8.8.8.8"]
    rows = {r["input"]: r for r in lookup_prepared(intel_ws.engine, intel_ws.ws, prepare(values)).to_pylist()}
    assert rows["10.0.0.0/8"]["special_ranges"] == ["private"] and rows["10.0.0.0/8"]["shareable"] is False
    assert rows["10.1.0.0/16"]["special_ranges"] == ["private"] and rows["10.1.0.0/16"]["shareable"] is False
    assert rows["8.0.0.0/6"]["special_ranges"] == ["private"] and rows["8.0.0.0/6"]["shareable"] is False
    assert set(rows["192.0.0.0/16"]["special_ranges"]) == {"IETF protocol assignments", "documentation (TEST-NET-1)"}
    assert rows["8.8.8.0/24"]["special_ranges"] == [] and rows["8.8.8.0/24"]["shareable"] is True
    assert rows["10.0.0.1"]["special_ranges"] == ["private"] and rows["10.0.0.1"]["shareable"] is False
    assert rows["8.8.8.8"]["shareable"] is True
    for r in rows.values():
        assert r["shareable"] is is_shareable(r["value"]), r["input"]


# -- URLs: only scheme and host are case-insensitive --------------------------------------------------------

URLS = [
    ("http://User:PaSS@evil.example.com/X", "http://User:PaSS@evil.example.com/X"),
    ("HTTP://User:PaSS@EVIL.Example.COM:80/X/Y?Q=A&b=C#Frag", "http://User:PaSS@evil.example.com/X/Y?Q=A&b=C"),
    ("hxxps://Admin[@]evil[.]example/Path", "https://Admin@evil.example/Path"),
    ("http://Ünïcode@bücher.example/P", "http://Ünïcode@xn--bcher-kva.example/P"),
]


@pytest.mark.parametrize("text,value", URLS)
def test_url_keeps_the_case_of_user_info_path_and_query(text: str, value: str):
    assert normalize(text).value == value
    assert sql_norm([(text, None)]) == [("url", value, None, None)]


_CASED = s.text(alphabet="aBcDeFxYZ019-._~", min_size=1, max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.lists(s.tuples(_CASED, _CASED, s.sampled_from(["Evil.Example.COM", "evil.example.com"]), _CASED, _CASED),
               min_size=1, max_size=10))
def test_url_user_info_path_and_query_case_kept_on_both_paths(parts):
    values = [(f"HTTP://{u}:{p}@{h}/{path}?q={q}", None) for u, p, h, path, q in parts]
    wanted = [f"http://{u}:{p}@evil.example.com/{path}?q={q}" for u, p, _h, path, q in parts]
    assert [normalize(text).value for text, _ in values] == wanted
    assert sql_norm(values) == [("url", want, None, None) for want in wanted]


def test_feed_urls_and_looked_up_urls_match(st: Store, tmp_path: Path):
    f = tmp_path / "urls.txt"
    f.write_text("http://User:PaSS@evil.example.com/X?Q=A\nhxxp://evil[.]example[.]com/Gate.PHP\n")
    r = st.load(f, "urls", fmt="plain")
    assert (r.loaded, r.rejected) == (2, 0)
    assert sorted(st.q("SELECT value FROM indicators")) == [
        ("http://User:PaSS@evil.example.com/X?Q=A",), ("http://evil.example.com/Gate.PHP",)]
    looked = ["HTTP://User:PaSS@EVIL.example.com/X?Q=A", "hxxp://User:PaSS@evil[.]example.com/X?Q=A",
              "http://evil.example.com:80/Gate.PHP", "http://user:pass@evil.example.com/X?Q=A",
              "http://evil.example.com/gate.php"]
    rows = lookup_prepared(st.engine, st.ws, prepare(looked)).to_pylist()
    exact = [any(e["source"] == "urls" and e["kind"] == "feed" for e in r["evidence"]) for r in rows]
    assert exact == [True, True, True, False, False]


def test_a_cidr_looked_up_matches_the_same_listed_network(st: Store, tmp_path: Path):
    """A listed network looked up as a CIDR said "no source knows this value"."""
    f = tmp_path / "nets.txt"
    f.write_text("104.131.0.0/24\n2a03:b0c0::/32\n")
    assert st.load(f, "nets", fmt="plain").loaded == 2
    looked = ["104.131.0.0/24", "104.131.0.77/24", "2A03:B0C0::/32", "104.131.0.0/25", "104.131.0.77"]
    rows = lookup_prepared(st.engine, st.ws, prepare(looked)).to_pylist()
    kinds = [[json_detail(e)["match"] for e in r["evidence"] if e["source"] == "nets"] for r in rows]
    assert kinds == [["exact"], ["exact"], ["exact"], [], ["cidr"]]
    assert [r["score_id"] > 0 for r in rows] == [True, True, True, False, True]


def json_detail(e: dict) -> dict:
    import json
    return json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"]


def test_cli_table_prints_values_as_they_are(cli, tmp_path: Path):
    """Values are data, not markup: ``x[b]y`` lost its ``[b]`` and ``q[/x]`` crashed the table."""
    r = cli("-w", tmp_path / "ws", "lookup", "http://e.example/x[b]y", "http://e.example/q[/x]", "e[i].example")
    assert r.code == 0, r.err
    for shown in ("http://e.example/x[b]y", "http://e.example/q[/x]", "e[i].example"):
        assert shown in r.out
