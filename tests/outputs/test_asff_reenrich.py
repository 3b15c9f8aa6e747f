"""Re-enriching an ASFF finding cairn already enriched: cairn's own UserDefinedFields and Note are
replaced as a set (no stale ``cairn_*`` key), the finding's own fields and someone else's Note stay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cairn.demo import samples_dir
from cairn.outputs.asff import UDF_MAX_PAIRS, check_finding
from cairn.outputs.asff_enriched import enrich_finding, is_cairn_key

SH = samples_dir() / "securityhub" / "panther" / "asff-findings.jsonl"
IP = "200.249.253.51"  # documentation of the bug: an address put in a test feed made here


def _base() -> dict[str, Any]:
    return json.loads(SH.read_text().splitlines()[0])


def _obs(field: str, value: str, score: int, **extra: Any) -> dict[str, Any]:
    return {"field": field, "type": "ip", "value": value, "score_id": score,
            "score": "Malicious" if score == 10 else "Unknown", **extra}


def test_cli_reenrichment_round_trip(cli: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    r = cli("-w", ws, "enrich", samples_dir() / "securityhub", "-f", "asff")
    assert r.code == 0, r.err
    findings = [json.loads(line) for line in r.out.splitlines()]
    first = next(f for f in findings if any(k.startswith("cairn:Action.") for k in f["UserDefinedFields"]))
    assert first["UserDefinedFields"]["cairn_max_score"] == "0 Unknown"
    first["Network"] = {"SourceIpV4": IP}
    first["UserDefinedFields"]["ticket"] = "SEC-1"  # the finding's own field
    src = tmp_path / "reenrich.json"
    src.write_text(json.dumps(first), encoding="utf-8")
    feed = tmp_path / "f.txt"
    feed.write_text(IP + "\n", encoding="utf-8")
    r = cli("-w", ws, "intel", "load", feed, "--source", "myfeed", "--threat-type", "c2", "--confidence", "90")
    assert r.code == 0, r.err
    r = cli("-w", ws, "enrich", src, "-f", "asff")
    assert r.code == 0, r.err
    (again,) = [json.loads(line) for line in r.out.splitlines()]
    udf = again["UserDefinedFields"]
    assert udf["cairn_max_score"] == "10 Malicious"
    assert udf["cairn_flagged"] == f"{IP} (10)"
    assert udf["ticket"] == "SEC-1"
    assert udf[f"cairn:Network.SourceIpV4/V6:{IP}"].startswith("10 Malicious; sources myfeed")
    assert "worst: 10 Malicious" in again["Note"]["Text"] and again["Note"]["UpdatedBy"] == "cairn"
    assert [i["Value"] for i in again["ThreatIntelIndicators"]] == [IP]
    assert set(check_finding(again)) <= set(check_finding(first))  # no new problem (samples carry one)


def test_stale_cairn_keys_are_dropped_and_foreign_ones_kept() -> None:
    owned = {"account_name": "shared-services", "account_owner": "platform-team"}
    first = enrich_finding(_base(), [_obs("Network.SourceIpV4/V6", "198.51.100.7", 0, **owned),
                                     _obs("Network.DestinationIpV4/V6", "198.51.100.8", 8)], [], None)
    assert first["UserDefinedFields"]["cairn_owners"] == "account shared-services (owner platform-team)"
    assert "cairn_flagged" in first["UserDefinedFields"]
    first["UserDefinedFields"].update({"ticket": "SEC-1", "cairn:ip:198.51.100.7": "written back",
                                       "cairn:account": "prod (111122223333)", "cairn_alert_id": "a-1"})
    again = enrich_finding(first, [_obs("Network.SourceIpV4/V6", IP, 10)], [], None)
    udf = again["UserDefinedFields"]
    assert {k: v for k, v in udf.items() if is_cairn_key(k)} == {
        "cairn_enriched": "true", "cairn_max_score": "10 Malicious", "cairn_flagged": f"{IP} (10)",
        f"cairn:Network.SourceIpV4/V6:{IP}": "10 Malicious"}
    # the finding's own keys, the write-back's and an alert finding's cairn keys are not cairn_enriched's
    assert {k: udf[k] for k in ("ticket", "cairn:ip:198.51.100.7", "cairn:account", "cairn_alert_id")} == {
        "ticket": "SEC-1", "cairn:ip:198.51.100.7": "written back", "cairn:account": "prod (111122223333)",
        "cairn_alert_id": "a-1"}
    assert again["Note"]["Text"].startswith("cairn: 1 of 1 observables flagged (worst: 10 Malicious).")


def test_without_the_marker_cairn_named_keys_are_the_findings_own() -> None:
    base = _base()
    base["UserDefinedFields"] = {"cairn_max_score": "theirs", "cairn:Network.SourceIpV4/V6:" + IP: "theirs too"}
    udf = enrich_finding(base, [_obs("Network.SourceIpV4/V6", IP, 10)], [], None)["UserDefinedFields"]
    assert udf["cairn_max_score"] == "theirs" and udf["cairn:Network.SourceIpV4/V6:" + IP] == "theirs too"
    assert udf["cairn_enriched"] == "true" and udf["cairn_flagged"] == f"{IP} (10)"


def test_reenrichment_stays_within_50_pairs_and_keeps_the_findings_fields() -> None:
    many = [_obs("Network.SourceIpV4/V6", f"198.18.0.{i}", 10) for i in range(60)]
    first = enrich_finding(_base(), many, [], None)
    assert len(first["UserDefinedFields"]) == UDF_MAX_PAIRS
    first["UserDefinedFields"] = {f"own{i}": "x" for i in range(45)} | first["UserDefinedFields"]
    again = enrich_finding(first, many[:2], [], None)
    udf = again["UserDefinedFields"]
    assert all(udf[f"own{i}"] == "x" for i in range(45))
    assert [k for k in udf if is_cairn_key(k)] == ["cairn_enriched", "cairn_max_score", "cairn_flagged",
                                                   "cairn:Network.SourceIpV4/V6:198.18.0.0",
                                                   "cairn:Network.SourceIpV4/V6:198.18.0.1"]
    assert len(udf) == 50 and all(len(k) <= 128 and len(v) <= 1024 for k, v in udf.items())


def test_someone_elses_note_is_kept_and_cairns_own_replaced() -> None:
    base = _base()
    base["Note"] = {"Text": "Analyst: benign, scanner", "UpdatedBy": "alice", "UpdatedAt": "2024-05-01T00:00:00.000Z"}
    first = enrich_finding(base, [_obs("Network.SourceIpV4/V6", IP, 0)], [], None)
    assert first["Note"] == base["Note"]
    assert first["UserDefinedFields"]["cairn_summary"].startswith("cairn: 0 of 1 observables flagged")
    again = enrich_finding(first, [_obs("Network.SourceIpV4/V6", IP, 10)], [], None)
    assert again["Note"] == base["Note"]
    assert again["UserDefinedFields"]["cairn_summary"].startswith("cairn: 1 of 1 observables flagged (worst: 10")
    # once cairn wrote the Note (UpdatedBy), re-enrichment replaces it and leaves no cairn_summary behind
    own = enrich_finding(_base(), [_obs("Network.SourceIpV4/V6", IP, 0)], [], None, updated_by="soc-bot")
    later = enrich_finding(own, [_obs("Network.SourceIpV4/V6", IP, 10)], [], None, updated_by="soc-bot")
    assert later["Note"]["UpdatedBy"] == "soc-bot" and "(worst: 10 Malicious)" in later["Note"]["Text"]
    assert "cairn_summary" not in later["UserDefinedFields"]


def test_owners_are_deduplicated_in_order() -> None:
    acct = {"account_name": "shared-services", "account_owner": "platform-team"}
    f = enrich_finding(_base(), [
        _obs("Network.SourceIpV4/V6", "198.51.100.1", 10, **acct, asset_owner="web-team"),
        _obs("Network.DestinationIpV4/V6", "198.51.100.2", 5, **acct),
        _obs("Action.NetworkConnectionAction.RemoteIpDetails.IpAddressV4", "198.51.100.3", 0,
             identity_person="bob", **acct)], [], None)
    assert f["UserDefinedFields"]["cairn_owners"] == (
        "account shared-services (owner platform-team) | asset owner web-team | identity bob")
    assert f["Note"]["Text"].endswith(
        "Owners: account shared-services (owner platform-team) | asset owner web-team | identity bob")
