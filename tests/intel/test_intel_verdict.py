"""Lookup against indicators, verdict combination rules, warninglist demotion, the CLI and the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from intel_support import intel_ws, set_indicators  # noqa: F401
from typer.testing import CliRunner

from cairn.cli.main import app
from cairn.intel import api
from cairn.intel.api import lookup_prepared, prepare
from cairn.intel.verdict import SCORES

NOW = datetime.now(UTC)
INDICATORS = [
    dict(type="ip", value="198.51.99.7", threat_type="c2", confidence=90, malware_family=["cobaltstrike"]),
    dict(type="ip", value="198.51.99.7", source="feed-b", threat_type="malware", confidence=80),
    dict(type="ip", value="45.0.0.0/8", threat_type="scanner", confidence=60),
    dict(type="ip", value="45.9.0.0/16", threat_type="malware", confidence=90),
    dict(type="ip", value="2a0b:1234::/32", threat_type="c2", confidence=95),
    dict(type="ip", value="8.8.8.8", threat_type="c2", confidence=95),
    dict(type="ip", value="77.1.1.1", threat_type="c2", confidence=95, detect=False),
    dict(type="ip", value="77.1.1.2", threat_type="malware", confidence=20),
    dict(type="domain", value="evil-example.net", threat_type="phishing", confidence=85,
         last_seen=NOW - timedelta(days=3), feed_version="2026-01-01"),
    dict(type="url", value="http://bad.example.org/payload.exe", threat_type="malware", confidence=90),
    dict(type="hash", value="44d88612fea8a8f36de82e1278abb02f", threat_type="malware", confidence=100),
    dict(type="hash", value="5f2b7a9c0d1e3f405162738495a6b7c8", threat_type="malware", confidence=100),
    dict(type="domain", value="bit.ly", threat_type="phishing", confidence=90),
]


@pytest.fixture(scope="module")
def iw(intel_ws):  # noqa: F811
    set_indicators(intel_ws.engine, INDICATORS)
    return intel_ws


def _look(iw, values):
    return {r["input"]: r for r in lookup_prepared(iw.engine, iw.ws, prepare(values)).to_pylist()}


@pytest.mark.parametrize("value,score,sources", [
    ("198.51.99.7", 10, ["feed-a", "feed-b"]),       # c2 90 -> 10, corroborated (capped at 10)
    ("45.9.1.1", 10, ["feed-a"]),                     # nested: /16 malware 90 -> 10 and /8 scanner 60 -> 6
    ("45.1.1.1", 6, ["feed-a"]),                      # only the /8 scanner, confidence 60 -> 7-1
    ("2a0b:1234:ffff::1", 10, ["feed-a"]),            # IPv6 CIDR
    ("2a0b:1235::1", 0, []),                          # one past the IPv6 range
    ("77.1.1.1", 0, ["feed-a"]),                      # detect=false: context only
    ("77.1.1.2", 7, ["feed-a"]),                      # malware, confidence 20 -> 10-3
    ("www.login.evil-example.net", 10, ["feed-a"]),   # parent domain
    ("hxxp://bad[.]example[.]org/payload.exe", 10, ["feed-a"]),  # refanged URL, exact
    ("http://x.evil-example.net/a", 10, ["feed-a"]),  # URL host as a domain
    ("5F2B7A9C0D1E3F405162738495A6B7C8", 10, ["feed-a"]),  # hash, case-insensitive
    ("44d88612fea8a8f36de82e1278abb02f", 3, ["feed-a"]),  # EICAR md5: eicar.com warninglist demotes
    ("8.8.8.8", 3, ["feed-a"]),                       # c2 feed hit demoted by public-dns-v4
    ("bit.ly", 3, ["feed-a"]),                        # tranco10k demotes; url-shortener is context
    ("192.0.2.200", 3, []),                           # special range, rfc5735: probably safe
])
def test_verdicts(iw, value, score, sources):
    r = _look(iw, [value])[value]
    assert (r["score_id"], r["sources"]) == (score, sources), r["why"]
    assert r["score"] == SCORES[score]


def test_most_specific_and_all_matches(iw):
    iw.engine.execute("CREATE OR REPLACE TEMP TABLE _q AS SELECT 'ip' AS type, '45.9.1.1' AS value, "
                      "unhex('00000000000000000000FFFF2D090101') AS ip_bin")
    from cairn.intel.lookup import run_lookup

    run_lookup(iw.engine, "_q", "_t")
    got = iw.engine.rows("SELECT matched, most_specific FROM _t_matches WHERE family = 'indicator' ORDER BY 1")
    assert got == [("45.0.0.0/8", False), ("45.9.0.0/16", True)]


def test_why_mentions_source_threat_confidence_age_version(iw):
    r = _look(iw, ["evil-example.net"])["evil-example.net"]
    assert "feed-a: phishing" in r["why"] and "confidence 85" in r["why"]
    assert "3d old" in r["why"] and "version 2026-01-01" in r["why"]
    demoted = _look(iw, ["8.8.8.8"])["8.8.8.8"]
    assert "public-dns-v4" in demoted["warninglists"] and "capped at 3" in demoted["why"]
    assert demoted["evidence"][0]["kind"] == "feed" and demoted["evidence"][0]["score_id"] == 10


def test_provider_cache_is_evidence(iw):
    iw.engine.execute("DELETE FROM intel_cache")
    iw.engine.execute(
        "INSERT INTO intel_cache VALUES ('virustotal', 'ip', '203.0.114.9', now(), now() + INTERVAL 1 DAY, 'ok', "
        "8, 70, '{}'), ('abuseipdb', 'ip', '203.0.114.9', now(), now() - INTERVAL 1 DAY, 'ok', 10, 90, '{}')")
    r = _look(iw, ["203.0.114.9"])["203.0.114.9"]
    assert (r["score_id"], r["sources"]) == (8, ["virustotal"])  # the expired entry is ignored
    iw.engine.execute("DELETE FROM intel_cache")


def test_invalid_input_reported(iw):
    r = _look(iw, ["not a value at all ::"])
    assert next(iter(r.values()))["error"]


def test_api_accepts_arrow_and_iterables(iw):
    t = api.lookup(pa.array(["198.51.99.7", None, "45.1.1.1"]), workspace=iw.ws)
    assert t.column("score_id").to_pylist() == [10, 6]


def _cli(iw, args, stdin=None):
    res = CliRunner().invoke(app, ["--workspace", str(iw.ws.root), *args], input=stdin, catch_exceptions=False,
                                env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    return res.output


def test_cli_json_and_stdin(iw):
    iw.engine.close()
    try:
        out = json.loads(_cli(iw, ["--json", "lookup", "-"], stdin="198.51.99.7\nevil-example[.]net\n"))
        assert [(r["value"], r["score_id"]) for r in out] == [("198.51.99.7", 10), ("evil-example.net", 10)]
        table = _cli(iw, ["lookup", "8.8.8.8", "3.5.140.5"])
        assert "Probably Safe" in table and "aws/S3/ap-northeast-2" in table and "public-dns-v4" in table
    finally:
        from cairn.engines.duckdb_engine import DuckDBEngine

        iw.engine = DuckDBEngine(iw.ws.catalog_path)


def test_cli_file(iw, tmp_path):
    iw.engine.close()
    try:
        f = tmp_path / "v.txt"
        f.write_text("# comment\n45.9.1.1\n")
        out = json.loads(_cli(iw, ["--json", "lookup", "--file", str(f)]))
        assert out[0]["score_id"] == 10
    finally:
        from cairn.engines.duckdb_engine import DuckDBEngine

        iw.engine = DuckDBEngine(iw.ws.catalog_path)


@pytest.mark.parametrize("threat,score", [
    ("botnet_cc", 10), ("payload", 10), ("malware_download", 10), ("Malicious Host", 10), ("spyware-c2", 10),
    ("bot", 10), ("C2", 10), ("scanning_host", 7), ("anonymization", 6), ("Anonymous Proxy", 6),
    ("something else", 8), (None, 8),
])
def test_feed_vocabularies_score_as_their_meaning(threat, score):
    """ThreatFox, URLhaus, STIX and the GuardDuty list layouts name threats their own way (a hunt found
    ThreatFox botnet_cc at confidence 100 scored 8 and URLhaus malware_download 7)."""
    import duckdb

    from cairn.intel.verdict import feed_score_sql

    got = duckdb.execute(f"SELECT {feed_score_sql('t', 'c')} FROM (SELECT ?::VARCHAR AS t, 100 AS c)", [threat])
    assert got.fetchone()[0] == score


def test_why_never_says_a_negative_age(iw):
    """An indicator first seen in the future (a STIX valid_from ahead of now) is 0 days old, not -N."""
    future = NOW + timedelta(days=30)
    set_indicators(iw.engine, [*INDICATORS, dict(type="ip", value="203.0.113.99", threat_type="c2", confidence=90,
                                                 last_seen=future)])
    try:
        why = _look(iw, ["203.0.113.99"])["203.0.113.99"]["why"]
        assert "0d old" in why and "-" not in why.split("d old")[0].rsplit(",", 1)[-1]
    finally:
        set_indicators(iw.engine, INDICATORS)
