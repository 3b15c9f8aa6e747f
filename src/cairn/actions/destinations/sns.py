"""AWS SNS ``Publish``: the alert envelope (JSON) or a text message, with message attributes
``severity``, ``rule_id`` and ``alert_id`` for subscription filter policies. FIFO topics (``.fifo``)
get ``MessageGroupId`` (the rule) and a ``MessageDeduplicationId`` (the delivery id)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from cairn.actions.destinations import aws
from cairn.actions.destinations.base import Destination, option
from cairn.actions.destinations.message import dumps, envelope, headline, render, text_body
from cairn.actions.settings import ActionConfig
from cairn.errors import ConfigError

SUBJECT_MAX = 100


def sns_subject(text: str) -> str:
    """An SNS Subject: printable ASCII, no line breaks, <= 100 characters, not empty."""
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in " ".join(text.split()))
    return (clean[: SUBJECT_MAX - 3] + "..." if len(clean) > SUBJECT_MAX else clean) or "cairn alert"


class SnsDestination(Destination):
    """``type = "sns"``."""

    TYPE: ClassVar[str] = "sns"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"topic_arn", "format", "subject"}) | aws.OPTIONS
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"topic_arn"})

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        arn = option(cfg, "topic_arn", str)
        if not arn.startswith(("arn:", "${")):
            raise ConfigError(f"[actions.{cfg.name}] topic_arn must be an SNS topic ARN, got {arn!r}")
        if option(cfg, "format", str, "json") not in ("json", "text"):
            raise ConfigError(f"[actions.{cfg.name}] format must be json or text")
        option(cfg, "subject", str)
        for k in aws.OPTIONS:
            option(cfg, k, str)

    def __init__(self, cfg: ActionConfig, ctx: Any) -> None:
        super().__init__(cfg, ctx)
        self._client: Any = None

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        if self._client is None:
            self._client = aws.client("sns", self.opts, self.ctx.aws, timeout=self.cfg.timeout)
        topic = self.opts["topic_arn"]
        if self.opts.get("format", "json") == "json":
            message = dumps(envelope(alert, action=self.cfg.name, delivery_id=delivery_id,
                                     test=bool(alert.get("_test"))))
        else:
            message = text_body(alert)
        subject = render(self.opts["subject"], alert) if self.opts.get("subject") else headline(alert)
        attrs = {k: {"DataType": "String", "StringValue": str(alert.get(k))}
                 for k in ("severity", "rule_id", "alert_id") if alert.get(k)}
        kwargs: dict[str, Any] = {"TopicArn": topic, "Message": message, "Subject": sns_subject(subject),
                                  "MessageAttributes": attrs}
        if topic.endswith(".fifo"):
            kwargs["MessageGroupId"] = str(alert.get("rule_id") or "cairn")[:128]
            kwargs["MessageDeduplicationId"] = hashlib.sha256(delivery_id.encode()).hexdigest()[:128]
        try:
            resp = self._client.publish(**kwargs)
        except Exception as exc:
            raise aws.classify(exc, f"sns {self.cfg.name}") from None
        return str(resp.get("MessageId"))
