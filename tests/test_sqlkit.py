"""The SQL IP helpers agree with the Python address classifier; spec casing conversion."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.addresses import ip_to_bin, parse_ip
from cairn.sources.sqlkit import ip_bin, ip_bins, ip_list, ip_text, pascal_spec


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine() as e:
        yield e


def _sql(engine: DuckDBEngine, values: list[str]) -> list[tuple[str | None, bytes | None]]:
    return engine.rows(
        f"SELECT {ip_text('v')}, {ip_bin(ip_text('v'))} FROM unnest(?::VARCHAR[]) WITH ORDINALITY u(v, n) ORDER BY n",
        [values],
    )


def _python(value: str) -> tuple[str | None, bytes | None]:
    addr = parse_ip(value)
    return (str(addr), ip_to_bin(addr)) if addr is not None else (None, None)


EDGE_CASES = [
    "1.2.3.4", "01.2.3.4", "10.0.0.007", "256.1.1.1", "1.2.3.0400", "1.2.3", "::", "::1", "1::", "2001:db8::1",
    "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0:1:0:0:1", "1:0:0:2:0:0:0:3",
    "::ffff:1.2.3.4", "::ffff:102:304", "64:ff9b::1.2.3.4", "fe80::1%eth0", "[::1]", " 10.0.0.1 ",
    "1:2:3:4:5:6:7:8", "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:7", "1:::2", "a::b::c", "abc", "", ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:", "ec2.amazonaws.com", "AWS Internal", "12345", "1.2.3.4.5",
]


def test_edge_cases_match_the_classifier(engine: DuckDBEngine) -> None:
    assert _sql(engine, EDGE_CASES) == [_python(v) for v in EDGE_CASES]


_spellings = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded),
    st.ip_addresses(v=6).map(lambda a: str(a).upper()),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.tuples(*[st.integers(0, 300)] * 4, st.integers(1, 3)).map(lambda t: ".".join(str(o).zfill(t[4]) for o in t[:4])),
    st.text(alphabet="0123456789abcdef:.", max_size=20),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(_spellings, min_size=1, max_size=50))
def test_property_sql_matches_python(engine: DuckDBEngine, values: list[str]) -> None:
    assert _sql(engine, values) == [_python(v) for v in values]


def test_lists_keep_order_drop_non_addresses_and_repeats(engine: DuckDBEngine) -> None:
    values = ["203.0.113.1", "host.example", "2001:DB8::1", "203.0.113.1", None]
    got = engine.rows(f"SELECT {ip_list('?::VARCHAR[]')} AS l, {ip_bins(ip_list('?::VARCHAR[]'))}", [values, values])
    assert got == [(["203.0.113.1", "2001:db8::1"], [_python("203.0.113.1")[1], _python("2001:db8::1")[1]])]
    assert engine.scalar(f"SELECT {ip_list('NULL::VARCHAR[]')}") is None


def test_pascal_spec_upper_cases_every_key_but_not_types() -> None:
    spec = '{"id":"VARCHAR","service":{"action":{"portProbeDetails":[{"remoteIpDetails":{"ipAddressV4":"VARCHAR"}}]}},"m":"MAP(VARCHAR, VARCHAR)"}'
    assert json.loads(pascal_spec(spec)) == {
        "Id": "VARCHAR",
        "Service": {"Action": {"PortProbeDetails": [{"RemoteIpDetails": {"IpAddressV4": "VARCHAR"}}]}},
        "M": "MAP(VARCHAR, VARCHAR)",
    }
