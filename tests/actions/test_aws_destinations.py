"""SNS and Security Hub destinations with the real boto3 clients: a moto server on 127.0.0.1 (SNS -> SQS
subscription, BatchImportFindings + GetFindings) and, for the per-finding failures moto does not
produce, a local server answering BatchImportFindings in the documented response shape."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from actions.conftest import HttpServer, Reply, Workplace, make_alert
from cairn.actions import actions_settings, deliver_pending, dispatch
from cairn.outputs.asff import check_finding


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


def test_sns_publish_reaches_a_subscribed_queue(place: Workplace, aws: str) -> None:
    sns, sqs = _client("sns", aws), _client("sqs", aws)
    topic = sns.create_topic(Name="cairn-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="cairn-alerts-q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    cfg = actions_settings({"topic": {"type": "sns", "topic_arn": topic, "endpoint_url": aws,
                                      "region": "us-east-1"}})
    alerts = [make_alert(1), make_alert(2, severity="critical")]
    s = dispatch(place.engine, place.ws, alerts, cfg)
    assert s.delivered == 2, s.errors
    got = []
    for _ in range(5):
        got += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if len(got) >= 2:
            break
    envelopes = [json.loads(m["Body"]) for m in got]
    assert {e["TopicArn"] for e in envelopes} == {topic}
    docs = sorted((json.loads(e["Message"]) for e in envelopes), key=lambda d: d["alert"]["alert_id"])
    assert [d["alert"]["alert_id"] for d in docs] == sorted(a["alert_id"] for a in alerts)
    assert docs[1]["alert"]["severity"] == "critical"
    subjects = {e["Subject"] for e in envelopes}
    assert "[CRITICAL] CloudTrail logging stopped by stratus-red-team-user #2" in subjects
    attrs = {e["MessageAttributes"]["severity"]["Value"] for e in envelopes}
    assert attrs == {"high", "critical"}
    receipts = {r["receipt"] for r in place.outbox()}
    assert all(r and len(r) > 10 for r in receipts)  # SNS MessageIds


def test_sns_missing_topic_is_a_permanent_failure(place: Workplace, aws: str) -> None:
    cfg = actions_settings({"topic": {"type": "sns", "topic_arn": "arn:aws:sns:us-east-1:123456789012:nope",
                                      "endpoint_url": aws}})
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert s.failed == 1 and "NotFound" in s.errors[0]["error"]


def test_securityhub_import_then_get_findings(place: Workplace, aws: str) -> None:
    hub = _client("securityhub", aws)
    cfg = actions_settings({"hub": {"type": "securityhub", "endpoint_url": aws, "region": "us-east-1"}})
    alerts = [make_alert(i, severity=("low", "medium", "high", "critical")[i % 4]) for i in range(150)]
    alerts[0]["title"] = "T" * 5000  # clamped
    alerts[1]["ips"] = [f"198.51.100.{i}" for i in range(200)]
    s = dispatch(place.engine, place.ws, alerts, cfg)
    assert (s.delivered, s.failed, s.retrying) == (150, 0, 0), s.errors[:3]
    findings = []
    for page in hub.get_paginator("get_findings").paginate():
        findings += page["Findings"]
    ours = {f["Id"]: f for f in findings if f["Id"].startswith("cairn/")}
    assert len(ours) == 150
    f = ours[f"cairn/us-east-1/{alerts[3]['alert_id']}"]
    assert f["AwsAccountId"] == "123456789012"  # moto's caller account, from STS
    assert f["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    assert f["Severity"]["Label"] == "CRITICAL"
    assert f["UserDefinedFields"]["cairn_alert_id"] == alerts[3]["alert_id"]
    assert f["ThreatIntelIndicators"][0]["Value"] == "203.0.113.7"
    assert check_finding(f) == []
    assert len(ours[f"cairn/us-east-1/{alerts[0]['alert_id']}"]["Title"]) == 256
    receipts = {r["receipt"] for r in place.outbox()}
    assert receipts == set(ours)


def _import_reply(failed: dict[str, str]) -> Any:
    """A BatchImportFindings answer failing the findings of the given alert ids with the given codes."""
    def reply(body: dict[str, Any]) -> Reply:
        fails = [{"Id": f["Id"], "ErrorCode": failed[f["UserDefinedFields"]["cairn_alert_id"]],
                  "ErrorMessage": "rejected by test"}
                 for f in body["Findings"] if f["UserDefinedFields"]["cairn_alert_id"] in failed]
        doc = {"FailedCount": len(fails), "SuccessCount": len(body["Findings"]) - len(fails), "FailedFindings": fails}
        return Reply(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
    return reply


def test_securityhub_per_finding_failures(place: Workplace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    alerts = [make_alert(i) for i in range(5)]
    failed = {alerts[1]["alert_id"]: "InvalidInput", alerts[3]["alert_id"]: "InternalFailure"}
    server = HttpServer()
    make = _import_reply(failed)
    server.responder = lambda req: make(req.json())
    try:
        cfg = actions_settings({"hub": {"type": "securityhub", "endpoint_url": server.url, "region": "eu-west-1",
                                        "account_id": "111122223333"}})
        s = dispatch(place.engine, place.ws, alerts, cfg)
        assert (s.delivered, s.failed, s.retrying) == (3, 1, 1)
        [req] = server.requests
        assert req.path == "/findings/import"
        assert len(req.json()["Findings"]) == 5
        assert all(check_finding(f) == [] for f in req.json()["Findings"])
        rows = {r["alert_id"]: r for r in place.outbox()}
        assert rows[alerts[1]["alert_id"]]["status"] == "failed"
        assert "InvalidInput" in rows[alerts[1]["alert_id"]]["last_error"]
        assert rows[alerts[3]["alert_id"]]["status"] == "pending"
        assert "InternalFailure" in rows[alerts[3]["alert_id"]]["last_error"]
        # the retry sends only the one still pending, and it goes through now
        failed.clear()
        s2 = deliver_pending(place.engine, place.ws, cfg, force=True)
        assert s2.delivered == 1
        assert [f["UserDefinedFields"]["cairn_alert_id"] for f in server.requests[-1].json()["Findings"]] == \
            [alerts[3]["alert_id"]]
    finally:
        server.close()
