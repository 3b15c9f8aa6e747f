"""STIX 2.1: the pattern subset (incl. OR-combinations), unsupported patterns reported, bundle mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from feeds_support import parse, rows

from cairn.intel.formats.stix_pattern import Ioc, reduce

H256 = "a" * 64
# (pattern, expected indicators, expected unsupported reasons)
PATTERNS = [
    ("[ipv4-addr:value = '198.51.100.7']", [Ioc("ip", "198.51.100.7")], []),
    ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", [Ioc("ip", "198.51.100.0/24")], []),
    ("[ipv6-addr:value = '2001:db8::1']", [Ioc("ip", "2001:db8::1")], []),
    ("[domain-name:value = 'evil.example']", [Ioc("domain", "evil.example")], []),
    ("[url:value = 'http://evil.example/a.exe']", [Ioc("url", "http://evil.example/a.exe")], []),
    ("[email-addr:value = 'x@evil.example']", [Ioc("email", "x@evil.example")], []),
    (f"[file:hashes.'SHA-256' = '{H256}']", [Ioc("sha256", H256)], []),
    ("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", [Ioc("md5", "d41d8cd98f00b204e9800998ecf8427e")], []),
    ("[domain-name:value IN ('a.example', 'b.example')]", [Ioc("domain", "a.example"), Ioc("domain", "b.example")], []),
    ("[domain-name:value = 'a.example' OR domain-name:value = 'b.example']",
     [Ioc("domain", "a.example"), Ioc("domain", "b.example")], []),
    ("[ipv4-addr:value = '198.51.100.1'] OR [domain-name:value = 'c.example']",
     [Ioc("ip", "198.51.100.1"), Ioc("domain", "c.example")], []),
    ("([ipv4-addr:value = '198.51.100.1'] OR ([url:value = 'http://x.example/']))",
     [Ioc("ip", "198.51.100.1"), Ioc("url", "http://x.example/")], []),
    ("[domain-name:value = 'it''s' OR domain-name:value = 'q\\'uote.example']",
     [Ioc("domain", "it"), Ioc("domain", "s")], ["invalid pattern"]),
    (f"[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:hashes.'SHA-256' = '{H256}']",
     [Ioc("md5", "d41d8cd98f00b204e9800998ecf8427e"), Ioc("sha256", H256)], []),
    ("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.5']",
     [Ioc("ip", "203.0.113.5")], []),
    ("[network-traffic:dst_ref.value = '203.0.113.5' AND network-traffic:dst_port = 443]",
     [Ioc("ip", "203.0.113.5", 443)], []),
    ("[ipv4-addr:value = '198.51.100.1' AND domain-name:value = 'd.example']", [],
     ["AND across domain-name and ipv4-addr properties is not supported"]),
    ("[ipv4-addr:value = '198.51.100.1'] AND [domain-name:value = 'd.example']", [],
     ["AND between observation expressions is not supported"]),
    ("[ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [domain-name:value = 'd.example']", [],
     ["FOLLOWEDBY is not supported"]),
    ("[ipv4-addr:value = '198.51.100.1'] WITHIN 60 SECONDS", [], ["qualifier WITHIN 60 SECONDS is not supported"]),
    ("[ipv4-addr:value = '198.51.100.1'] REPEATS 5 TIMES", [], ["qualifier REPEATS 5 TIMES is not supported"]),
    ("[ipv4-addr:value = '198.51.100.1'] START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00Z'", [],
     ["qualifier START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00Z' is not supported"]),
    ("[domain-name:value MATCHES '^evil']", [], ["operator MATCHES on domain-name:value is not supported"]),
    ("[url:value LIKE 'http://%.example/']", [], ["operator LIKE on url:value is not supported"]),
    ("[domain-name:value != 'x.example']", [], ["operator != on domain-name:value is not supported"]),
    ("[domain-name:value NOT = 'x.example']", [], ["NOT = on domain-name:value is not supported"]),
    ("[file:hashes.SSDEEP = '3:abc']", [], ["hash algorithm SSDEEP is not supported"]),
    ("[process:name = 'evil.exe']", [], ["object path process:name is not supported"]),
    ("[domain-name:value = 'ok.example'] OR [process:name = 'x'] OR [ipv4-addr:value = '198.51.100.2'] WITHIN 5 SECONDS",
     [Ioc("domain", "ok.example")], ["object path process:name is not supported",
                                     "qualifier WITHIN 5 SECONDS is not supported"]),
    ("[ipv4-addr:value = '198.51.100.1'", [], ["invalid pattern"]),
]


@pytest.mark.parametrize(("pattern", "iocs", "reasons"), PATTERNS)
def test_pattern_reduction(pattern: str, iocs: list[Ioc], reasons: list[str]):
    got, why = reduce(pattern)
    if reasons == ["invalid pattern"]:
        assert len(why) == 1 and why[0].startswith("invalid pattern:")
        return
    assert got == iocs
    assert why == reasons


def indicator(i: int, pattern: str, **extra) -> dict:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{i:08d}-0000-4000-8000-000000000000",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "pattern": pattern,
            "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", **extra}


def test_bundle_mapping(tmp_path: Path):
    tlp_green = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
    objects = [
        {"type": "identity", "id": "identity--1", "name": "ACME CERT"},
        {"type": "marking-definition", "id": "marking-definition--custom", "definition_type": "tlp",
         "definition": {"tlp": "red"}},
        {"type": "malware", "id": "malware--1", "name": "Emotet", "is_family": True},
        indicator(1, "[ipv4-addr:value = '198.51.100.1']", confidence=80, valid_until="2030-01-01T00:00:00Z",
                  labels=["c2"], indicator_types=["malicious-activity"], created_by_ref="identity--1",
                  object_marking_refs=[tlp_green], external_references=[{"source_name": "r", "url": "https://r.example/1"}],
                  kill_chain_phases=[{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "c2"}]),
        indicator(2, "[domain-name:value = 'old.example']"),
        indicator(2, "[domain-name:value = 'new.example']", modified="2024-02-01T00:00:00.000Z",
                  object_marking_refs=["marking-definition--custom"]),
        indicator(3, "[domain-name:value = 'gone.example']", revoked=True),
        indicator(4, "rule x { condition: true }", pattern_type="yara"),
        indicator(5, "[ipv4-addr:value = '198.51.100.5'] FOLLOWEDBY [ipv4-addr:value = '198.51.100.6']"),
        indicator(6, "[domain-name:value = 'benign.example']", indicator_types=["benign"]),
        {"type": "relationship", "id": "relationship--1", "relationship_type": "indicates",
         "source_ref": indicator(1, "")["id"], "target_ref": "malware--1"},
    ]
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps({"type": "bundle", "id": "bundle--x", "objects": objects}))
    r = parse("stix", f)
    got = {x["value"]: x for x in rows(r)}
    assert set(got) == {"198.51.100.1", "new.example", "benign.example"}
    one = got["198.51.100.1"]
    assert (one["type"], one["confidence"], one["tlp"], one["threat_type"], one["reference"], one["malware_family"]) == (
        "ip", 80, "green", "malicious", "https://r.example/1", ["Emotet"])
    assert one["tags"] == ["c2", "malicious-activity", "kill-chain:lockheed-martin-cyber-kill-chain:c2",
                           "created-by:ACME CERT"]
    assert one["valid_until"].year == 2030 and one["valid_from"].year == 2024
    assert got["new.example"]["tlp"] == "red" and got["new.example"]["reference"].startswith("indicator--")
    assert got["benign.example"]["detect"] is False and one["detect"] is True
    assert r.meta["counts"] == {"revoked": 1}
    assert sorted(u.reason for u in r.unsupported) == ["FOLLOWEDBY is not supported",
                                                        "pattern_type 'yara' is not supported"]


@pytest.mark.parametrize("wrap", ["envelope", "list", "object"])
def test_taxii_envelope_list_and_single_object(tmp_path: Path, wrap: str):
    ind = indicator(1, "[ipv4-addr:value = '198.51.100.1']")
    doc = {"envelope": {"more": False, "objects": [ind]}, "list": [ind], "object": ind}[wrap]
    f = tmp_path / "x.json"
    f.write_text(json.dumps(doc))
    assert [x["value"] for x in rows(parse("stix", f))] == ["198.51.100.1"]
