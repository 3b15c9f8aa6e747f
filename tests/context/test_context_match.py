"""Matching observables to context: nested CIDRs against a slow ipaddress reference (Hypothesis),
role sessions -> roles, user names, access keys, S3 bucket names vs ARNs, account ids."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.context import values
from cairn.context.kinds import KINDS, Checked, check_records
from cairn.context.match import match_sql, summary_sql
from cairn.context.models import build_network
from cairn.context.readers import read_inventory
from cairn.context.tables import CONTEXT_TABLES, to_arrow
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.addresses import ip_to_bin, parse_ip

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _engine_with(**tables: pa.Table) -> DuckDBEngine:
    """An in-memory engine with ctx_<kind> tables (empty unless given) and no lake."""
    e = DuckDBEngine()
    for kind in KINDS:
        name = KINDS[kind].table
        if kind in tables:
            e.register("_t", tables[kind])
            e.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
            e.unregister("_t")
        else:
            e.execute(f"CREATE TABLE {name} AS {CONTEXT_TABLES[name].empty_select()}")
    return e


def _probes(e: DuckDBEngine, rows: list[tuple[str, str]]) -> None:
    def bin_of(t: str, v: str) -> bytes | None:
        return ip_to_bin(ipaddress.ip_address(v)) if t == "ip" else None

    e.register("obs", pa.table({"type": [r[0] for r in rows], "value": [r[1] for r in rows],
                                "ip_bin": pa.array([bin_of(*r) for r in rows], pa.binary())}))


def _inventory(tmp_path, name: str, text: str) -> pa.Table:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    read = read_inventory(f, name)
    ((kind, recs),) = read.records.items()
    good, bad, _ = check_records(KINDS[kind], recs)
    assert not read.problems and not bad, [str(p) for p in read.problems + bad]
    return to_arrow(kind, good, load_id="t", loaded_at=NOW, source_file=str(f))


# -- networks: property test against ipaddress -------------------------------------------------------


def _reference(cidrs: list[str], ips: list[str]) -> set[tuple[str, str, bool]]:
    nets = [values.network(c) for c in cidrs]
    out = set()
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        hits = [n for n in nets if n.version == addr.version and addr in n]
        best = max((n.prefixlen for n in hits), default=None)
        out |= {(ip, str(n), n.prefixlen == best) for n in hits}
    return out


@pytest.fixture(scope="module")
def net_engine() -> Any:
    """One engine for all examples; each replaces its ctx_networks."""
    e = _engine_with()
    yield e
    e.close()


def _matched(e: DuckDBEngine, cidrs: list[str], ips: list[str]) -> set[tuple[str, str, bool]]:
    """The matcher's (ip, cidr, best)."""
    rows = []
    for i, c in enumerate(cidrs):
        model, _ = build_network({"cidr": values.network(c)}, {"cidr": c})
        rows.append(Checked(model, "t", i))
    e.register("_t", to_arrow("networks", rows, load_id="t", loaded_at=NOW, source_file="t"))
    e.execute("CREATE OR REPLACE TABLE ctx_networks AS SELECT * FROM _t")
    _probes(e, [("ip", ip) for ip in ips])
    got = {(r[0], r[1], r[2]) for r in e.rows(f"SELECT value, cidr, best FROM ({match_sql('networks', 'obs')})")}
    depth_ok = e.scalar(f"SELECT bool_and((depth = 1) = best) FROM ({match_sql('networks', 'obs')})")
    assert depth_ok is not False
    return got


def _net(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    anchors = [0, 10 << (bits - 8), (1 << bits) - (1 << (bits // 2)), 0xFFFF << 32 if version == 6 else 1 << 31]
    return st.tuples(st.sampled_from(anchors), st.integers(0, (1 << (bits // 2)) - 1), st.integers(0, bits)).map(
        lambda t: str(cls(((t[0] + t[1]) % (1 << bits) >> (bits - t[2]) << (bits - t[2]), t[2]))))


def _addresses(cidrs: list[str], extra: list[tuple[int, int]]) -> list[str]:
    out: set[str] = set()
    for c in cidrs:
        n = values.network(c)
        top = (1 << n.max_prefixlen) - 1
        for v in (int(n.network_address) - 1, int(n.network_address), int(n.broadcast_address),
                  int(n.broadcast_address) + 1):
            if 0 <= v <= top:
                out.add(_canonical(ipaddress.IPv4Address(v) if n.version == 4 else ipaddress.IPv6Address(v)))
    for version, v in extra:
        out.add(_canonical(ipaddress.IPv4Address(v % (1 << 32)) if version == 4 else ipaddress.IPv6Address(v)))
    return sorted(out)


def _canonical(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """As the lake stores addresses: an IPv4-mapped IPv6 address is the IPv4 address."""
    return str(parse_ip(str(a)))


@settings(max_examples=150, deadline=None)
@given(cidrs=st.lists(st.one_of(_net(4), _net(6)), min_size=1, max_size=12, unique=True),
       extra=st.lists(st.tuples(st.sampled_from([4, 6]), st.integers(0, (1 << 128) - 1)), max_size=5))
def test_most_specific_network_matches_ipaddress(net_engine: DuckDBEngine, cidrs: list[str],
                                                 extra: list[tuple[int, int]]) -> None:
    cidrs = sorted({str(values.network(c)) for c in cidrs})
    ips = _addresses(cidrs, extra)
    assert _matched(net_engine, cidrs, ips) == _reference(cidrs, ips)


@pytest.mark.parametrize("cidrs,ip,expected", [
    (["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"], "10.1.2.3",
     {("10.0.0.0/8", False), ("10.1.0.0/16", False), ("10.1.2.0/24", True)}),
    (["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"], "10.1.3.3", {("10.0.0.0/8", False), ("10.1.0.0/16", True)}),
    (["0.0.0.0/0", "::/0"], "192.0.2.1", {("0.0.0.0/0", True)}),
    (["0.0.0.0/0", "::/0", "::ffff:0:0/96"], "2001:db8::1", {("::/0", True)}),
    (["2001:db8::/32", "2001:db8:0:1::/64", "2001:db8:0:1::5/128"], "2001:db8:0:1::5",
     {("2001:db8::/32", False), ("2001:db8:0:1::/64", False), ("2001:db8:0:1::5/128", True)}),
    (["255.255.255.255/32", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"], "255.255.255.255",
     {("255.255.255.255/32", True)}),
])
def test_nested_networks(net_engine: DuckDBEngine, cidrs: list[str], ip: str,
                         expected: set[tuple[str, bool]]) -> None:
    assert {(c, b) for _, c, b in _matched(net_engine, cidrs, [ip])} == expected


# -- identities -------------------------------------------------------------------------------------

IDENTITIES = """
identities:
  - role_arn: arn:aws:iam::111122223333:role/Deploy
    team: platform
  - role_arn: arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123abcd
    team: admins
  - principal_arn: arn:aws:sts::111122223333:assumed-role/Deploy/ci-run-7
    person: the CI pipeline
  - principal_arn: arn:aws:iam::111122223333:role/Legacy
    team: legacy
  - user: ana@example.com
    person: Ana
  - user: bob
    account_id: "111122223333"
    person: Bob
  - access_key: AKIAABCDEFGHIJKLMNOP
    person: Key Owner
  - identity_store_user: 906712345a-0bcd1234-5678-90ab-cdef-0123456789ab
    person: Ana via Identity Center
"""

SESSION = "arn:aws:sts::111122223333:assumed-role/{role}/{session}"

IDENTITY_CASES: list[tuple[str, str, set[tuple[str, str, bool]]]] = [
    # a session of a role -> the role (specificity 3)
    ("arn", SESSION.format(role="Deploy", session="i-0abc"), {("role", "platform", True)}),
    ("arn", SESSION.format(role="deploy", session="x"), {("role", "platform", True)}),  # role names: any case
    # ... the exact session ARN listed as a principal wins over its role
    ("arn", SESSION.format(role="Deploy", session="ci-run-7"),
     {("principal_arn", "the CI pipeline", True), ("role", "platform", False)}),
    # the role ARN itself
    ("arn", "arn:aws:iam::111122223333:role/Deploy", {("role", "platform", True)}),
    # a path-qualified role: its sessions carry no path
    ("arn", SESSION.format(role="AWSReservedSSO_Admin_0123abcd", session="ana@example.com"),
     {("role", "admins", True), ("session_name", "Ana", False)}),
    ("arn", "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123abcd",
     {("role", "admins", True)}),
    # a role given as principal_arn matches its sessions too
    ("arn", SESSION.format(role="Legacy", session="s"), {("role", "legacy", True)}),
    # the same role name in another account is another role
    ("arn", "arn:aws:sts::999999999999:assumed-role/Deploy/s", set()),
    ("arn", "arn:aws:iam::999999999999:role/Deploy", set()),
    # user names: the user observable, and IAM user ARNs (same account when the identity names one)
    ("user", "BOB", {("user", "Bob", True)}),
    ("arn", "arn:aws:iam::111122223333:user/division/bob", {("user", "Bob", True)}),
    ("arn", "arn:aws:iam::999999999999:user/bob", set()),
    ("user", "ana@example.com", {("user", "Ana", True)}),
    ("access_key", "AKIAABCDEFGHIJKLMNOP", {("access_key", "Key Owner", True)}),
    ("access_key", "AKIAABCDEFGHIJKLMNOQ", set()),
    ("user", "906712345a-0bcd1234-5678-90ab-cdef-0123456789ab", {("user", "Ana via Identity Center", True)}),
    ("arn", "arn:aws:iam::111122223333:root", set()),
]


@pytest.fixture(scope="module")
def identity_engine(tmp_path_factory) -> Any:
    e = _engine_with(identities=_inventory(tmp_path_factory.mktemp("i"), "ids.yaml", IDENTITIES))
    _probes(e, [(t, v) for t, v, _ in IDENTITY_CASES])
    yield e
    e.close()


@pytest.mark.parametrize("type_,value,expected", IDENTITY_CASES, ids=[c[1][-40:] for c in IDENTITY_CASES])
def test_identity_matching(identity_engine: DuckDBEngine, type_: str, value: str,
                           expected: set[tuple[str, str, bool]]) -> None:
    rows = identity_engine.rows(f"SELECT match_kind, coalesce(person, team), best FROM "
                                f"({match_sql('identities', 'obs')}) WHERE type = ? AND value = ?", [type_, value])
    assert set(rows) == expected


# -- assets ----------------------------------------------------------------------------------------

ASSETS = """resource_id,account_id,name,criticality
arn:aws:s3:::payments-data,111122223333,payments bucket,critical
arn:aws:s3:::logs/private/report.csv,,one object,high
i-0123456789abcdef0,111122223333,web-1,medium
arn:aws:ec2:eu-west-1:111122223333:volume/vol-0123456789abcdef0,,data volume,high
plain-bucket,,a bucket by name,low
"""

ASSET_CASES: list[tuple[str, str, set[tuple[str, str, bool]]]] = [
    ("resource", "payments-data", {("bucket", "payments bucket", True)}),
    ("resource", "arn:aws:s3:::payments-data", {("exact", "payments bucket", True)}),
    ("arn", "arn:aws:s3:::payments-data/2024/01/x.csv", {("bucket", "payments bucket", True)}),
    ("resource", "arn:aws:s3:::plain-bucket", {("bucket", "a bucket by name", True)}),
    ("resource", "arn:aws:s3:::plain-bucket/k", {("bucket", "a bucket by name", True)}),
    # an object asset is not matched by its bucket
    ("resource", "logs", set()),
    ("resource", "arn:aws:s3:::logs/private/report.csv", {("exact", "one object", True)}),
    # ids vs ARNs, both ways, with the account checked when both sides have one
    ("resource", "arn:aws:ec2:eu-west-1:111122223333:instance/i-0123456789abcdef0", {("resource_id", "web-1", True)}),
    ("resource", "arn:aws:ec2:eu-west-1:999999999999:instance/i-0123456789abcdef0", set()),
    ("resource", "i-0123456789abcdef0", {("exact", "web-1", True)}),
    ("resource", "vol-0123456789abcdef0", {("resource_id", "data volume", True)}),
    # two ARNs of different resources never match on their id part
    ("arn", "arn:aws:ec2:eu-west-1:111122223333:snapshot/vol-0123456789abcdef0", set()),
    ("resource", "i-ffff", set()),
]


@pytest.fixture(scope="module")
def asset_engine(tmp_path_factory) -> Any:
    e = _engine_with(assets=_inventory(tmp_path_factory.mktemp("a"), "assets.csv", ASSETS))
    _probes(e, [(t, v) for t, v, _ in ASSET_CASES])
    yield e
    e.close()


@pytest.mark.parametrize("type_,value,expected", ASSET_CASES, ids=[c[1][-40:] for c in ASSET_CASES])
def test_asset_matching(asset_engine: DuckDBEngine, type_: str, value: str,
                        expected: set[tuple[str, str, bool]]) -> None:
    rows = asset_engine.rows(f"SELECT match_kind, name, best FROM ({match_sql('assets', 'obs')}) "
                             f"WHERE type = ? AND value = ?", [type_, value])
    assert set(rows) == expected


# -- accounts and the summary ---------------------------------------------------------------------------


def test_accounts_and_summary(tmp_path) -> None:
    e = _engine_with(
        accounts=_inventory(tmp_path, "a.yaml", "accounts:\n  '111122223333': {name: prod}\n"),
        networks=_inventory(tmp_path, "n.csv", "cidr,zone\n10.0.0.0/8,corp\n10.1.0.0/16,vpc\n"),
    )
    _probes(e, [("account", "111122223333"), ("arn", "arn:aws:iam::111122223333:user/x"),
                ("resource", "AWS::::Account:111122223333"), ("account", "999999999999"), ("ip", "10.1.0.1"),
                ("ip", "192.0.2.1")])
    got = e.rows(f"SELECT type, match_kind, name FROM ({match_sql('accounts', 'obs')}) ORDER BY ALL")
    assert got == [("account", "account_id", "prod"), ("arn", "arn_account", "prod"),
                   ("resource", "resource_account", "prod")]
    summary = {(r["type"], r["value"]): r for r in e.arrow(summary_sql("obs")).to_pylist()}
    assert set(summary) == {("account", "111122223333"), ("arn", "arn:aws:iam::111122223333:user/x"),
                            ("resource", "AWS::::Account:111122223333"), ("ip", "10.1.0.1")}
    assert summary[("ip", "10.1.0.1")]["network"]["zone"] == "vpc"
    assert summary[("ip", "10.1.0.1")]["account"] is None
    assert summary[("arn", "arn:aws:iam::111122223333:user/x")]["account"]["name"] == "prod"
    e.close()


def test_relation_names_are_checked() -> None:
    with pytest.raises(ValueError, match="not a relation name"):
        match_sql("networks", "obs; DROP TABLE x")
    with pytest.raises(ValueError, match="unknown context kind"):
        match_sql("vpcs", "obs")


def test_ties_go_to_the_earlier_line_by_number(tmp_path) -> None:
    """Two records matching equally well, at lines 9 and 10: line 9 wins (as text, 'line 10' < 'line 9')."""
    pad = "# padding\n" * 7
    e = _engine_with(identities=_inventory(tmp_path, "ids.yaml", pad + "identities:\n"
                     "  - {kind: user, value: christophe, team: first-at-line-9}\n"
                     "  - {kind: identity_store_user, value: christophe, team: second-at-line-10}\n"))
    _probes(e, [("user", "christophe")])
    locators = sorted(r[0] for r in e.rows(f"SELECT ctx_locator FROM ({match_sql('identities', 'obs')})"))
    assert locators == ["line 10", "line 9"]
    [row] = e.arrow(summary_sql("obs")).to_pylist()
    assert row["identity"]["team"] == "first-at-line-9"
    e.close()
