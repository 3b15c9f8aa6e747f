"""Alert text shared by the destinations: headline, lines, the JSON envelope, safe templates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_FIELD = re.compile(r"\{([a-z_]+)\}")
SCHEMA = "cairn.alert/1"


def render(template: str, alert: Mapping[str, Any]) -> str:
    """``template`` with ``{field}`` replaced by the alert's values (plain names only; unknown -> empty)."""
    def sub(m: re.Match[str]) -> str:
        v = alert.get(m.group(1))
        if isinstance(v, list):
            return ", ".join(map(str, v))
        return "" if v is None else str(v)

    return _FIELD.sub(sub, template)


def headline(alert: Mapping[str, Any]) -> str:
    """``[HIGH] <title>``."""
    return f"[{str(alert.get('severity') or 'informational').upper()}] {alert.get('title') or alert.get('rule_title')}"


def facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs worth showing, in order, empty ones left out."""
    ips = alert.get("ips") or []
    rows = [
        ("Rule", f"{alert.get('rule_title') or ''} ({alert.get('rule_id')})"),
        ("Severity", str(alert.get("severity") or "")),
        ("Events", f"{alert.get('event_count') or 0} in {alert.get('source') or '?'}"),
        ("First seen", str(alert.get("first_seen") or "")),
        ("Last seen", str(alert.get("last_seen") or "")),
        ("Identity", str(alert.get("identity") or "")),
        ("Resource", str(alert.get("resource") or "")),
        ("Account", str(alert.get("account_id") or "")),
        ("IPs", ", ".join(map(str, ips[:10])) + (f" (+{len(ips) - 10})" if len(ips) > 10 else "")),
        ("Intel verdict", "" if alert.get("max_score_id") is None else f"{alert['max_score_id']}/10"),
        ("Alert", str(alert.get("alert_id") or "")),
    ]
    return [(k, v) for k, v in rows if v.strip()]


def triage_summary(alert: Mapping[str, Any]) -> str | None:
    """The triage summary line attached by the triage action, if any."""
    t = alert.get("triage")
    return t.get("summary") if isinstance(t, Mapping) else None


def text_body(alert: Mapping[str, Any]) -> str:
    """A plain-text message (email, SNS text, stdout)."""
    lines = [headline(alert), ""]
    width = max((len(k) for k, _ in facts(alert)), default=0)
    lines += [f"{k.ljust(width)}  {v}" for k, v in facts(alert)]
    summary = triage_summary(alert)
    if summary:
        lines += ["", "Triage: " + summary]
    return "\n".join(lines) + "\n"


def public_fields(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The alert's documented fields: without ``triage`` (sent beside it) and internal keys (``_test``, ...)."""
    return {k: v for k, v in alert.items() if k != "triage" and not str(k).startswith("_")}


def envelope(alert: Mapping[str, Any], *, action: str, delivery_id: str, test: bool = False) -> dict[str, Any]:
    """The JSON document webhooks, SNS (json) and files receive. ``alert`` is the alert without ``triage``
    (its own key) and without internal keys (``_test`` and any other starting with ``_``)."""
    out: dict[str, Any] = {"schema": SCHEMA, "action": action, "delivery_id": delivery_id,
                           "sent_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                           "alert": public_fields(alert)}
    if isinstance(alert.get("triage"), Mapping):
        out["triage"] = dict(alert["triage"])
    if test:
        out["test"] = True
    return out


def dumps(doc: Any) -> str:
    """Compact JSON text (non-JSON values as strings)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)
