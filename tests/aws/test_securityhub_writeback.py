"""Security Hub write-back: GetFindings (moto and a local Security Hub), enrichment, BatchUpdateFindings
against a local server answering in the documented shape; the requests it receives are checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cairn.actions.securityhub_filters import build_filters, parse_filter
from cairn.actions.securityhub_writeback import MARKER_KEY, WritebackOptions, fetch_findings, run_writeback
from cairn.context.aws import Clients
from cairn.errors import ConfigError

from .conftest import BAD_DOMAIN, BAD_IP, PAY, WEB, boto
from .findings import CSPM_PRODUCT, cspm_finding, gd_finding

UNKNOWN = "999988887777"
INSTANCE = "i-0abc1234def567890"


def _updates(hub: Any) -> list[dict[str, Any]]:
    return [b for m, p, _, b in hub.server.requests if m == "PATCH" and p == "/findings/batchupdate"]


def _check_limits(body: dict[str, Any]) -> None:
    assert 1 <= len(body["FindingIdentifiers"]) <= 100
    udf = body["UserDefinedFields"]
    assert len(udf) <= 50 and all(len(k) <= 128 and len(v) <= 1024 for k, v in udf.items())
    assert udf[MARKER_KEY].startswith("v1 ")
    if "Note" in body:
        assert 0 < len(body["Note"]["Text"]) <= 512 and body["Note"]["UpdatedBy"]


def _run(hub_ws: Any, filters: dict[str, Any] | None = None, **opts: Any) -> Any:
    ws, engine = hub_ws
    dry = opts.pop("dry_run", False)
    return run_writeback(ws, engine, Clients(ws.config.aws), filters or {}, WritebackOptions(**opts), dry_run=dry)


def test_filters() -> None:
    assert parse_filter("AwsAccountId=111122223333") == ("AwsAccountId", {"Value": "111122223333",
                                                                          "Comparison": "EQUALS"})
    assert parse_filter("ProductName!=Inspector")[1]["Comparison"] == "NOT_EQUALS"
    assert parse_filter("Title^=EC2")[1] == {"Value": "EC2", "Comparison": "PREFIX"}
    assert parse_filter("UserDefinedFields.cairn:enriched!=x") == (
        "UserDefinedFields", {"Key": "cairn:enriched", "Value": "x", "Comparison": "NOT_EQUALS"})
    assert parse_filter("ResourceTags.team=web")[1] == {"Key": "team", "Value": "web", "Comparison": "EQUALS"}
    assert parse_filter("SeverityNormalized>=70") == ("SeverityNormalized", {"Gte": 70.0})
    assert parse_filter("UpdatedAt=7d") == ("UpdatedAt", {"DateRange": {"Value": 7, "Unit": "DAYS"}})
    f = build_filters(["UpdatedAt>=2026-11-01", "UpdatedAt<=2026-11-02T00:00:00Z", "SeverityLabel=HIGH",
                       "SeverityLabel=CRITICAL"])
    assert f["UpdatedAt"] == [{"Start": "2026-11-01T00:00:00.000Z", "End": "2026-11-02T00:00:00.000Z"}]
    assert [x["Value"] for x in f["SeverityLabel"]] == ["HIGH", "CRITICAL"]
    assert parse_filter("NetworkSourceIpV4=10.0.0.0/8")[1] == {"Cidr": "10.0.0.0/8"}
    for bad, msg in (("AwsAcountId=1", "did you mean AwsAccountId"), ("Title", "expected KEY=VALUE"),
                     ("UserDefinedFields=x", "is a map"), ("SeverityNormalized>=high", "not a number"),
                     ("UpdatedAt>=yesterday", "not an ISO 8601 time"), ("Title>=x", "does not apply")):
        with pytest.raises(ConfigError, match=msg):
            parse_filter(bad)


def test_get_findings_pages_through_moto(moto: str) -> None:
    """moto's Security Hub: BatchImportFindings, then GetFindings page by page (100 a page)."""
    sh = boto("securityhub", moto)
    findings = [cspm_finding(i, PAY) for i in range(150)]
    for i in range(0, 150, 100):
        assert sh.batch_import_findings(Findings=findings[i:i + 100])["SuccessCount"] == len(findings[i:i + 100])
    from cairn.config import AwsSettings

    clients = Clients(AwsSettings(endpoint_url=moto))
    got = list(fetch_findings(clients, {}))
    assert sorted(f["Id"] for f in got) == sorted(f["Id"] for f in findings)
    assert clients.counter.calls["securityhub.GetFindings"] == 2
    assert len(list(fetch_findings(clients, {}, limit=30))) == 30


def _seed(hub: Any) -> dict[str, dict[str, Any]]:
    f = {
        "bad_ip": gd_finding(1, PAY, ip=BAD_IP, instance=INSTANCE),
        "bad_domain": gd_finding(2, PAY, domain=BAD_DOMAIN),
        "plain1": cspm_finding(1, PAY), "plain2": cspm_finding(2, PAY), "plain3": cspm_finding(4, PAY),
        "analyst": cspm_finding(5, PAY), "ticket": cspm_finding(6, PAY), "web": cspm_finding(7, WEB),
        "unknown": cspm_finding(8, UNKNOWN), "full": cspm_finding(9, WEB),
    }
    f["analyst"]["Note"] = {"Text": "Checked with the bucket owner, exception pending.", "UpdatedBy": "alice",
                            "UpdatedAt": "2026-11-27T11:00:00.000Z"}
    f["ticket"]["UserDefinedFields"] = {"ticket": "SEC-1234"}
    f["full"]["UserDefinedFields"] = {f"k{i:02d}": "v" for i in range(50)}
    hub.client.batch_import_findings(Findings=list(f.values()))
    return f


def _stored(hub: Any, finding: dict[str, Any]) -> dict[str, Any]:
    return hub.findings[(finding["Id"], finding["ProductArn"])]


def test_writeback_enriches_within_the_limits_and_batches_identical_updates(hub: Any, hub_ws: Any) -> None:
    f = _seed(hub)
    s = _run(hub_ws)
    assert (s.fetched, s.enriched, s.updated, s.no_room, s.current) == (10, 10, 9, 1, 0)
    assert s.unprocessed == [] and s.unreadable == []
    bodies = _updates(hub)
    for b in bodies:
        _check_limits(b)
    # plain1..3 get the same update (same account, no network observables): one call for the three.
    sizes = sorted(len(b["FindingIdentifiers"]) for b in bodies)
    assert sizes == [1, 1, 1, 1, 1, 1, 3] and s.batches == 7
    # No per-finding context calls: one GetFindings page and the updates.
    assert s.calls["by_operation"] == {"securityhub.GetFindings": 1, "securityhub.BatchUpdateFindings": 7}

    bad = _stored(hub, f["bad_ip"])
    udf = bad["UserDefinedFields"]
    assert udf["cairn:account"] == f"payments-prod ({PAY})" and udf["cairn:ou"] == "Root/Workloads/Prod"
    assert (udf["cairn:owner"], udf["cairn:environment"]) == ("payments-team", "prod")
    assert udf["cairn:criticality"] == "critical"  # the instance's, above the account's "high"
    assert BAD_IP in udf["cairn:flagged"] and udf[f"cairn:ip:{BAD_IP}"].split(";")[0].split()[0].isdigit()
    assert "local-bad" in udf[f"cairn:ip:{BAD_IP}"]
    assert udf["cairn:contacts"] == "pay-sec@example.com" and udf["cairn:tag:cost-center"] == "2040"
    note = bad["Note"]
    assert note["UpdatedBy"] == "cairn" and len(note["Text"]) <= 512
    assert note["Text"].startswith(f"cairn: Account payments-prod ({PAY}), OU Root/Workloads/Prod, env prod")
    assert f"Flagged: {BAD_IP}" in note["Text"]
    assert BAD_DOMAIN in _stored(hub, f["bad_domain"])["UserDefinedFields"]["cairn:flagged"]
    # Someone else's note stays; cairn's summary goes to a field. Other tools' fields stay.
    analyst = _stored(hub, f["analyst"])
    assert analyst["Note"]["UpdatedBy"] == "alice"
    assert analyst["UserDefinedFields"]["cairn:summary"].startswith("cairn: Account payments-prod")
    assert _stored(hub, f["ticket"])["UserDefinedFields"]["ticket"] == "SEC-1234"
    unknown = _stored(hub, f["unknown"])
    assert unknown["UserDefinedFields"]["cairn:account"] == UNKNOWN and "(no context)" in unknown["Note"]["Text"]
    assert _stored(hub, f["web"])["UserDefinedFields"]["cairn:owner"] == "web-team"
    # 50 fields of others: no room for the marker, so the finding is left alone (and counted).
    assert MARKER_KEY not in _stored(hub, f["full"])["UserDefinedFields"]

    # Run again: every finding already carries its update; nothing is written.
    again = _run(hub_ws)
    assert (again.current, again.updated, again.batches) == (9, 0, 0) and len(_updates(hub)) == 7

    # The provider re-imports a finding with a new UpdatedAt and the same content: still current.
    re1 = {**_stored(hub, f["plain1"]), "UpdatedAt": "2026-11-28T08:00:00.000Z"}
    # ... and the GuardDuty finding with a new domain that is on the list: updated.
    re2 = {**_stored(hub, f["bad_ip"]), "UpdatedAt": "2026-11-28T08:00:00.000Z",
           "Network": {"Direction": "OUT", "DestinationDomain": BAD_DOMAIN}}
    hub.client.batch_import_findings(Findings=[re1, re2])
    third = _run(hub_ws)
    assert (third.updated, third.current) == (1, 8)
    assert BAD_DOMAIN in _stored(hub, f["bad_ip"])["UserDefinedFields"]["cairn:flagged"]


def test_context_changes_are_written_again(hub: Any, hub_ws: Any, tmp_path: Path) -> None:
    from cairn.context import load_files

    f = {"a": cspm_finding(1, WEB), "b": cspm_finding(2, WEB)}
    hub.client.batch_import_findings(Findings=list(f.values()))
    assert _run(hub_ws).updated == 2
    ws, engine = hub_ws
    inv = tmp_path / "web.yaml"
    inv.write_text(f"accounts:\n  - {{account_id: '{WEB}', name: web-prod, owner: web-platform, environment: prod}}\n")
    load_files(ws, engine, [inv])  # a second source for the account: the file's values win
    s = _run(hub_ws)
    assert s.updated == 2 and s.batches == 1
    udf = _stored(hub, f["a"])["UserDefinedFields"]
    assert (udf["cairn:account"], udf["cairn:owner"]) == (f"web-prod ({WEB})", "web-platform")


def test_batches_hold_at_most_100_findings(hub: Any, hub_ws: Any) -> None:
    findings = [cspm_finding(i, PAY) for i in range(250)]
    for i in range(0, 250, 100):
        hub.client.batch_import_findings(Findings=findings[i:i + 100])
    s = _run(hub_ws, {"AwsAccountId": [{"Value": PAY, "Comparison": "EQUALS"}]})
    assert s.updated == 250
    assert [len(b["FindingIdentifiers"]) for b in _updates(hub)] == [100, 100, 50]
    assert s.calls["by_operation"] == {"securityhub.GetFindings": 3, "securityhub.BatchUpdateFindings": 3}
    ids = {i["Id"] for b in _updates(hub) for i in b["FindingIdentifiers"]}
    assert len(ids) == 250 and all(i["ProductArn"] == CSPM_PRODUCT for b in _updates(hub)
                                   for i in b["FindingIdentifiers"])


def test_overwrite_replaces_notes_of_others(hub: Any, hub_ws: Any) -> None:
    f = cspm_finding(5, PAY)
    f["Note"] = {"Text": "old note", "UpdatedBy": "alice", "UpdatedAt": "2026-11-27T11:00:00.000Z"}
    hub.client.batch_import_findings(Findings=[f])
    assert _run(hub_ws, overwrite=True).updated == 1
    stored = _stored(hub, f)
    assert stored["Note"]["UpdatedBy"] == "cairn" and "cairn:summary" not in stored["UserDefinedFields"]


def test_cli_dry_run_and_filters(hub: Any, hub_ws: Any, cli: Any) -> None:
    _seed(hub)
    ws, engine = hub_ws
    engine.close()  # the CLI opens the workspace itself
    r = cli("-w", ws.root, "--json", "securityhub", "enrich", "--dry-run", "--backfill",
            "--filter", f"AwsAccountId={PAY}", "--filter", "ProductName=GuardDuty")
    assert r.code == 0, r.err
    out = r.json()
    assert out["dry_run"] and out["fetched"] == 2 and out["updated"] == 0
    assert {p["status"] for p in out["planned"]} == {"update"} and _updates(hub) == []
    gets = [b for m, p, _, b in hub.server.requests if p == "/findings"]
    assert gets[-1]["Filters"]["AwsAccountId"] == [{"Value": PAY, "Comparison": "EQUALS"}]
    assert gets[-1]["Filters"]["RecordState"] == [{"Value": "ACTIVE", "Comparison": "EQUALS"}]
    assert "UpdatedAt" not in gets[-1]["Filters"]  # --backfill: however old
    r = cli("-w", ws.root, "securityhub", "enrich", "--filter", f"AwsAccountId={WEB}", "--since", "3650d")
    assert r.code == 0, r.err
    assert "updated 1 in 1 BatchUpdateFindings calls" in r.out and "1 without room" in r.out
    assert "Start" in [b for m, p, _, b in hub.server.requests if p == "/findings"][-1]["Filters"]["UpdatedAt"][0]
    bad = cli("-w", ws.root, "securityhub", "enrich", "--filter", "Nope=1")
    assert bad.code == 2 and "not a Security Hub finding filter" in bad.err
    engine.__init__(ws.catalog_path)  # reopen for the fixture's teardown
