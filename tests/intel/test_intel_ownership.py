"""Ownership on real data: ASN/org/country, AWS, other clouds, Tor, special ranges, domains."""

from __future__ import annotations

import csv
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pyarrow as pa
import pytest
from intel_support import FIX, intel_ws, shared  # noqa: F401

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.api import lookup_prepared, prepare
from cairn.intel.ownership import cloud, domains, special, tor
from cairn.intel.ownership.asn import mmdb_rows
from cairn.intel.settings import WarninglistSettings
from cairn.intel.warninglists import load, misp_regex_to_re2
from cairn.lake.addresses import bin_to_ip


def _look(iw, values):
    return {r["input"]: r for r in lookup_prepared(iw.engine, iw.ws, prepare(values)).to_pylist()}


def _rows(name):
    with open(FIX / name, newline="") as fh:
        return list(csv.DictReader(fh))


def test_asn_first_and_last_address_of_real_ranges(intel_ws):  # noqa: F811
    """Rows inside special ranges that hide ownership (the sample has Teredo 2001::/32 -> AS6939) are
    looked up as no ASN: docs/intel.md, test_lookup_special_ownership.py."""
    rows = _rows("asn-sample.csv")
    got = _look(intel_ws, [r["ip_range_start"] for r in rows] + [r["ip_range_end"] for r in rows])
    hidden = 0
    for r in rows:
        for key in ("ip_range_start", "ip_range_end"):
            hit = got[r[key]]
            want = (None, None) if special.ownership_hidden(r[key]) else (int(r["asn"]), r["as_organization"])
            hidden += want[0] is None
            assert (hit["asn"], hit["as_org"]) == want, (r, hit)
    assert hidden == 2


def test_country_of_real_ranges(intel_ws):  # noqa: F811
    """As above: the sample's benchmarking range 2001:2::/48 (-> JP in the data) gets no country."""
    rows = _rows("country-sample.csv")
    got = _look(intel_ws, [r["ip_range_start"] for r in rows] + [r["ip_range_end"] for r in rows])
    hidden = 0
    for r in rows:
        for key in ("ip_range_start", "ip_range_end"):
            want = None if special.ownership_hidden(r[key]) else r["country_code"]
            hidden += want is None
            assert got[r[key]]["country"] == want, r
    assert hidden == 2


def test_aws_nested_service_and_region():
    table = cloud.aws_rows(FIX / "aws-ip-ranges-2020-09-14-slice.json")
    e = DuckDBEngine()
    e.register("own_cloud", table)
    data = json.loads((FIX / "aws-ip-ranges-2020-09-14-slice.json").read_text())
    ec2 = next(p for p in data["prefixes"] if p["service"] == "EC2")
    rows = e.rows("SELECT service, region, prefix_len FROM own_cloud WHERE cidr = ?", [ec2["ip_prefix"]])
    assert rows == [("EC2", ec2["region"], int(ec2["ip_prefix"].split("/")[1]))]
    assert set(table["service"].to_pylist()) >= {"EC2", "AMAZON", "S3"}


def test_aws_most_specific_service_in_workspace(intel_ws):  # noqa: F811
    got = _look(intel_ws, ["3.5.140.5", "52.95.110.1"])
    assert (got["3.5.140.5"]["cloud_provider"], got["3.5.140.5"]["cloud_service"]) == ("aws", "S3")
    assert got["3.5.140.5"]["cloud_region"] == "ap-northeast-2"
    services = {m["service"] for m in got["3.5.140.5"]["cloud_matches"]}
    assert "AMAZON" in services and "S3" in services  # all matches kept, the specific one chosen


@pytest.mark.slow
@pytest.mark.parametrize("date", ["2020-09-14", "2022-02-17", "2023-07-10", "2024-07-29"])
def test_aws_dated_snapshots(date):
    path = shared("ip-aws-ip-ranges", f"ip-ranges.{date}.json.gz")
    table = cloud.aws_rows(path)
    data = json.loads(gzip.decompress(path.read_bytes()))
    assert table.num_rows == len(data["prefixes"]) + len(data["ipv6_prefixes"])
    e = DuckDBEngine()
    e.register("c", table)
    p = next(p for p in data["prefixes"] if p["service"] == "EC2")
    got = e.rows("SELECT region FROM c WHERE service = 'EC2' AND cidr = ?", [p["ip_prefix"]])
    assert got == [(p["region"],)]


def test_azure_and_gcp_from_warninglists():
    _lists, entries = load(WarninglistSettings(include=["all"]), FIX / "warninglists")
    rows = cloud.warninglist_rows(entries).to_pylist()
    by_cidr = {r["cidr"]: r["provider"] for r in rows}
    assert by_cidr["104.154.113.0/24"] == "gcp"
    assert by_cidr["102.133.0.0/18"] == "azure"
    assert "public-dns-v4" not in {r["source"].split(":")[1] for r in rows}


def test_azure_gcp_in_workspace(intel_ws):  # noqa: F811
    got = _look(intel_ws, ["104.154.113.1", "20.42.0.1"])
    assert got["104.154.113.1"]["cloud_provider"] == "gcp"
    assert got["20.42.0.1"]["cloud_provider"] == "azure"


def test_tor_list_and_lookup(intel_ws):  # noqa: F811
    t = tor.tor_rows(FIX / "tor-exit-sample.lst", "2024-02-27", "test")
    assert "2001:470:1:908::9001" in t["ip"].to_pylist()
    got = _look(intel_ws, ["101.99.92.179", "2001:0470:0001:0908:0000:0000:0000:9001", "101.99.92.180"])
    assert got["101.99.92.179"]["tor"] and got["2001:0470:0001:0908:0000:0000:0000:9001"]["tor"]
    assert not got["101.99.92.180"]["tor"]
    assert got["101.99.92.179"]["score_id"] == 5


@pytest.mark.parametrize("cidr,name,_ref", special.SPECIAL_RANGES)
def test_every_special_range(cidr, name, _ref):
    start, end, _, _ = special.cidr_range(cidr)
    for b in (start, end):
        ip = bin_to_ip(b)
        assert name in special.special_names(ip)
        assert not special.is_shareable(ip)


def test_special_ranges_in_workspace(intel_ws):  # noqa: F811
    got = _look(intel_ws, ["100.64.0.1", "fd00::1", "8.8.8.8", "fe80::1", "198.18.0.1"])
    assert got["100.64.0.1"]["special_ranges"] == ["shared address space (CGNAT)"]
    assert got["fd00::1"]["special_ranges"] == ["unique local (ULA)"]
    assert got["8.8.8.8"]["special_ranges"] == [] and got["8.8.8.8"]["shareable"]
    assert got["fe80::1"]["shareable"] is False and got["198.18.0.1"]["shareable"] is False


@pytest.mark.parametrize("value,shareable", [
    ("8.8.8.8", True), ("10.0.0.1", False), ("::1", False), ("db.internal", False), ("printer.local", False),
    ("http://10.0.0.5/x", False), ("http://evil.example.com/", True), ("evil.com", True), ("a@corp.internal", False),
])
def test_is_shareable(value, shareable):
    assert special.is_shareable(value) is shareable


@pytest.mark.parametrize("domain,expected", [
    ("a.b.example.co.uk", "example.co.uk"), ("example.co.uk", "example.co.uk"), ("co.uk", None),
    ("www.bbc.co.uk", "bbc.co.uk"), ("foo.bar.ck", "foo.bar.ck"), ("www.ck", "www.ck"),
    ("x.s3.amazonaws.com", "x.s3.amazonaws.com"), ("bücher.de", "xn--bcher-kva.de"),
    ("a.b.city.kawasaki.jp", "city.kawasaki.jp"), ("test.xn--p1ai", "test.xn--p1ai"),
])
def test_registrable_domain_sql_and_python(domain, expected):
    e = DuckDBEngine()
    e.register("own_public_suffixes", domains.psl_rows())
    ascii_name = domains.to_ascii(domain)
    e.register("d", pa.table({"domain": [ascii_name]}))
    got = e.rows(domains.registrable_sql("d"))[0][2]
    assert got == expected
    assert domains.registrable_domain(domain) == expected


def test_registrable_domain_in_lookup(intel_ws):  # noqa: F811
    got = _look(intel_ws, ["deep.sub.example.co.uk", "hxxps://login[.]evil-site[.]com[.]au/a"])
    assert got["deep.sub.example.co.uk"]["registrable_domain"] == "example.co.uk"
    assert got["hxxps://login[.]evil-site[.]com[.]au/a"]["registrable_domain"] == "evil-site.com.au"


def test_mmdb_rows_map_ipv4_subtree():
    recs = [("::1.2.3.0/120", {"autonomous_system_number": 64500, "autonomous_system_organization": "X"}),
            ("2a00::/16", {"country": {"iso_code": "de"}}),
            ("2002::/16", {"autonomous_system_number": 1}),
            ("10.0.0.0/8", {"asn": "AS64501", "as_name": "Y", "country_code": "nl"})]
    t = mmdb_rows(recs, "mmdb:test").to_pylist()
    assert [(bin_to_ip(r["range_start"]), r["asn"], r["country"]) for r in t] == [
        ("1.2.3.0", 64500, None), ("2a00::", None, "DE"), ("10.0.0.0", 64501, "NL")]


def test_regex_conversion():
    assert misp_regex_to_re2(r"/^(security|noc)\@.*\..*$/i") == r"(?i)^(security|noc)@.*\..*$"
    assert misp_regex_to_re2("/(?!x)y/") is None


class _Handler(BaseHTTPRequestHandler):
    body = b""
    etag = '"v1"'
    hits: ClassVar[list[str | None]] = []

    def do_GET(self):
        _Handler.hits.append(self.headers.get("If-None-Match"))
        if self.headers.get("If-None-Match") == self.etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", self.etag)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_refresh_aws_ip_ranges_with_etag(tmp_path):
    _Handler.body = (FIX / "aws-ip-ranges-2020-09-14-slice.json").read_bytes().replace(
        b"2020-09-14-15-41-17", b"2999-01-01-00-00-00")
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/ip-ranges.json"
    try:
        first = cloud.refresh_aws_ip_ranges(tmp_path, url, timeout=5)
        second = cloud.refresh_aws_ip_ranges(tmp_path, url, timeout=5)
    finally:
        server.shutdown()
    assert first["status"] == 200 and first["changed"] and first["createDate"] == "2999-01-01-00-00-00"
    assert second["status"] == 304 and not second["changed"]
    assert _Handler.hits[-1] == '"v1"'
    assert cloud.aws_file(tmp_path) == cloud.ownership_dir(tmp_path) / cloud.REFRESHED_AWS
