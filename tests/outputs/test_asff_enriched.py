"""ASFF output of enriched findings: valid findings within every Security Hub limit, with cairn's
ThreatIntelIndicators, UserDefinedFields and Note."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cairn.demo import samples_dir
from cairn.intel.feeds import load_target
from cairn.intel.store import IntelStore
from cairn.outputs.asff import check_finding
from cairn.outputs.asff_enriched import enrich_finding, guardduty_to_asff, iter_findings
from cairn.outputs.stream import enrich_inputs

SH = samples_dir() / "securityhub" / "panther" / "asff-findings.jsonl"


def _new_problems(f: dict[str, Any], original: dict[str, Any] | None = None) -> list[str]:
    """Problems of ``f`` that the original finding did not have (the Panther samples carry a Types
    item without a category, as recorded)."""
    before = set(check_finding(original)) if original else set()
    return [p for p in check_finding(f) if p not in before]


def test_cli_asff_of_the_bundled_findings(cli: Any, ws_dir: Path) -> None:
    r = cli("-w", ws_dir, "enrich", samples_dir(), "--format", "asff", "--updated-by", "soc-bot")
    assert r.code == 0, r.err
    findings = [json.loads(line) for line in r.out.splitlines()]
    assert len(findings) == 10  # 2 GuardDuty + 8 Security Hub; CloudTrail, VPC flow, Route 53 are skipped
    assert "skipped 413 cloudtrail records" in r.err
    recorded = {json.loads(line)["Id"]: json.loads(line) for line in SH.read_text().splitlines()}
    for f in findings:
        assert _new_problems(f, recorded.get(f["Id"])) == [], f["Id"]
        assert f["UserDefinedFields"]["cairn_enriched"] == "true"
        assert f["Note"]["UpdatedBy"] == "soc-bot" and f["Note"]["Text"].startswith("cairn:")
    gd = [f for f in findings if f["ProductArn"].endswith("product/aws/guardduty")]
    assert len(gd) == 2 and all(t.split("/")[0] in ("TTPs", "Effects", "Unusual Behaviors") for f in gd
                                for t in f["Types"])
    originals = {json.loads(line)["Id"] for line in SH.read_text().splitlines()}
    assert originals <= {f["Id"] for f in findings}


def test_threat_intel_indicators_from_a_feed(scratch: Any, tmp_path: Path) -> None:
    # A test feed (made here, not a real one) listing the address of one Security Hub sample finding.
    feed = tmp_path / "c2.csv"
    feed.write_text("ip,threat\n111.111.111.111,c2\n", encoding="utf-8")
    store = IntelStore(scratch.ws, scratch.engine)
    load_target(store, str(feed), "testc2", fmt="csv", columns={"value": "ip", "threat_type": "threat"})
    r = enrich_inputs(scratch.engine, scratch.ws, [str(SH)])
    findings = list(iter_findings(scratch.engine, "securityhub_findings", r.views["securityhub_findings"],
                                  r.matches))
    hit = [f for f in findings if any(i["Value"] == "111.111.111.111" for i in f.get("ThreatIntelIndicators", []))]
    assert len(hit) == 1
    ind = next(i for i in hit[0]["ThreatIntelIndicators"] if i["Value"] == "111.111.111.111")
    assert ind["Type"] == "IPV4_ADDRESS" and ind["Category"] == "COMMAND_AND_CONTROL" and ind["Source"] == "testc2"
    assert ind["LastObservedAt"].endswith("Z")
    assert "111.111.111.111" in hit[0]["UserDefinedFields"]["cairn_flagged"]
    assert "111.111.111.111" in hit[0]["Note"]["Text"]


def _enrichment(i: int, score: int, typ: str = "ip") -> dict[str, Any]:
    value = f"198.18.{i // 250}.{i % 250}" if typ == "ip" else f"{'x' * 300}{i}.example"
    return {"field": "Action." + "Deep." * 40 + f"F{i}", "type": typ, "value": value, "score_id": score,
            "score": "Malicious" if score == 10 else "Unknown", "verdict_sources": ["feed-" + "y" * 80],
            "why": "listed " * 300, "asn": 64500 + i, "as_org": "Org " * 200, "country": "NL",
            "identity_person": "Person " * 100, "account_name": "acct"}


def test_limits_hold_whatever_the_enrichment() -> None:
    base = json.loads(SH.read_text().splitlines()[0])
    base["UserDefinedFields"] = {"existing": "kept", "cairn_max_score": "theirs"}
    enrichment = [_enrichment(i, 10 if i % 3 else 0) for i in range(120)] + [_enrichment(500, 9, "domain")]
    f = enrich_finding(base, enrichment, [], "2024-05-23T12:00:00Z", updated_by="u" * 600)
    assert _new_problems(f, base) == []
    assert len(f["ThreatIntelIndicators"]) == 5
    assert all(i["Type"] == "IPV4_ADDRESS" and len(i["Source"]) <= 64 for i in f["ThreatIntelIndicators"])
    udf = f["UserDefinedFields"]
    assert len(udf) == 50 and udf["existing"] == "kept" and udf["cairn_max_score"] == "theirs"
    assert all(len(k) <= 128 and len(v) <= 1024 for k, v in udf.items())
    assert len(f["Note"]["Text"]) <= 512 and len(f["Note"]["UpdatedBy"]) <= 512
    assert f["Note"]["Text"].startswith("cairn: 81 of 121 observables flagged (worst: 10 Malicious).")


def test_existing_indicators_are_kept_first() -> None:
    base = json.loads(SH.read_text().splitlines()[0])
    base["ThreatIntelIndicators"] = [{"Type": "DOMAIN", "Value": "evil.example", "Source": "vendor"}]
    f = enrich_finding(base, [_enrichment(1, 10), _enrichment(2, 8)], [], None)
    assert [i["Value"] for i in f["ThreatIntelIndicators"]] == ["evil.example", "198.18.0.1", "198.18.0.2"]
    assert _new_problems(f, base) == []


def test_no_observables_note() -> None:
    f = enrich_finding(json.loads(SH.read_text().splitlines()[0]), [], [], None)
    assert f["Note"]["Text"] == "cairn: no observables to enrich in this finding."
    assert "ThreatIntelIndicators" not in f or f["ThreatIntelIndicators"]


@pytest.mark.parametrize("archived, state", [(False, "ACTIVE"), (True, "ARCHIVED")])
def test_guardduty_to_asff_minimal_row(archived: bool, state: str) -> None:
    row = {"arn": "arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/f", "region": "us-east-1",
           "account_id": "123456789012", "type": "Recon:EC2/PortProbeUnprotectedPort", "title": "t",
           "severity": 5.0, "severity_label": "Medium", "archived": archived, "access_key_id": "AKIAEXAMPLE123456",
           "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z"}
    f = guardduty_to_asff(row)
    assert f["Types"] == ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"]
    assert f["RecordState"] == state and f["Resources"][0]["Type"] == "AwsIamAccessKey"
    assert check_finding(f) == []
