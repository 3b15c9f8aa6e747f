"""Generic webhook: the alert envelope as a JSON body, signed with HMAC-SHA256.

Headers: ``X-Cairn-Delivery`` (``<alert_id>:<action>``, stable across retries: receivers dedupe on it),
``X-Cairn-Timestamp`` (Unix seconds) and ``X-Cairn-Signature: t=<timestamp>,v1=<hex>`` where
``hex = HMAC-SHA256(secret, "<timestamp>." + body)`` over the exact body bytes sent. Receivers
check it with :func:`verify_signature` (or the same few lines in any language) and reject old
timestamps to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from cairn.actions.destinations.base import Destination, option
from cairn.actions.destinations.http import check_url, post
from cairn.actions.destinations.message import dumps, envelope
from cairn.actions.settings import ActionConfig
from cairn.errors import ConfigError

SIGNATURE_HEADER = "X-Cairn-Signature"
TIMESTAMP_HEADER = "X-Cairn-Timestamp"
DELIVERY_HEADER = "X-Cairn-Delivery"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: float = 300,
                     now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and its timestamp is within ``tolerance`` seconds."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, ts), f"t={ts},v1={parts.get('v1', '')}")


class WebhookDestination(Destination):
    """``type = "webhook"``: POST the alert envelope as JSON."""

    TYPE: ClassVar[str] = "webhook"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"url", "secret", "sign", "headers"})
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"url"})

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        check_url(cfg.options.get("url"), f"[actions.{cfg.name}] url")
        signed = option(cfg, "sign", bool, True)
        if signed and not option(cfg, "secret", str):
            raise ConfigError(f"[actions.{cfg.name}] needs secret (e.g. secret = \"${{CAIRN_WEBHOOK_SECRET}}\") "
                              "or sign = false")
        headers = option(cfg, "headers", dict, {})
        if not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError(f"[actions.{cfg.name}] headers must map names to strings")

    def body(self, alert: Mapping[str, Any], delivery_id: str) -> bytes:
        """The exact bytes POSTed."""
        return dumps(envelope(alert, action=self.cfg.name, delivery_id=delivery_id,
                              test=bool(alert.get("_test")))).encode()

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        body = self.body(alert, delivery_id)
        ts = int(time.time())
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id, TIMESTAMP_HEADER: str(ts),
                   **(self.opts.get("headers") or {})}
        if self.opts.get("sign", True):
            headers[SIGNATURE_HEADER] = sign(self.opts["secret"], body, ts)
        status, _ = post(self.opts["url"], body, headers, timeout=self.cfg.timeout,
                         what=f"webhook {self.cfg.name}")
        return f"HTTP {status}"
