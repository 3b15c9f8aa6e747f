"""Webhook and Slack destinations against a local HTTP server: signature, body, shape, retries,
timeouts, permanent failures, and secrets kept out of the outbox and the logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest

from actions.conftest import SECRET, HttpServer, Reply, Workplace, make_alert
from cairn.actions import actions_settings, deliver_pending, dispatch
from cairn.actions.destinations.webhook import verify_signature


def webhook(http: HttpServer, **extra: Any) -> dict[str, Any]:
    return {"hook": {"type": "webhook", "url": f"{http.url}/cairn", "secret": "${CAIRN_TEST_HOOK_SECRET}",
                     "backoff": "10s", **extra}}


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TEST_HOOK_SECRET", SECRET)


def test_webhook_body_and_hmac_signature(place: Workplace, http: HttpServer) -> None:
    alert = make_alert(1)
    s = dispatch(place.engine, place.ws, [alert], actions_settings(webhook(http)))
    assert (s.enqueued, s.delivered, s.retrying, s.failed) == (1, 1, 0, 0)
    [req] = http.requests
    assert req.path == "/cairn"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["X-Cairn-Delivery"] == f"{alert['alert_id']}:hook"
    sig = req.headers["X-Cairn-Signature"]
    assert sig.startswith(f"t={req.headers['X-Cairn-Timestamp']},v1=")
    assert verify_signature(SECRET, req.body, sig)
    assert not verify_signature(SECRET, req.body + b" ", sig)  # any change of the bytes breaks it
    assert not verify_signature("other-secret", req.body, sig)
    assert not verify_signature(SECRET, req.body, sig, now=int(req.headers["X-Cairn-Timestamp"]) + 3600)
    doc = req.json()
    assert doc["schema"] == "cairn.alert/1" and doc["action"] == "hook"
    assert doc["alert"] == json.loads(json.dumps(alert))  # the alert exactly as detect gave it
    [row] = place.outbox()
    assert row["status"] == "delivered" and row["attempts"] == 1 and row["receipt"] == "HTTP 200"


def test_slack_message_shape(place: Workplace, http: HttpServer) -> None:
    cfg = {"chat": {"type": "slack", "webhook_url": f"{http.url}/services/T000/B000/XXXXSECRETXXXX",
                    "channel": "#sec-alerts", "min_severity": "high"}}
    long_title = "x" * 400
    s = dispatch(place.engine, place.ws, [make_alert(1, title=long_title), make_alert(2, severity="low")],
                 actions_settings(cfg))
    assert (s.enqueued, s.delivered, s.unmatched) == (1, 1, 1)  # the low alert does not match
    [req] = http.requests
    msg = req.json()
    assert msg["channel"] == "#sec-alerts"
    assert msg["text"].startswith(":large_orange_circle: [HIGH] x")
    header, section, context = msg["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) == 150  # Block Kit header limit
    assert section["type"] == "section" and 1 <= len(section["fields"]) <= 10
    labels = [f["text"].split("\n")[0] for f in section["fields"]]
    assert "*Identity*" in labels and "*IPs*" in labels
    assert "arn:aws:iam::012345678901:user/stratus-red-team-user" in json.dumps(section)
    assert context["type"] == "context"


def test_500_then_200_is_retried_and_delivered_by_a_later_run(place: Workplace, http: HttpServer) -> None:
    cfg = actions_settings(webhook(http))
    http.script = [Reply(500, b"upstream down")]
    t0 = dt.datetime.now(dt.UTC)
    s1 = dispatch(place.engine, place.ws, [make_alert(1)], cfg, now=t0)
    assert (s1.delivered, s1.retrying) == (0, 1)
    assert "HTTP 500" in s1.errors[0]["error"] and s1.errors[0]["outcome"] == "retrying"
    [row] = place.outbox()
    assert row["status"] == "pending" and row["attempts"] == 1 and "HTTP 500" in row["last_error"]
    wait = (row["next_attempt_at"] - t0).total_seconds()
    assert 5 <= wait <= 10  # backoff 10s with equal jitter
    # not due yet: nothing is sent
    s2 = deliver_pending(place.engine, place.ws, cfg, now=t0 + dt.timedelta(seconds=1))
    assert s2.attempted == 0 and len(http.requests) == 1
    # a later run, once due, delivers it (the default reply is 200)
    s3 = deliver_pending(place.engine, place.ws, cfg, now=t0 + dt.timedelta(seconds=11))
    assert (s3.attempted, s3.delivered) == (1, 1)
    [row] = place.outbox()
    assert row["status"] == "delivered" and row["attempts"] == 2 and row["last_error"] is None
    assert len(http.requests) == 2 and http.requests[0].body != b""
    # and never again
    assert deliver_pending(place.engine, place.ws, cfg, now=t0 + dt.timedelta(days=1)).attempted == 0
    assert dispatch(place.engine, place.ws, [make_alert(1)], cfg).enqueued == 0
    assert len(http.requests) == 2


def test_destination_down_loses_nothing(place: Workplace, http: HttpServer) -> None:
    url = http.url
    http.close()  # nothing listens there now
    cfg = actions_settings({"hook": {"type": "webhook", "url": f"{url}/x", "secret": "${CAIRN_TEST_HOOK_SECRET}"}})
    alerts = [make_alert(i) for i in range(3)]
    s = dispatch(place.engine, place.ws, alerts, cfg)
    assert (s.delivered, s.retrying) == (0, 3)
    assert all("cannot connect" in e["error"] for e in s.errors)
    assert [r["status"] for r in place.outbox()] == ["pending"] * 3
    # the destination comes back (on another port: same action name, new URL)
    back = HttpServer()
    try:
        cfg2 = actions_settings({"hook": {"type": "webhook", "url": f"{back.url}/x",
                                          "secret": "${CAIRN_TEST_HOOK_SECRET}"}})
        s2 = deliver_pending(place.engine, place.ws, cfg2, force=True)
        assert s2.delivered == 3
        assert sorted(r.json()["alert"]["alert_id"] for r in back.requests) == sorted(a["alert_id"] for a in alerts)
    finally:
        back.close()


def test_timeout_is_retried(place: Workplace, http: HttpServer) -> None:
    cfg = actions_settings(webhook(http, timeout="300ms"))
    http.script = [Reply(200, delay=1.5)]
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert s.retrying == 1 and "timed out after 0.3s" in s.errors[0]["error"]
    s2 = deliver_pending(place.engine, place.ws, cfg, force=True)
    assert s2.delivered == 1


def test_4xx_fails_for_good_until_requeued(place: Workplace, http: HttpServer) -> None:
    from cairn.actions import outbox

    cfg = actions_settings(webhook(http))
    http.script = [Reply(400, b"invalid payload")]
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert (s.failed, s.retrying) == (1, 0) and "HTTP 400" in s.errors[0]["error"]
    [row] = place.outbox()
    assert row["status"] == "failed" and row["next_attempt_at"] is None
    assert deliver_pending(place.engine, place.ws, cfg, force=True).attempted == 0
    assert outbox.requeue(place.engine, dt.datetime.now(dt.UTC), actions=["hook"]) == 1
    assert deliver_pending(place.engine, place.ws, cfg).delivered == 1


def test_retry_after_is_honoured(place: Workplace, http: HttpServer) -> None:
    cfg = actions_settings(webhook(http))
    http.script = [Reply(429, b"slow down", {"Retry-After": "120"})]
    t0 = dt.datetime.now(dt.UTC)
    dispatch(place.engine, place.ws, [make_alert(1)], cfg, now=t0)
    [row] = place.outbox()
    assert (row["next_attempt_at"] - t0).total_seconds() >= 120


def test_gives_up_after_max_attempts(place: Workplace, http: HttpServer) -> None:
    cfg = actions_settings(webhook(http, max_attempts=3, backoff="1s"))
    http.default = Reply(503, b"unavailable")
    t = dt.datetime.now(dt.UTC)
    dispatch(place.engine, place.ws, [make_alert(1)], cfg, now=t)
    for _ in range(4):
        t += dt.timedelta(minutes=1)
        deliver_pending(place.engine, place.ws, cfg, now=t)
    [row] = place.outbox()
    assert row["status"] == "failed" and row["attempts"] == 3
    assert row["last_error"].startswith("gave up after 3 attempts: webhook hook: HTTP 503")
    assert len(http.requests) == 3


def test_secrets_never_in_outbox_or_logs(place: Workplace, http: HttpServer, caplog: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    token = "tok-9f8e7d6c5b4a"
    monkeypatch.setenv("CAIRN_TEST_HOOK_URL", f"{http.url}/hook?token={token}")
    slack_path = "/services/T0/B0/slackpathsecret42"
    cfg = actions_settings({
        "hook": {"type": "webhook", "url": "${CAIRN_TEST_HOOK_URL}", "secret": "${CAIRN_TEST_HOOK_SECRET}"},
        "chat": {"type": "slack", "webhook_url": f"http://user:pw-77x@127.0.0.1:1{slack_path}"},
    })
    # the server echoes what it got (the signature, the URL) in its error body
    http.default = Reply(502, b"")
    echo = Reply(500, f"bad gateway for /hook?token={token} secret={SECRET}".encode())
    http.script = [echo]
    with caplog.at_level(logging.DEBUG, logger="cairn.actions"):
        s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert s.retrying == 2
    texts = [e["error"] for e in s.errors] + [r["last_error"] for r in place.outbox()] + [caplog.text]
    for text in texts:
        for secret in (token, SECRET, "slackpathsecret42", "pw-77x"):
            assert secret not in text, text
    assert any("***" in t for t in texts)


def test_a_failing_destination_is_not_hammered(place: Workplace, http: HttpServer) -> None:
    cfg = actions_settings(webhook(http))
    http.default = Reply(503, b"down")
    t0 = dt.datetime.now(dt.UTC)
    s = dispatch(place.engine, place.ws, [make_alert(i) for i in range(10)], cfg, now=t0)
    assert len(http.requests) == 3  # three in a row failed: the other seven wait for the next run
    assert (s.attempted, s.retrying, s.delivered) == (3, 10, 0)
    rows = place.outbox()
    assert sorted(r["attempts"] for r in rows) == [0] * 7 + [1] * 3
    assert all(r["status"] == "pending" and r["next_attempt_at"] > t0 for r in rows)
    http.default = Reply(200)
    s2 = deliver_pending(place.engine, place.ws, cfg, force=True)
    assert s2.delivered == 10 and len(http.requests) == 13
