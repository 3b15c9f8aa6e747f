"""The bulk lookup inputs equal the value-by-value normaliser, and the bulk ``shareable`` equals ``is_shareable``."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from intel_support import intel_ws  # noqa: F401

from cairn.intel import normalize as norm
from cairn.intel.api import lookup_prepared, prepare
from cairn.intel.lookup_values import prepare_values
from cairn.intel.ownership.special import is_shareable
from cairn.lake.addresses import PLAIN_V4, plain_v6

TRICKY = [
    "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "1.2.3.4:80",
    "1.2.3.4/24", "1.2.3.0/24", "1[.]2[.]3[.]4", " 1.2.3.4 ", "1.2.3.4\n", "١.٢.٣.٤", "1.2.3.4 ", "10.0.0.07",
    "::", "::1", "1::", "2001:db8::1", "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0:1:0:0:1",
    "2001:db8::0:1", "1:0:0:2:0:0:0:3", "0:0:1:0:0:1:0:0", "::ffff:1.2.3.4", "::ffff:102:304", "::1.2.3.4", "::102:304",
    "::0.0.0.2", "64:ff9b::1.2.3.4", "fe80::1%eth0", "[2001:db8::1]", "[2001:db8::1]:443", "2001:db8::/32",
    "2001:db8::1/128", "00000::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
    ":::", "1::2::3", "abcd", "ab:cd", "a:b", "12345::", "ffff::", "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF",
    "evil.example.com", "EVIL.example.COM.", "hxxp://evil[.]example/x", "http://10.0.0.5/x", "a@corp.internal",
    "d41d8cd98f00b204e9800998ecf8427e", "D41D8CD98F00B204E9800998ECF8427E", "not a value", "x", "", "   ", None,
    "1.2.3.4", "2001:db8::1",  # repeats
]


def reference(values: list[str | None]) -> list[tuple]:
    """The value-by-value path: ``normalize`` on every non-blank value."""
    rows = []
    for raw in values:
        if raw is None or not raw.strip():
            continue
        n = norm.normalize(raw)
        if n.value is None:
            rows.append((raw, n.type, None, None, n.reason))
        else:
            ip_bin = n.range_start if n.type == "ip" and n.range_start == n.range_end else None
            rows.append((raw, n.type, n.value, ip_bin, None))
    return rows


def bulk(values: list[str | None]) -> list[tuple]:
    t = prepare_values(values)
    return list(zip(*(t[c].to_pylist() for c in t.schema.names), strict=True))


def test_tricky_values_equal_the_reference():
    assert bulk(TRICKY) == reference(TRICKY)


def test_plain_v6_fast_path_and_its_exits():
    assert plain_v6("2001:0DB8::0001") == ("2001:db8::1", ipaddress.IPv6Address("2001:db8::1").packed)
    assert plain_v6("1:0:0:2:0:0:0:3") == ("1:0:0:2::3", ipaddress.IPv6Address("1::2:0:0:0:3").packed)
    # mapped, IPv4-compatible (the C library prints dots), dotted, zoned and invalid texts take the general path
    for text in ("::ffff:102:304", "::102:304", "::1.2.3.4", "fe80::1%eth0", "1::2::3", "12345::", "ab"):
        assert plain_v6(text) is None, text


def test_order_kept_with_fast_and_general_values_interleaved():
    values = ["a.example.com", "1.2.3.4", None, "::1", "5.6.7.8", "", "b.example.com", "9.9.9.9"]
    assert [r[0] for r in bulk(values)] == ["a.example.com", "1.2.3.4", "::1", "5.6.7.8", "b.example.com", "9.9.9.9"]
    assert bulk(values) == reference(values)
    assert bulk([]) == [] and bulk(["1.2.3.4"]) == reference(["1.2.3.4"]) and bulk(["x.com"]) == reference(["x.com"])


def test_plain_v4_pattern_is_what_ipaddress_accepts():
    import re
    for text in ["0.0.0.0", "9.99.199.249", "250.251.252.255", "1.2.3.256", "1.2.3.00", "1.2.3.-1", "1.2.3.4a"]:
        try:
            ok = str(ipaddress.IPv4Address(text)) == text
        except ValueError:
            ok = False
        assert bool(re.match(PLAIN_V4, text)) is ok, text


_v6_texts = st.integers(0, 2**128 - 1).flatmap(lambda k: st.sampled_from([
    str(ipaddress.IPv6Address(k)), ipaddress.IPv6Address(k).exploded, ipaddress.IPv6Address(k).exploded.upper(),
    str(ipaddress.IPv6Address(k)).upper()]))
_sparse_v6 = st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x1234]), min_size=8, max_size=8).map(
    lambda hs: str(ipaddress.IPv6Address(int("".join(f"{h:04x}" for h in hs), 16))))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_v6_texts, _sparse_v6, st.integers(0, 2**32 - 1).map(lambda k: str(ipaddress.IPv4Address(k))),
                          st.text(alphabet="0123456789abcdef:.[]/%", max_size=20)), max_size=30))
def test_random_addresses_equal_the_reference(values):
    assert bulk(values) == reference(values)


def test_shareable_equals_is_shareable(intel_ws):  # noqa: F811
    values = ["8.8.8.8", "10.0.0.1", "100.64.0.1", "192.0.2.1", "198.18.0.1", "::1", "fe80::1", "fd00::1",
              "2001:db8::1", "2a00:1450::1", "::ffff:10.0.0.1", "10.0.0.0/8", "8.8.8.0/24", "db.internal",
              "printer.local", "http://10.0.0.5/x", "http://evil.example.com/", "evil.com", "a@corp.internal",
              "d41d8cd98f00b204e9800998ecf8427e", "not a value", "8.8.8.8"]
    rows = lookup_prepared(intel_ws.engine, intel_ws.ws, prepare(values)).to_pylist()
    assert [r["input"] for r in rows] == values
    for r in rows:
        want = is_shareable(r["value"]) if r["value"] is not None else None
        assert r["shareable"] is want, r["input"]
    assert [r["input"] for r in rows if r["error"]] == ["not a value"]
