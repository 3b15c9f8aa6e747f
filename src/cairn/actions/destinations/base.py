"""What every destination shares: the interface, delivery errors and the context a delivery runs in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cairn.actions.settings import ActionConfig, Scrubber, resolved_options
from cairn.config import AwsSettings, redact
from cairn.errors import ConfigError, RemoteError, TransientError


class PermanentDeliveryError(RemoteError):
    """The destination refused the alert in a way retrying will not fix (a 4xx, invalid input): the
    outbox item is marked ``failed`` (kept, and requeued with ``cairn actions deliver --retry-failed``)."""


def transient(message: str, *, retry_after: float | None = None) -> TransientError:
    """A retriable delivery error, optionally with the destination's ``Retry-After`` in seconds."""
    exc = TransientError(message)
    exc.retry_after = retry_after  # type: ignore[attr-defined]
    return exc


@dataclass
class DeliveryContext:
    """What a delivery may use: the workspace's engine (for triage), AWS settings, the secret scrubber."""

    engine: Any = None
    workspace: Any = None
    aws: AwsSettings = field(default_factory=AwsSettings)
    scrubber: Scrubber = field(default_factory=Scrubber)


class Destination:
    """One kind of destination. Subclasses set ``TYPE``, ``OPTIONS`` (keys they accept), ``REQUIRED`` and
    implement :meth:`send` (one alert) or :meth:`send_many` (a batch)."""

    TYPE: ClassVar[str] = ""
    OPTIONS: ClassVar[frozenset[str]] = frozenset()
    REQUIRED: ClassVar[frozenset[str]] = frozenset()
    BATCH: ClassVar[int] = 1
    """Items handed to :meth:`send_many` at once."""

    def __init__(self, cfg: ActionConfig, ctx: DeliveryContext) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.opts: dict[str, Any] = resolved_options(cfg, ctx.scrubber)

    @classmethod
    def allowed_options(cls) -> frozenset[str]:
        """Keys an ``[actions.NAME]`` table of this type may hold (besides the common ones)."""
        return cls.OPTIONS

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        """Static checks of the options (no secrets resolved); raise ConfigError."""

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        """Deliver one alert; return a receipt (message id, ...) or raise a delivery error."""
        raise NotImplementedError

    def send_many(self, items: list[tuple[str, Mapping[str, Any]]]) -> dict[str, str | Exception | None]:
        """Deliver ``(delivery_id, alert)`` pairs; a receipt or an exception per delivery id."""
        out: dict[str, str | Exception | None] = {}
        for delivery_id, alert in items:
            try:
                out[delivery_id] = self.send(alert, delivery_id)
            except Exception as exc:  # recorded per item by the outbox
                out[delivery_id] = exc
        return out

    def close(self) -> None:
        """Release connections."""


def option(cfg: ActionConfig, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """An option of ``cfg`` checked for type (ConfigError naming the action and key)."""
    value = cfg.options.get(key, default)
    if value is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"[actions.{cfg.name}] {key} must be {names}, got {redact(value, key)!r}")
    return value
