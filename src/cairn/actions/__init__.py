"""Actions: deliver alerts to webhooks, Slack, SNS, email, Security Hub, files, stdout or triage,
through a durable outbox with retries and backoff (docs/actions.md).

``dispatch(engine, workspace, alerts, settings)`` enqueues and delivers; ``deliver_pending(...)``
retries what is due.
"""

from cairn.actions.dispatch import DeliverySummary, deliver_pending, dispatch, send_test
from cairn.actions.settings import ActionConfig, ActionsSettings, actions_settings

__all__ = ["ActionConfig", "ActionsSettings", "DeliverySummary", "actions_settings", "deliver_pending",
           "dispatch", "send_test"]
