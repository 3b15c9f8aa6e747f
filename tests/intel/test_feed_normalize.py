"""Normalisation: canonical forms, reasons, and the SQL bulk path agreeing with Python."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel import normsql
from cairn.intel.model import PARSED_SCHEMA
from cairn.intel.normalize import defang, normalize, normalize_ip, refang
from cairn.intel.sanity import SanityPolicy, check_ip, special_range

# (value, declared type, expected type, expected value, expected port, expected reason)
CASES = [
    ("hxxps://Evil[.]Example.COM:443/a?b#frag", None, "url", "https://evil.example.com/a?b", None, None),
    ("hXXp[:]//evil[.]example/x", None, "url", "http://evil.example/x", None, None),
    ("fxp://files(.)evil{.}example/p", None, "url", "ftp://files.evil.example/p", None, None),
    ("user[@]evil[dot]example", None, "email", "user@evil.example", None, None),
    ("evil.example/gate.php", "url", "url", "http://evil.example/gate.php", None, None),
    ("evil.example", "url", "url", "http://evil.example/", None, None),
    ("http://BÜCHER.example:8080", None, "url", "http://xn--bcher-kva.example:8080/", None, None),
    ("/w00tw00t.at.ISC.SANS", "url", "url", None, None, "URL path without host (cannot be matched)"),
    ("EVIL.Example.", None, "domain", "evil.example", None, None),
    ("bücher.example", None, "domain", "xn--bcher-kva.example", None, None),
    ("evil.example:8443", "domain", "domain", "evil.example", 8443, None),
    ("*.evil.example", None, "domain", None, None, "wildcard or regular expression, not a literal name"),
    ("localhost", None, "domain", None, None, "not a fully qualified domain name (no dot)"),
    ("c91.196.152.28", "domain", "domain", None, None, "last label is numeric (not a domain name)"),
    ("1.2.3.4", "domain", "ip", "1.2.3.4", None, None),
    ("1.2.3.4:8080", None, "ip", "1.2.3.4", 8080, None),
    ("1.2.3.4:99999", None, "ip", None, None, "port 99999 out of range"),
    ("[2001:DB8::1]:443", None, "ip", "2001:db8::1", 443, None),
    ("::ffff:198.51.100.7", None, "ip", "198.51.100.7", None, None),
    ("::ffff:198.51.100.0/120", None, "ip", "198.51.100.0/24", None, None),
    ("10.1.2.3/8", None, "ip", "10.0.0.0/8", None, None),
    ("1.2.3.4/32", None, "ip", "1.2.3.4", None, None),
    ("2001:db8::/32", None, "ip", "2001:db8::/32", None, None),
    ("010.1.1.1", None, "ip", None, None, "not a valid IP address or network"),
    ("1.2.3.256", None, "ip", None, None, "not a valid IP address or network"),
    ("D41D8CD98F00B204E9800998ECF8427E", None, "hash", "d41d8cd98f00b204e9800998ecf8427e", None, None),
    ("abc", "hash", "hash", None, None,
     "hash length 3 matches no supported algorithm (md5 32, sha1 40, sha256 64, sha512 128)"),
    ("z" * 32, "hash", "hash", None, None, "hash is not hexadecimal"),
    ("D41D8CD98F00B204E9800998ECF8427E", "md5", "hash", "d41d8cd98f00b204e9800998ecf8427e", None, None),
    ("a" * 64, "SHA256", "hash", "a" * 64, None, None),
    ("a" * 40, "sha256", "hash", None, None, "declared sha256 (64 hex digits) but the value has 40 (sha1)"),
    ("a" * 32, "sha512", "hash", None, None, "declared sha512 (128 hex digits) but the value has 32 (md5)"),
    ("abc", "sha1", "hash", None, None,
     "hash length 3 matches no supported algorithm (md5 32, sha1 40, sha256 64, sha512 128)"),
    ("  \t ", None, "domain", None, None, "empty value"),
    (None, "ip", "ip", None, None, "empty value"),
    ("a@b", "email", "email", None, None, "e-mail domain: not a fully qualified domain name (no dot)"),
    ("no-at-sign", "email", "email", None, None, "not a valid e-mail address"),
]


@pytest.mark.parametrize(("value", "declared", "typ", "canon", "port", "reason"), CASES)
def test_normalize_cases(value, declared, typ, canon, port, reason):
    n = normalize(value, declared)
    assert (n.type, n.value, n.port, n.reason) == (typ, canon, port, reason)


def test_hash_types_by_length():
    for n, name in ((32, "md5"), (40, "sha1"), (64, "sha256"), (128, "sha512")):
        assert normalize("A" * n).hash_type == name


def test_cidr_with_host_bits_is_canonicalised_and_noted():
    n = normalize_ip("192.0.2.77/24")
    assert (n.value, n.prefix_len, n.note) == ("192.0.2.0/24", 24, "cidr_host_bits_cleared")
    assert n.range_start == b"\x00" * 10 + b"\xff\xff" + bytes([192, 0, 2, 0])
    assert n.range_end == b"\x00" * 10 + b"\xff\xff" + bytes([192, 0, 2, 255])


def _sql(values: list[tuple[str | None, str | None]]) -> list[tuple]:
    cols = {f.name: [None] * len(values) for f in PARSED_SCHEMA}
    cols["value"] = [v for v, _ in values]
    cols["type"] = [t for _, t in values]
    t = pa.table(cols, schema=PARSED_SCHEMA).append_column("_row", pa.array(range(len(values)), pa.int64()))
    e = _ENGINE
    e.register("_p", t)
    normsql.normalize_table(e, "_p")
    out = e.rows("SELECT type, value, port, reason, hash_type, prefix_len FROM _intel_norm ORDER BY _row")
    e.unregister("_p")
    return out


_ENGINE = DuckDBEngine()


def test_sql_path_agrees_with_python_on_the_case_table():
    got = _sql([(c[0], c[1]) for c in CASES])
    for (value, declared, *_), row in zip(CASES, got, strict=True):
        n = normalize(value, declared)
        assert row[1:] == (n.value, n.port, n.reason, n.hash_type, n.prefix_len), value
        if n.value is not None:
            assert row[0] == n.type


_LABEL = s.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_DOMAIN = s.builds(lambda labels, tld: ".".join([*labels, tld]), s.lists(_LABEL, min_size=1, max_size=3),
                   s.sampled_from(["com", "example", "org", "xn--p1ai"]))
_URL = s.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}", s.sampled_from(["http", "https", "ftp"]),
                _DOMAIN, s.text("abcdefghij0123456789/._-?=&", max_size=20))


@given(s.one_of(_DOMAIN, _URL, s.builds(lambda u, d: f"{u}@{d}", _LABEL, _DOMAIN)))
def test_refang_undoes_defang(value):
    assert refang(defang(value)) == value
    assert normalize(defang(value)).value == normalize(value).value


_V4 = s.builds(lambda a, p: f"{ipaddress.IPv4Address(a)}/{p}", s.integers(0, 2**32 - 1), s.integers(0, 32))
_V6 = s.builds(lambda a, p: f"{ipaddress.IPv6Address(a)}/{p}", s.integers(0, 2**128 - 1), s.integers(0, 128))


@given(s.one_of(_V4, _V6))
def test_canonical_cidr_is_idempotent_and_keeps_the_addresses(text):
    n = normalize_ip(text)
    again = normalize_ip(n.value)
    assert again.value == n.value and again.range_start == n.range_start and again.range_end == n.range_end
    net = ipaddress.ip_network(text, strict=False)
    if net.version == 6 and net.prefixlen >= 96 and net.network_address.ipv4_mapped:
        net = ipaddress.IPv4Network((net.network_address.ipv4_mapped, net.prefixlen - 96))
    assert ipaddress.ip_network(n.value) == net


_JUNK = s.text(alphabet="aZ09.-_:/@[](){}*?#% \tüßİ", max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.lists(s.tuples(s.one_of(_JUNK, _DOMAIN, _URL, _V4), s.sampled_from([None, "domain", "url", "ip", "email",
                                                                                "hash"])), min_size=1, max_size=20))
def test_sql_path_agrees_with_python_on_random_values(values):
    for (value, declared), row in zip(values, _sql(values), strict=True):
        n = normalize(value, declared)
        assert row[1:4] == (n.value, n.port, n.reason), (value, declared)


SANITY = [
    ("0.0.0.0/0", SanityPolicy(), "whole address space (0.0.0.0/0 or ::/0)"),
    ("::/0", SanityPolicy(), "whole address space (0.0.0.0/0 or ::/0)"),
    ("8.0.0.0/7", SanityPolicy(), "CIDR broader than /8 (IPv4)"),
    ("8.0.0.0/7", SanityPolicy(max_prefix_v4=4), None),
    ("2a00::/16", SanityPolicy(), "CIDR broader than /32 (IPv6)"),
    ("10.1.2.3", SanityPolicy(), "special-purpose range 10.0.0.0/8: private (RFC 1918)"),
    ("10.1.2.3", SanityPolicy(internal=True), None),
    ("100.64.1.1", SanityPolicy(), "special-purpose range 100.64.0.0/10: shared address space / CGNAT (RFC 6598)"),
    ("172.0.0.0/8", SanityPolicy(), "special-purpose range 172.16.0.0/12: private (RFC 1918)"),
    ("127.0.0.1", SanityPolicy(), "special-purpose range 127.0.0.0/8: loopback (RFC 1122)"),
    ("169.254.169.254", SanityPolicy(), "special-purpose range 169.254.0.0/16: link-local (RFC 3927)"),
    ("203.0.113.9", SanityPolicy(), "special-purpose range 203.0.113.0/24: documentation TEST-NET-3 (RFC 5737)"),
    ("224.0.0.251", SanityPolicy(), "special-purpose range 224.0.0.0/4: multicast (RFC 5771)"),
    ("fd12::1", SanityPolicy(), "special-purpose range fc00::/7: unique local (RFC 4193)"),
    ("fe80::1", SanityPolicy(), "special-purpose range fe80::/10: link-local (RFC 4291)"),
    ("::", SanityPolicy(), "special-purpose range ::/128: unspecified (RFC 4291)"),
    ("8.8.8.8", SanityPolicy(), None),
    ("2a00:1450::1", SanityPolicy(), None),
]


@pytest.mark.parametrize(("value", "policy", "reason"), SANITY)
def test_sanity_checks(value, policy, reason):
    n = normalize_ip(value)
    assert check_ip(n.ip_version, n.prefix_len, n.range_start, n.range_end, policy) == reason


def test_special_range_names():
    assert special_range("192.168.1.1") == "192.168.0.0/16: private (RFC 1918)"
    assert special_range("1.1.1.1") is None
