"""The triage action: the alert is triaged over the lake (a Stratus detonation ingested) and the
notification carries the triage summary; without cairn.triage the item waits with a clear error."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions.conftest import HttpServer, make_alert
from cairn.actions import actions_settings, dispatch
from cairn.outputs.asff import check_finding
from conftest import Lake, bundled_stratus_dir

STOP = "aws.defense-evasion.cloudtrail-stop"


def _alert() -> dict[str, Any]:
    rec = json.loads((bundled_stratus_dir() / f"{STOP}.json").read_text())[0]
    return make_alert(1, identity=rec["userIdentity"]["arn"], ips=[rec["sourceIPAddress"]],
                      account_id=rec["recipientAccountId"], first_seen=rec["eventTime"].replace("Z", "+00:00"),
                      last_seen=rec["eventTime"].replace("Z", "+00:00"), event_uids=[rec["eventID"]],
                      resource=None, created_at="2024-07-31T13:10:00+00:00", updated_at="2024-07-31T13:10:00+00:00")


@pytest.fixture(scope="module")
def stop_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """One lake for the module: triage's first enrichment of a workspace is the slow part."""
    lake = Lake(tmp_path_factory.mktemp("triage") / "ws")
    lake.ingest(bundled_stratus_dir() / f"{STOP}.json")
    try:
        yield lake
    finally:
        lake.close()


@pytest.fixture(autouse=True)
def empty_outbox(stop_lake: Lake) -> None:
    from cairn.actions.outbox import ensure_outbox

    ensure_outbox(stop_lake.engine)
    stop_lake.engine.execute("DELETE FROM _cairn_outbox")


def test_triage_then_notify_with_summary(stop_lake: Lake, tmp_path: Path) -> None:
    alert = _alert()
    out = tmp_path / "triaged.jsonl"
    cfg = actions_settings({"tri": {"type": "triage", "notify": "file", "path": str(out), "before": "2h",
                                    "after": "1h"}})
    s = dispatch(stop_lake.engine, stop_lake.ws, [alert], cfg)
    assert s.delivered == 1, s.errors
    doc = json.loads(out.read_text())
    tri = doc["triage"]
    assert tri["summary"].startswith("arn:aws:iam::143434273843:user/christophe: 1 events")
    assert "StopLogging" in tri["fields"]["cairn_triage_top_apis"]
    assert tri["note"].startswith("cairn triage: ") and len(tri["note"]) <= 512
    assert doc["alert"]["alert_id"] == alert["alert_id"]


def test_triage_to_slack_shows_the_summary(stop_lake: Lake, http: HttpServer) -> None:
    cfg = actions_settings({"tri": {"type": "triage", "notify": "slack", "webhook_url": f"{http.url}/hook"}})
    assert dispatch(stop_lake.engine, stop_lake.ws, [_alert()], cfg).delivered == 1
    blocks = http.requests[0].json()["blocks"]
    triage_block = [b for b in blocks if b["type"] == "section" and "text" in b]
    assert triage_block and triage_block[0]["text"]["text"].startswith("*Triage:* arn:aws:iam::143434273843:user/")


def test_triage_summary_becomes_the_security_hub_note(stop_lake: Lake) -> None:
    from cairn.actions.destinations import DeliveryContext
    from cairn.actions.destinations.securityhub import SecurityHubDestination
    from cairn.actions.destinations.triage import TriageDestination

    cfg = actions_settings({"tri": {"type": "triage", "notify": "securityhub", "account_id": "123456789012",
                                    "region": "us-east-1"}}).get("tri")
    dest = TriageDestination(cfg, DeliveryContext(engine=stop_lake.engine, workspace=stop_lake.ws))
    assert isinstance(dest.inner, SecurityHubDestination)
    triaged = dest.triaged(_alert())
    dest.inner._client = type("C", (), {"meta": type("M", (), {"region_name": "us-east-1"})()})()
    finding = dest.inner.finding(triaged)
    assert finding["Note"]["Text"].startswith("cairn triage: arn:aws:iam::143434273843:user/christophe")
    assert finding["UserDefinedFields"]["cairn_triage_events"] == "1"
    assert check_finding(finding) == []


def test_without_cairn_triage_the_item_waits(stop_lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cairn.triage

    monkeypatch.setitem(sys.modules, "cairn.triage", None)  # import fails as if the package were absent
    cfg = actions_settings({"tri": {"type": "triage", "notify": "file", "path": str(tmp_path / "t.jsonl")}})
    s = dispatch(stop_lake.engine, stop_lake.ws, [_alert()], cfg)
    assert (s.delivered, s.retrying) == (0, 1)
    assert "cairn.triage is not available" in s.errors[0]["error"] and "retried" in s.errors[0]["error"]
    monkeypatch.setitem(sys.modules, "cairn.triage", cairn.triage)  # back, the same module object
    from cairn.actions import deliver_pending

    assert deliver_pending(stop_lake.engine, stop_lake.ws, cfg, force=True).delivered == 1
