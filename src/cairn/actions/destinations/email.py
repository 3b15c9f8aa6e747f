"""Email over SMTP (``smtplib``): plain text, optional STARTTLS or implicit TLS, login from env.

``Message-ID`` is derived from the delivery id, so a mail system can drop a duplicate sent after a
crash between sending and recording.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, ClassVar

from cairn.actions.destinations.base import Destination, PermanentDeliveryError, option, transient
from cairn.actions.destinations.message import headline, render, text_body
from cairn.actions.settings import ActionConfig
from cairn.errors import ConfigError

DEFAULT_SUBJECT = "[cairn] {severity}: {title}"


class EmailDestination(Destination):
    """``type = "email"``."""

    TYPE: ClassVar[str] = "email"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"host", "port", "from", "to", "cc", "subject", "starttls",
                                                   "tls", "verify", "ca_file", "username", "password"})
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"host", "from", "to"})

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        w = f"[actions.{cfg.name}]"
        option(cfg, "host", str)
        option(cfg, "port", int)
        option(cfg, "from", str)
        for key in ("to", "cc"):
            v = cfg.options.get(key)
            if v is not None and not (isinstance(v, str) or (isinstance(v, list) and v
                                                              and all(isinstance(x, str) for x in v))):
                raise ConfigError(f"{w} {key} must be an address or a list of addresses")
        for key in ("starttls", "tls", "verify"):
            option(cfg, key, bool)
        if cfg.options.get("starttls") and cfg.options.get("tls"):
            raise ConfigError(f"{w}: choose starttls (upgrade a plain connection) or tls (implicit TLS), not both")
        if bool(cfg.options.get("username")) != bool(cfg.options.get("password")):
            raise ConfigError(f"{w}: username and password go together")

    def message(self, alert: Mapping[str, Any], delivery_id: str) -> EmailMessage:
        """The mail for one alert."""
        msg = EmailMessage()
        subject = render(self.opts.get("subject") or DEFAULT_SUBJECT, alert)
        msg["Subject"] = " ".join(subject.split())[:250] or headline(alert)
        msg["From"] = self.opts["from"]
        msg["To"] = ", ".join(_list(self.opts["to"]))
        if self.opts.get("cc"):
            msg["Cc"] = ", ".join(_list(self.opts["cc"]))
        msg["Date"] = formatdate(localtime=False)
        domain = self.opts["from"].rpartition("@")[2] or "cairn.local"
        msg["Message-ID"] = f"<{hashlib.sha256(delivery_id.encode()).hexdigest()[:32]}@{domain}>"
        msg["X-Cairn-Delivery"] = delivery_id
        msg.set_content(text_body(alert))
        return msg

    def _tls(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.opts.get("ca_file") or None)
        if self.opts.get("verify", True) is False:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        msg = self.message(alert, delivery_id)
        host = self.opts["host"]
        tls = bool(self.opts.get("tls"))
        port = int(self.opts.get("port") or (465 if tls else 587 if self.opts.get("starttls") else 25))
        what = f"email {self.cfg.name}"
        try:
            if tls:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=self.cfg.timeout, context=self._tls())
            else:
                conn = smtplib.SMTP(host, port, timeout=self.cfg.timeout)
            with conn:
                if self.opts.get("starttls"):
                    conn.starttls(context=self._tls())
                if self.opts.get("username"):
                    conn.login(self.opts["username"], self.opts["password"])
                refused = conn.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            m = f"{what}: SMTP {exc.smtp_code} {text[:200]}"
            if exc.smtp_code >= 500 and exc.smtp_code != 535:  # 535 bad login: fixable, retry
                raise PermanentDeliveryError(m) from None
            raise transient(m) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({c for c, _ in exc.recipients.values()})
            m = f"{what}: recipients refused ({', '.join(map(str, codes))})"
            if all(c >= 500 for c in codes):
                raise PermanentDeliveryError(m) from None
            raise transient(m) from None
        except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise transient(f"{what}: {type(exc).__name__}: {exc}") from None
        if refused:  # accepted for the others: a retry would send them a second copy
            return f"{msg['Message-ID']} (refused: {', '.join(sorted(refused))})"
        return msg["Message-ID"]


def _list(v: str | list[str]) -> list[str]:
    return [v] if isinstance(v, str) else list(v)
