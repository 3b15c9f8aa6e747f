"""The event handler (Lambda entry point and ``cairn handle``) against a local Security Hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cairn.actions import lambda_handler
from cairn.actions.lambda_handler import handle_event
from cairn.actions.securityhub_writeback import MARKER_KEY
from cairn.context.aws import Clients
from cairn.errors import InputError

from .conftest import BAD_IP, PAY
from .findings import gd_finding, guardduty_event, imported_event


def _handle(hub_ws: Any, event: dict[str, Any], **kw: Any) -> dict[str, Any]:
    ws, engine = hub_ws
    return handle_event(event, ws, engine, Clients(ws.config.aws), **kw)


def _updates(hub: Any) -> list[dict[str, Any]]:
    return [b for m, p, _, b in hub.server.requests if m == "PATCH" and p == "/findings/batchupdate"]


def test_imported_event_is_enriched_and_our_own_update_event_is_skipped(hub: Any, hub_ws: Any) -> None:
    f = gd_finding(1, PAY, ip=BAD_IP)
    hub.client.batch_import_findings(Findings=[f])
    r = _handle(hub_ws, imported_event(f))
    assert r["status"] == "ok" and r["kind"] == "securityhub"
    assert [(x["id"], x["status"], x["flagged"]) for x in r["findings"]] == [(f["Id"], "update", [BAD_IP])]
    assert r["updated"] == 1 and len(_updates(hub)) == 1
    # BatchUpdateFindings makes Security Hub emit an import event carrying the updated finding.
    after = hub.findings[(f["Id"], f["ProductArn"])]
    assert after["UserDefinedFields"][MARKER_KEY] == r["findings"][0]["marker"]
    again = _handle(hub_ws, imported_event(after, "evt-2"))
    assert [x["status"] for x in again["findings"]] == ["current"] and again["updated"] == 0
    assert len(_updates(hub)) == 1  # nothing written: no loop


def test_guardduty_event_updates_the_security_hub_copy(hub: Any, hub_ws: Any) -> None:
    f = gd_finding(7, PAY, ip=BAD_IP)
    hub.client.batch_import_findings(Findings=[f])
    r = _handle(hub_ws, guardduty_event(PAY, 7))
    assert r["kind"] == "guardduty" and r["updated"] == 1
    gets = [b for m, p, _, b in hub.server.requests if p == "/findings"]
    assert gets[-1]["Filters"] == {"Id": [{"Value": f["Id"], "Comparison": "EQUALS"}]}
    missing = _handle(hub_ws, guardduty_event(PAY, 8))
    assert missing["status"] == "not_in_securityhub" and "findings" not in missing


def test_other_events_and_unknown_findings(hub: Any, hub_ws: Any) -> None:
    assert _handle(hub_ws, {"detail-type": "AWS API Call via CloudTrail", "detail": {}})["status"] == "ignored"
    # A finding Security Hub does not have: BatchUpdateFindings answers FindingNotFound, reported.
    r = _handle(hub_ws, imported_event(gd_finding(9, PAY)))
    assert r["updated"] == 0 and r["unprocessed"][0]["error"] == "FindingNotFound"
    with pytest.raises(InputError, match=r"detail\.findings"):
        _handle(hub_ws, {"detail-type": "Security Hub Findings - Imported", "id": "e1", "detail": {}})
    dry = _handle(hub_ws, imported_event(gd_finding(10, PAY, ip=BAD_IP)), dry_run=True)
    assert dry["findings"][0]["update"]["UserDefinedFields"]["cairn:flagged"].startswith(BAD_IP)


def test_cli_handle(hub: Any, hub_ws: Any, cli: Any, tmp_path: Path) -> None:
    f = gd_finding(11, PAY, ip=BAD_IP)
    hub.client.batch_import_findings(Findings=[f])
    ev = tmp_path / "event.json"
    ev.write_text(json.dumps(imported_event(f)))
    ws, engine = hub_ws
    engine.close()
    r = cli("-w", ws.root, "--json", "handle", ev)
    assert r.code == 0, r.err
    assert r.json()["findings"][0]["status"] == "update"
    ev.write_text(json.dumps(imported_event(hub.findings[(f["Id"], f["ProductArn"])], "evt-2")))
    r = cli("-w", ws.root, "handle", ev)
    assert r.code == 0 and f"{f['Id'][-20:]}: current" in r.out.replace("\n", "")
    (tmp_path / "bad.json").write_text("{not json")
    bad = cli("-w", ws.root, "handle", tmp_path / "bad.json")
    assert bad.code == 3 and "not JSON" in bad.err
    engine.__init__(ws.catalog_path)


def test_lambda_entry_point(hub: Any, template_ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold start copies the prebuilt workspace of the image, then each event is handled warm."""
    f = gd_finding(12, PAY, ip=BAD_IP)
    hub.client.batch_import_findings(Findings=[f])
    root = tmp_path / "lambda-tmp" / "cairn"
    monkeypatch.setenv("CAIRN_WORKSPACE_TEMPLATE", str(template_ws))
    monkeypatch.setenv("CAIRN_WORKSPACE", str(root))
    monkeypatch.setenv("CAIRN_CONTEXT_SYNC", "off")
    monkeypatch.setattr(lambda_handler, "_WARM", None)
    try:
        r = lambda_handler.handler(imported_event(f), None)
        assert r["updated"] == 1
        udf = hub.findings[(f["Id"], f["ProductArn"])]["UserDefinedFields"]
        assert udf["cairn:account"] == f"payments-prod ({PAY})"
        assert (root / "catalog.duckdb").exists()
        assert lambda_handler.handler(imported_event(hub.findings[(f["Id"], f["ProductArn"])]), None)["current"] == 1
    finally:
        if lambda_handler._WARM is not None:
            lambda_handler._WARM.engine.close()
        monkeypatch.setattr(lambda_handler, "_WARM", None)


def test_lambda_cold_start_reads_organizations_once(org: Any, hub: Any, template_ws: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """CAIRN_CONTEXT_SYNC=org: the first event reads Organizations (moto); later ones make no such call."""
    monkeypatch.setenv("CAIRN_AWS_ENDPOINT_URL", org.endpoint)
    monkeypatch.setenv("CAIRN_AWS_ENDPOINT_URL_SECURITYHUB", hub.server.url)
    monkeypatch.setenv("CAIRN_WORKSPACE_TEMPLATE", str(template_ws))
    monkeypatch.setenv("CAIRN_WORKSPACE", str(tmp_path / "cairn"))
    monkeypatch.setenv("CAIRN_CONTEXT_SYNC", "org")
    monkeypatch.setattr(lambda_handler, "_WARM", None)
    f1, f2 = gd_finding(21, org.payments, ip=BAD_IP), gd_finding(22, org.lab)
    hub.client.batch_import_findings(Findings=[f1, f2])
    try:
        r1 = lambda_handler.handler(imported_event(f1), None)
        org_calls = lambda_handler._WARM.clients.counter.by_service().get("organizations", 0)
        assert r1["updated"] == 1 and org_calls >= 5
        udf = hub.findings[(f1["Id"], f1["ProductArn"])]["UserDefinedFields"]
        assert (udf["cairn:account"], udf["cairn:ou"]) == (f"payments-prod ({org.payments})", "Root/Workloads/Prod")
        assert "SECURITY: Pay Sec <pay-sec@example.com>" in udf["cairn:contacts"]
        r2 = lambda_handler.handler(imported_event(f2, "evt-2"), None)
        assert r2["updated"] == 1
        assert lambda_handler._WARM.clients.counter.by_service()["organizations"] == org_calls  # within the TTL
        assert hub.findings[(f2["Id"], f2["ProductArn"])]["UserDefinedFields"]["cairn:ou"] == "Root/Sandbox"
    finally:
        if lambda_handler._WARM is not None:
            lambda_handler._WARM.engine.close()
        monkeypatch.setattr(lambda_handler, "_WARM", None)


@pytest.mark.parametrize(("content", "message"), [
    (b"\x00\xffbin", "not UTF-8 text (byte 0xff at offset 1)"),
    (b'{"detail-type":"Security Hub Findings - Imported","detail":"x"}',
     "Security Hub Findings - Imported event: detail must be a JSON object, got a string"),
    (b'{"detail-type":"Security Hub Findings - Imported","detail":{"findings":"x"}}',
     "without detail.findings[] (got a string)"),
    (b'{"detail-type":"Security Hub Findings - Imported","detail":{"findings":[{}, 3]}}',
     "detail.findings[1] must be a finding object, got int"),
    (b'{"detail-type":"GuardDuty Finding"}', "GuardDuty Finding event: detail must be a JSON object, got null"),
    (b'{"detail-type":"GuardDuty Finding","detail":{"arn":7}}', "without detail.arn (got int)"),
])
def test_cli_handle_names_the_file_and_what_is_wrong(cli: Any, tmp_path: Path, content: bytes, message: str) -> None:
    """Malformed events are reported before any AWS call (no Security Hub here), naming the file."""
    ev = tmp_path / "event.dat"
    ev.write_bytes(content)
    r = cli("-w", tmp_path / "ws", "handle", "--dry-run", ev)
    err = " ".join(r.err.split())
    assert r.code == 3, r.err
    assert f"{ev}:" in r.err.replace("\n", "") and message in err, r.err
    assert "Traceback" not in r.err


def test_cli_handle_names_the_event_of_a_list(cli: Any, tmp_path: Path) -> None:
    ev = tmp_path / "events.json"
    ev.write_text(json.dumps([{"detail-type": "AWS API Call via CloudTrail", "detail": "ignored"}, [1]]))
    r = cli("-w", tmp_path / "ws", "handle", "--dry-run", ev)
    assert r.code == 3 and "events.json:[1]: an EventBridge event must be a JSON object, got a list" in \
        r.err.replace("\n", "")


def test_event_findings_rejects_a_non_object_detail() -> None:
    with pytest.raises(InputError, match=r"^e9: Security Hub Findings - Imported event: detail must be"):
        lambda_handler.event_findings({"id": "e9", "detail-type": "Security Hub Findings - Imported",
                                       "detail": "x"}, None)
    assert lambda_handler.event_findings({"detail-type": "Other", "detail": "x"}, None) == ("ignored", [])
