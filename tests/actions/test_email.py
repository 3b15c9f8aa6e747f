"""Email over SMTP against a local aiosmtpd server: plain, STARTTLS with AUTH, server down."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest

from actions.conftest import SmtpServer, Workplace, make_alert
from cairn.actions import actions_settings, deliver_pending, dispatch


def test_mail_is_received(place: Workplace, smtp: SmtpServer) -> None:
    cfg = actions_settings({"mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port,
                                     "from": "cairn@example.com", "to": ["soc@example.com", "oncall@example.com"],
                                     "subject": "[cairn] {severity} {rule_id}: {title}"}})
    alert = make_alert(3, severity="critical")
    s = dispatch(place.engine, place.ws, [alert], cfg)
    assert s.delivered == 1, s.errors
    [mail] = smtp.messages
    assert mail.mail_from == "cairn@example.com"
    assert mail.rcpt_tos == ["soc@example.com", "oncall@example.com"]
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert msg["Subject"] == f"[cairn] critical aws_cloudtrail_disable_logging: {alert['title']}"
    assert msg["X-Cairn-Delivery"] == f"{alert['alert_id']}:mail"
    body = msg.get_content()
    assert "arn:aws:iam::012345678901:user/stratus-red-team-user" in body
    assert "203.0.113.7" in body and alert["alert_id"] in body
    [row] = place.outbox()
    assert row["receipt"] == msg["Message-ID"]


def test_starttls_and_auth_from_env(place: Workplace, smtp_tls: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TEST_SMTP_USER", "alerts@example.com")
    monkeypatch.setenv("CAIRN_TEST_SMTP_PASSWORD", "mail-pass-Zq81")
    base = {"type": "email", "host": "127.0.0.1", "port": smtp_tls.port, "from": "cairn@example.com",
            "to": "soc@example.com", "starttls": True, "ca_file": str(smtp_tls.cert),
            "username": "${CAIRN_TEST_SMTP_USER}", "password": "${CAIRN_TEST_SMTP_PASSWORD}"}
    s = dispatch(place.engine, place.ws, [make_alert(1)], actions_settings({"mail": base}))
    assert s.delivered == 1, s.errors
    assert len(smtp_tls.messages) == 1
    # a wrong password is refused (535) and retried later, with the password nowhere in the error
    monkeypatch.setenv("CAIRN_TEST_SMTP_PASSWORD", "wrong-pass-Kp02")
    s2 = dispatch(place.engine, place.ws, [make_alert(2)], actions_settings({"mail": base}))
    assert s2.retrying == 1 and "SMTP 535" in s2.errors[0]["error"]
    assert "wrong-pass-Kp02" not in s2.errors[0]["error"]
    # without STARTTLS the server does not even offer AUTH: retried, nothing sent
    plain = {**base, "starttls": False}
    s3 = dispatch(place.engine, place.ws, [make_alert(3)], actions_settings({"mail": plain}))
    assert s3.retrying == 1 and len(smtp_tls.messages) == 1


def test_server_down_then_up(place: Workplace, smtp: SmtpServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    cfg = {"type": "email", "host": "127.0.0.1", "port": dead_port, "from": "cairn@example.com",
           "to": "soc@example.com", "timeout": "2s"}
    s = dispatch(place.engine, place.ws, [make_alert(1), make_alert(2)], actions_settings({"mail": cfg}))
    assert s.retrying == 2 and not smtp.messages
    s2 = deliver_pending(place.engine, place.ws, actions_settings({"mail": {**cfg, "port": smtp.port}}), force=True)
    assert s2.delivered == 2 and len(smtp.messages) == 2
