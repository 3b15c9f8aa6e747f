"""run_lookup's IP path (integer-keyed segment index + the precomputed ``_cairn_ipx_hit`` rows, range
matches ranked together with exact matches) against a brute-force reference, on random IPv4/IPv6 ranges
of every family, nested and overlapping, probed at their boundaries."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import EngineError
from cairn.intel.lookup import EXACT_TABLE, INDEX_PREFIX, ensure_index, matches_text_sql, run_lookup
from cairn.intel.ranges import bin_of, cidr_range

FAMILIES = ("asn", "cloud", "special", "warninglist", "indicator")


def _addr(v: int, version: int) -> str:
    return str(ipaddress.IPv4Address(v) if version == 4 else ipaddress.IPv6Address(v))


def _net(version: int):
    bits = 32 if version == 4 else 128
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    anchors = [0x0A000000, 0xC0000000] if version == 4 else [0x20010DB8 << 96, 0x2A00 << 112]
    return st.tuples(st.sampled_from(anchors), st.integers(0, (1 << 20) - 1), st.integers(bits - 24, bits)).map(
        lambda t: str(cls(((t[0] + (t[1] << (bits - 24))) >> (bits - t[2]) << (bits - t[2]), t[2]))))


_any_net = st.one_of(_net(4), _net(6))
entries_st = st.lists(st.tuples(st.sampled_from(FAMILIES), _any_net), min_size=1, max_size=20)
exact_st = st.lists(st.tuples(st.sampled_from(["indicator", "string", "tor"]), _any_net), max_size=6)


def _workspace(entries: list[tuple[str, str]], exact: list[tuple[str, str]]) -> DuckDBEngine:
    """An in-memory engine holding the tables run_lookup reads, filled with these ranges."""
    e = DuckDBEngine()
    rng = {f: [(c, *cidr_range(c)) for g, c in entries if g == f] for f in FAMILIES}
    single = {f: list(dict.fromkeys(str(ipaddress.ip_network(c).network_address) for g, c in exact if g == f))
              for f in ("indicator", "string", "tor")}  # the loaders keep one row per normalised entry
    blob, s, i, vc, tx = pa.binary(), pa.string(), pa.int32(), pa.list_(pa.string()), pa.timestamp("us", "UTC")

    def table(name: str, cols: dict[str, tuple[list, pa.DataType]]) -> None:
        e.register(f"_a_{name}", pa.table({k: pa.array(v, t) for k, (v, t) in cols.items()}))
        e.execute(f"CREATE TABLE {name} AS SELECT * FROM _a_{name}")
        e.unregister(f"_a_{name}")

    asn = rng["asn"]
    table("own_asn", {"range_start": ([r[1] for r in asn], blob), "range_end": ([r[2] for r in asn], blob),
                      "asn": (list(range(64500, 64500 + len(asn))), pa.int64()), "source": (["bundled"] * len(asn), s)})
    for name, fam, label in (("own_cloud", "cloud", "source"), ("own_special", "special", "name")):
        r = rng[fam]
        table(name, {"range_start": ([x[1] for x in r], blob), "range_end": ([x[2] for x in r], blob),
                     "prefix_len": ([x[3] for x in r], i), label: ([f"{fam}-{k}" for k in range(len(r))], s),
                     "cidr": ([x[0] for x in r], s)})
    wl, strings = rng["warninglist"], single["string"]
    table("warninglist_entries", {
        "list": (["wl-cidr"] * len(wl) + ["wl-str"] * len(strings), s),
        "type": (["cidr"] * len(wl) + ["string"] * len(strings), s),
        "value": ([x[0] for x in wl] + strings, s),
        "range_start": ([x[1] for x in wl] + [None] * len(strings), blob),
        "range_end": ([x[2] for x in wl] + [None] * len(strings), blob),
        "prefix_len": ([x[3] for x in wl] + [None] * len(strings), i)})
    table("warninglists", {"list": (["wl-cidr", "wl-str"], s), "observable_types": ([["ip"], ["ip"]], vc),
                           "match_subdomains": ([False, False], pa.bool_())})
    table("own_tor", {"ip_bin": ([bin_of(a) for a in single["tor"]], blob), "ip": (single["tor"], s),
                      "source": (["tor"] * len(single["tor"]), s)})
    ind = [(_ind_value(x[0]), x[1], x[2], x[3], x[4]) for x in rng["indicator"]] + [
        (a, *cidr_range(a)) for a in single["indicator"]]
    table("indicators", {
        "indicator_uid": ([f"u{k}" for k in range(len(ind))], s), "type": (["ip"] * len(ind), s),
        "value": ([x[0] for x in ind], s), "range_start": ([x[1] for x in ind], blob),
        "range_end": ([x[2] for x in ind], blob), "prefix_len": ([x[3] for x in ind], i),
        "ip_version": ([x[4] for x in ind], pa.int8()), "feed_version": (["v1"] * len(ind), s),
        "loaded_at": ([None] * len(ind), tx)})
    e.execute("CREATE TABLE _cairn_files (table_name VARCHAR, run_id VARCHAR)")
    return e


def _ind_value(cidr: str) -> str:
    """An indicator's value: the CIDR, or the plain address for a single one (as the store writes it)."""
    net = ipaddress.ip_network(cidr)
    return cidr if net.prefixlen < net.max_prefixlen else str(net.network_address)


def _probes(entries: list[tuple[str, str]], exact: list[tuple[str, str]], extra: list[int]) -> list[str]:
    """Both ends of every range, the addresses just outside, the exact entries, a few random ones."""
    out = set()
    for _, c in entries + exact:
        n = ipaddress.ip_network(c)
        top = (1 << n.max_prefixlen) - 1
        for v in (int(n.network_address) - 1, int(n.network_address), int(n.broadcast_address),
                  int(n.broadcast_address) + 1):
            if 0 <= v <= top:
                out.add(_addr(v, n.version))
    for v in extra:
        out.add(_addr(v & 0xFFFFFFFF, 4))
        out.add(_addr(v, 6))
    return sorted(out)


def reference(entries, exact, ips) -> set[tuple]:
    """(value, family, matched, specificity, most_specific) by brute force with ipaddress."""
    rows = []
    n_asn = 0
    for fam, c in entries:
        net = ipaddress.ip_network(c)
        if fam == "asn":
            matched, spec, n_asn = str(64500 + n_asn), 0, n_asn + 1
        else:
            matched, spec = _ind_value(c) if fam == "indicator" else c, net.prefixlen
        rows.append((fam, net, matched, spec))
    for kind, c in exact:
        net = ipaddress.ip_network(c)
        a = str(net.network_address)
        fam, spec = {"indicator": ("indicator", net.max_prefixlen), "string": ("warninglist", 1000),
                     "tor": ("tor", 128)}[kind]
        rows.append((fam, ipaddress.ip_network(a), a, spec))
    hits = []
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        for fam, net, matched, spec in rows:
            if net.version == addr.version and addr in net:
                hits.append((ip, fam, matched, spec))
    best = {}
    for ip, fam, _, spec in hits:
        best[(ip, fam)] = max(spec, best.get((ip, fam), spec))
    return {(ip, fam, m, spec, spec == best[(ip, fam)]) for ip, fam, m, spec in hits}


def engine_rows(entries, exact, ips) -> set[tuple]:
    e = _workspace(entries, exact)
    e.register("_obs_a", pa.table({"type": ["ip"] * len(ips) * 2, "value": ips * 2,
                                   "ip_bin": [bin_of(a) for a in ips] * 2}))  # duplicates are looked up once
    e.execute("CREATE TABLE obs AS SELECT * FROM _obs_a")
    run_lookup(e, "obs", "_t")
    got = e.rows(f"SELECT value, family, ref, matched, specificity, most_specific FROM ({matches_text_sql('_t')})")
    assert len(got) == len(set(got))  # each match once, although every address was asked twice
    e.close()
    return {(v, f, m, sp, ms) for v, f, _, m, sp, ms in got}


@settings(max_examples=30, deadline=None)
@given(entries_st, exact_st, st.lists(st.integers(0, (1 << 128) - 1), max_size=4))
def test_run_lookup_matches_reference(entries, exact, extra):
    entries, exact = list(dict.fromkeys(entries)), list(dict.fromkeys(exact))
    ips = _probes(entries, exact, extra)
    assert engine_rows(entries, exact, ips) == reference(entries, exact, ips)


def test_exact_outranks_ranges_and_nesting():
    entries = [("indicator", "10.0.0.0/8"), ("indicator", "10.1.0.0/16"), ("warninglist", "10.1.2.0/24"),
               ("warninglist", "10.1.2.3/32"), ("asn", "10.0.0.0/9"), ("cloud", "2001:db8::/32"),
               ("cloud", "2001:db8:1::/48")]
    exact = [("indicator", "10.1.2.3/32"), ("string", "10.1.2.4/32"), ("tor", "2001:db8:1::5/128")]
    ips = ["10.1.2.3", "10.1.2.4", "10.1.255.255", "10.2.0.0", "2001:db8:1::5", "2001:db8:2::", "11.0.0.0"]
    got = engine_rows(entries, exact, ips)
    assert got == reference(entries, exact, ips)
    assert ("10.1.2.3", "indicator", "10.1.2.3", 32, True) in got
    assert ("10.1.2.3", "indicator", "10.1.0.0/16", 16, False) in got
    assert ("10.1.2.4", "warninglist", "10.1.2.4", 1000, True) in got
    assert ("10.1.2.4", "warninglist", "10.1.2.0/24", 24, False) in got
    assert ("2001:db8:1::5", "cloud", "2001:db8:1::/48", 48, True) in got


def test_hit_table_rebuilt_when_inputs_change():
    e = _workspace([("indicator", "10.0.0.0/8")], [])
    assert ensure_index(e) and not ensure_index(e)
    assert e.rows(f"SELECT family, matched FROM {INDEX_PREFIX}_hit") == [("indicator", "10.0.0.0/8")]
    e.execute("INSERT INTO indicators SELECT 'u9', 'ip', '11.0.0.0/8', range_start, range_end, 8, 4, 'v2', NULL "
              "FROM (SELECT unhex('00000000000000000000FFFF0B000000') AS range_start, "
              "unhex('00000000000000000000FFFF0BFFFFFF') AS range_end)")
    assert ensure_index(e)
    assert sorted(e.rows(f"SELECT matched FROM {INDEX_PREFIX}_hit")) == [("10.0.0.0/8",), ("11.0.0.0/8",)]
    e.close()


def test_exact_table_follows_the_feeds():
    """Single-address indicators are read from ``_cairn_ipx_exact``, rebuilt when the feeds change."""
    e = _workspace([], [("indicator", "10.1.2.3/32")])
    e.register("_o", pa.table({"type": ["ip", "ip"], "value": ["10.1.2.3", "10.9.9.9"],
                               "ip_bin": [bin_of("10.1.2.3"), bin_of("10.9.9.9")]}))
    e.execute("CREATE TABLE obs AS SELECT * FROM _o")

    def indicator_hits() -> list[tuple]:
        run_lookup(e, "obs", "_t")
        return sorted(e.rows(f"SELECT value, matched, match_kind FROM ({matches_text_sql('_t')}) "
                             "WHERE family = 'indicator'"))

    assert indicator_hits() == [("10.1.2.3", "10.1.2.3", "exact")]
    assert e.rows(f"SELECT value, k4 FROM {EXACT_TABLE}") == [("10.1.2.3", 0x0A010203)]
    e.execute("INSERT INTO indicators SELECT 'u9', 'ip', '10.9.9.9', b, b, 32, 4, 'v2', NULL "
              "FROM (SELECT unhex('00000000000000000000FFFF0A090909') AS b)")
    assert indicator_hits() == [("10.1.2.3", "10.1.2.3", "exact"), ("10.9.9.9", "10.9.9.9", "exact")]
    e.execute("DELETE FROM indicators WHERE value = '10.1.2.3'")
    assert indicator_hits() == [("10.9.9.9", "10.9.9.9", "exact")]
    e.close()


def test_lookup_keeps_the_connections_row_order_setting():
    e = _workspace([("asn", "10.0.0.0/8")], [])
    e.register("_o", pa.table({"type": ["ip"], "value": ["10.1.2.3"], "ip_bin": [bin_of("10.1.2.3")]}))
    e.execute("CREATE TABLE obs AS SELECT * FROM _o")
    run_lookup(e, "obs", "_t")
    assert e.scalar("SELECT current_setting('preserve_insertion_order')") is True
    e.close()


def test_lookup_failing_in_a_transaction_reports_its_own_error():
    e = _workspace([("asn", "10.0.0.0/8")], [])
    e.execute("BEGIN")
    with pytest.raises(EngineError) as err:
        run_lookup(e, "no_such_relation", "_t")
    assert "no_such_relation" in str(err.value) and "aborted" not in str(err.value)
    e.execute("ROLLBACK")
    e.close()
