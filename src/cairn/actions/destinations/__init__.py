"""Destinations of actions, by ``type``: each a small module with one :class:`Destination` subclass."""

from __future__ import annotations

from cairn.actions.destinations.base import DeliveryContext, Destination, PermanentDeliveryError
from cairn.actions.destinations.email import EmailDestination
from cairn.actions.destinations.files import FileDestination, StdoutDestination
from cairn.actions.destinations.securityhub import SecurityHubDestination
from cairn.actions.destinations.slack import SlackDestination
from cairn.actions.destinations.sns import SnsDestination
from cairn.actions.destinations.triage import TriageDestination
from cairn.actions.destinations.webhook import WebhookDestination

DESTINATIONS: dict[str, type[Destination]] = {
    d.TYPE: d
    for d in (WebhookDestination, SlackDestination, SnsDestination, EmailDestination, SecurityHubDestination,
              FileDestination, StdoutDestination, TriageDestination)
}
"""``type`` -> destination class."""

__all__ = ["DESTINATIONS", "DeliveryContext", "Destination", "PermanentDeliveryError"]
