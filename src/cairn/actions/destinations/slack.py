"""Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): ``text`` plus Block Kit ``blocks``.

The webhook URL is itself a secret (it holds the token): write ``webhook_url = "${SLACK_WEBHOOK_URL}"``.
Block Kit limits are kept: header text <= 150 characters, section text <= 3000, <= 10 fields of
<= 2000 characters each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cairn.actions.destinations.base import Destination, option
from cairn.actions.destinations.http import check_url, post
from cairn.actions.destinations.message import dumps, facts, headline, triage_summary
from cairn.actions.settings import ActionConfig
from cairn.outputs.asff import clamp_text

_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
          "low": ":large_blue_circle:", "informational": ":white_circle:"}


def slack_message(alert: Mapping[str, Any], *, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The message payload for one alert."""
    sev = str(alert.get("severity") or "informational").lower()
    head = clamp_text(headline(alert), 150)
    shown = [(k, v) for k, v in facts(alert) if k not in ("Severity",)]
    fields = [{"type": "mrkdwn", "text": clamp_text(f"*{k}*\n{_esc(v)}", 2000)} for k, v in shown[:10]]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head, "emoji": True}},
        {"type": "section", "fields": fields},
    ]
    summary = triage_summary(alert)
    if summary:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": clamp_text(f"*Triage:* {_esc(summary)}", 3000)}})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": clamp_text(f"cairn alert `{alert.get('alert_id')}` · rule `{alert.get('rule_id')}`",
                                               2000)}]})
    msg: dict[str, Any] = {"text": clamp_text(f"{_EMOJI.get(sev, '')} {_esc(headline(alert))}".strip(), 3000),
                           "blocks": blocks}
    if channel:
        msg["channel"] = channel
    if username:
        msg["username"] = username
    return msg


def _esc(text: str) -> str:
    """Slack mrkdwn escaping of &, < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackDestination(Destination):
    """``type = "slack"``: POST a Block Kit message to an incoming webhook."""

    TYPE: ClassVar[str] = "slack"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"webhook_url", "channel", "username"})
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"webhook_url"})

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        check_url(cfg.options.get("webhook_url"), f"[actions.{cfg.name}] webhook_url")
        option(cfg, "channel", str)
        option(cfg, "username", str)

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        body = dumps(slack_message(alert, channel=self.opts.get("channel"), username=self.opts.get("username")))
        status, text = post(self.opts["webhook_url"], body.encode(), {"Content-Type": "application/json"},
                            timeout=self.cfg.timeout, what=f"slack {self.cfg.name}")
        return f"HTTP {status} {text[:40]}".strip()
