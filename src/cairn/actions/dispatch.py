"""Dispatch: alerts -> outbox rows for matching actions -> deliveries with retries and backoff.

:func:`dispatch` enqueues each alert for each enabled action whose ``match`` accepts it and then
runs :func:`deliver_pending`, which delivers everything due (also what earlier runs could not
deliver). A failed attempt is retried after ``backoff * 2**(attempts-1)`` seconds (at most
``max_backoff``, at least the destination's ``Retry-After``), with equal jitter (the delay is drawn
from [d/2, d]) so that retries of many alerts do not arrive together. After ``max_attempts`` the item
is ``failed`` and stays in the outbox for ``cairn actions deliver --retry-failed``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cairn.actions import outbox
from cairn.actions.current import alerts_table_exists
from cairn.actions.destinations import DESTINATIONS, DeliveryContext, PermanentDeliveryError
from cairn.actions.settings import ActionConfig, ActionsSettings, Scrubber, actions_settings
from cairn.config import AwsSettings, Config
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import CairnError, RemoteError, TransientError

log = logging.getLogger("cairn.actions")
BREAKER = 3
FLUSH_EVERY = 100
"""Results are written to the outbox after this many deliveries (and at the end)."""
"""After this many attempts in a row fail transiently, the rest of an action's due items wait for the
next run instead of each waiting out its own timeout."""


Done = tuple[str, Any, datetime]
"""One delivery's result: alert_id, receipt (or the exception raised), when it completed."""


@dataclass
class ActionCounts:
    """What happened for one action in a run."""

    enqueued: int = 0
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass
class DeliverySummary:
    """Result of :func:`dispatch` / :func:`deliver_pending`."""

    alerts: int = 0
    enqueued: int = 0
    already_queued: int = 0
    unmatched: int = 0
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    orphaned: int = 0
    """Pending items of actions no longer configured (kept, not delivered)."""
    actions: dict[str, ActionCounts] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    """alert_id, action, error (scrubbed), outcome (retrying|failed) of each failed attempt."""

    def action(self, name: str) -> ActionCounts:
        """The counts of one action (created on first use)."""
        return self.actions.setdefault(name, ActionCounts())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)


def backoff_delay(cfg: ActionConfig, attempts: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds until the next attempt after ``attempts`` failed ones: exponential, capped, equal jitter."""
    base = min(cfg.max_backoff, cfg.backoff * (2 ** max(0, attempts - 1)))
    return base / 2 + base / 2 * rng()


def _settings(workspace: Any, settings: Any) -> ActionsSettings:
    if isinstance(settings, ActionsSettings):
        return settings
    if isinstance(settings, Config | Mapping):
        return actions_settings(settings)
    return actions_settings(getattr(workspace, "config", None))


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _clock(start: datetime) -> Callable[[], datetime]:
    """The time now, counted from the run's ``start`` (the real time unless a caller fixed ``now``): when
    each delivery completed, for ``delivered_at`` and the backoff of a failed attempt."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def dispatch(engine: DuckDBEngine, workspace: Any, alerts: Sequence[Mapping[str, Any]], settings: Any = None, *,
             now: datetime | None = None, deliver: bool = True) -> DeliverySummary:
    """Enqueue each alert (``Alert.to_dict()``) for each matching action, then deliver what is due.

    ``settings``: :class:`ActionsSettings`, a :class:`Config`, the ``[actions]`` mapping, or None for
    the workspace's. Calling it again with the same alerts enqueues nothing new and delivers nothing
    twice.
    """
    cfg = _settings(workspace, settings)
    now = _now(now)
    summary = DeliverySummary(alerts=len(alerts))
    items: list[tuple[Mapping[str, Any], str, str]] = []
    for alert in alerts:
        if not alert.get("alert_id"):
            raise ValueError("dispatch: an alert without alert_id")
        matched = [a for a in cfg.enabled() if a.match.accepts(alert)]
        if not matched:
            summary.unmatched += 1
        items += [(alert, a.name, a.type) for a in matched]
    added = outbox.enqueue(engine, items, now)
    summary.enqueued, summary.already_queued = len(added), len(items) - len(added)
    for _, name in added:
        summary.action(name).enqueued += 1
    if deliver:
        deliver_pending(engine, workspace, cfg, now=now, summary=summary)
    return summary


def deliver_pending(engine: DuckDBEngine, workspace: Any, settings: Any = None, *, now: datetime | None = None,
                    actions: Sequence[str] = (), force: bool = False, limit: int | None = None,
                    summary: DeliverySummary | None = None) -> DeliverySummary:
    """Deliver the outbox items that are due (all pending ones with ``force``), for all enabled actions
    or the named ones; failures are rescheduled with backoff or marked failed."""
    cfg = _settings(workspace, settings)
    now = _now(now)
    summary = summary or DeliverySummary()
    outbox.ensure_outbox(engine)
    chosen = [cfg.get(n) for n in actions] if actions else cfg.enabled()
    configured = set(cfg.actions)
    summary.orphaned = int(engine.scalar(
        "SELECT count(*) FROM _cairn_outbox WHERE status = 'pending' AND NOT list_contains($names, action)",
        {"names": sorted(configured)}) or 0)
    aws = getattr(getattr(workspace, "config", None), "aws", None) or AwsSettings()
    delivered_ids: set[str] = set()
    for action in chosen:
        delivered_ids |= _deliver_action(engine, workspace, action, aws, now, summary, force=force, limit=limit)
    _mark_alerts(engine, delivered_ids)
    return summary


def _deliver_action(engine: DuckDBEngine, workspace: Any, action: ActionConfig, aws: AwsSettings, now: datetime,
                    summary: DeliverySummary, *, force: bool, limit: int | None) -> set[str]:
    """Claim and deliver the due items of one action; returns the alert ids delivered."""
    claimed = outbox.claim(engine, action.name, now, force=force, limit=limit)
    if not claimed:
        return set()
    counts = summary.action(action.name)
    counts.attempted += len(claimed)
    summary.attempted += len(claimed)
    scrub = Scrubber()
    ctx = DeliveryContext(engine=engine, workspace=workspace, aws=aws, scrubber=scrub)
    attempts = {alert_id: n for alert_id, _, n in claimed}
    clock = _clock(now)
    delivered: set[str] = set()
    done: list[Done] = []
    try:
        dest = DESTINATIONS[action.type](action, ctx)
    except Exception as exc:  # e.g. a ${ENV} not set: every item waits for the next run
        at = clock()
        done = [(alert_id, exc, at) for alert_id, _, _ in claimed]
        delivered |= _flush(engine, action, done, attempts, scrub, summary)
        return delivered
    deferred: list[str] = []
    try:
        step, failing = max(1, dest.BATCH), 0
        for i in range(0, len(claimed), step):
            chunk = claimed[i:i + step]
            if failing >= BREAKER:  # the destination is down: do not wait out every timeout
                deferred += [a for a, _, _ in chunk]
                continue
            got = dest.send_many([(f"{a}:{action.name}", alert) for a, alert, _ in chunk])
            at = clock()  # when this batch (one item for most destinations) was answered
            done.extend((a, got.get(f"{a}:{action.name}", got.get(a)), at) for a, _, _ in chunk)
            down = all(isinstance(r, TransientError) for r in got.values())
            failing = failing + 1 if got and down else 0
            if len(done) >= FLUSH_EVERY:
                delivered |= _flush(engine, action, done, attempts, scrub, summary)
                done = []
    finally:
        dest.close()
        delivered |= _flush(engine, action, done, attempts, scrub, summary)
    if deferred:
        _defer(engine, action, deferred, attempts, now, summary)
    return delivered


def _flush(engine: DuckDBEngine, action: ActionConfig, done: list[Done], attempts: dict[str, int],
           scrub: Scrubber, summary: DeliverySummary) -> set[str]:
    """Record results (alert_id, receipt or exception, when it completed) in one transaction: a crash
    re-sends at most the deliveries of one flush. Returns the alert ids delivered."""
    ok: list[tuple[str, str | None, datetime]] = []
    if not done:
        return set()
    with engine.transaction():
        for alert_id, res, at in done:
            if isinstance(res, Exception):
                _record_failure(engine, action, alert_id, attempts[alert_id], res, scrub, at, summary)
            else:
                ok.append((alert_id, None if res is None else scrub(res), at))
        outbox.mark_delivered(engine, action.name, ok)
    summary.action(action.name).delivered += len(ok)
    summary.delivered += len(ok)
    return {a for a, _, _ in ok}


def _defer(engine: DuckDBEngine, action: ActionConfig, alert_ids: list[str], attempts: dict[str, int],
           now: datetime, summary: DeliverySummary) -> None:
    """Put back items not tried because the destination kept failing: their attempt is not counted."""
    first = min(attempts[a] for a in alert_ids)
    retry_at = now + timedelta(seconds=backoff_delay(action, max(1, first)))
    outbox.release(engine, action.name, alert_ids, retry_at,
                   f"not tried: {BREAKER} deliveries in a row to this action failed; retried later")
    counts = summary.action(action.name)
    counts.attempted -= len(alert_ids)
    counts.retrying += len(alert_ids)
    summary.attempted -= len(alert_ids)
    summary.retrying += len(alert_ids)


def _record_failure(engine: DuckDBEngine, action: ActionConfig, alert_id: str, attempts: int, exc: Exception,
                    scrub: Scrubber, now: datetime, summary: DeliverySummary) -> None:
    message = scrub(str(exc) or type(exc).__name__)
    permanent = isinstance(exc, PermanentDeliveryError)
    retry_at = None
    if not permanent and attempts < action.max_attempts:
        delay = backoff_delay(action, attempts)
        after = getattr(exc, "retry_after", None) if isinstance(exc, TransientError) else None
        if after:
            delay = max(delay, min(float(after), action.max_backoff))
        retry_at = now + timedelta(seconds=delay)
    outcome = "retrying" if retry_at else "failed"
    if not permanent and retry_at is None:
        message = f"gave up after {attempts} attempts: {message}"
    outbox.mark_failed(engine, action.name, alert_id, message, retry_at=retry_at)
    counts = summary.action(action.name)
    if retry_at:
        counts.retrying += 1
        summary.retrying += 1
    else:
        counts.failed += 1
        summary.failed += 1
    summary.errors.append({"alert_id": alert_id, "action": action.name, "error": message, "outcome": outcome})
    log.warning("action %s, alert %s: %s (%s)", action.name, alert_id, message, outcome)


def _mark_alerts(engine: DuckDBEngine, alert_ids: set[str]) -> None:
    """Set ``status = 'delivered'`` on alerts whose every outbox item is delivered."""
    if not alert_ids or not alerts_table_exists(engine):
        return
    engine.execute(
        """UPDATE _cairn_alerts SET status = 'delivered', updated_at = now()
           WHERE list_contains($ids, alert_id) AND status IS DISTINCT FROM 'delivered'
             AND NOT EXISTS (SELECT 1 FROM _cairn_outbox o
                             WHERE o.alert_id = _cairn_alerts.alert_id AND o.status <> 'delivered')""",
        {"ids": sorted(alert_ids)},
    )


def sample_alert(severity: str = "low") -> dict[str, Any]:
    """A clearly marked test alert for ``cairn actions test``: every field of ``Alert.to_dict()`` (the
    shape of real alerts) plus the internal ``_test`` flag (sent as the envelope's ``"test": true``)."""
    from cairn.detect.alerts import SEVERITY_ID, Alert

    now = datetime.now(UTC).replace(microsecond=0)
    alert = Alert(
        alert_id=f"cairn-test-{now.strftime('%Y%m%dT%H%M%S')}", rule_id="cairn.test",
        rule_title="cairn action test", title="cairn test alert (ignore)", severity=severity,
        severity_id=SEVERITY_ID.get(severity, 2), first_seen=now, last_seen=now, event_count=0,
        source="cloudtrail", dedup_key="test", created_at=now, updated_at=now, status="new",
    )
    return {**alert.to_dict(), "_test": True}


def send_test(engine: DuckDBEngine, workspace: Any, settings: Any, name: str) -> str | None:
    """Send :func:`sample_alert` straight to one action (no outbox); raise its (scrubbed) error."""
    cfg = _settings(workspace, settings)
    action = cfg.get(name)
    alert = sample_alert()
    scrub = Scrubber()
    aws = getattr(getattr(workspace, "config", None), "aws", None) or AwsSettings()
    ctx = DeliveryContext(engine=engine, workspace=workspace, aws=aws, scrubber=scrub)
    try:
        dest = DESTINATIONS[action.type](action, ctx)
        try:
            receipt = dest.send(alert, f"{alert['alert_id']}:{name}")
            return None if receipt is None else scrub(receipt)
        finally:
            dest.close()
    except CairnError as exc:
        raise type(exc)(scrub(str(exc))) from None
    except Exception as exc:
        raise RemoteError(scrub(f"{type(exc).__name__}: {exc}")) from None
