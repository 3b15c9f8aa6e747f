"""``cairn actions list|test NAME|deliver|outbox|dispatch``: alert deliveries and their outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cairn.cli.context import AppState
from cairn.errors import ConfigError

actions_app = typer.Typer(help="Actions: deliver alerts (webhook, Slack, SNS, email, Security Hub, file, "
                               "stdout, triage) through a durable outbox.", no_args_is_help=True)


def _settings(st: AppState) -> Any:
    from cairn.actions import actions_settings

    return actions_settings(st.workspace.config)


def _when(v: Any) -> str:
    return v.strftime("%Y-%m-%d %H:%M:%S") if hasattr(v, "strftime") else ""


@actions_app.command("list")
def list_actions(ctx: typer.Context) -> None:
    """The configured actions, what they match, and their outbox counts."""
    from cairn.actions import outbox
    from cairn.actions.settings import redacted_options

    st: AppState = ctx.obj
    cfg = _settings(st)
    counts = outbox.counts(st.engine)
    data = [{"name": a.name, "type": a.type, "enabled": a.enabled, "match": a.match.describe(),
             "options": redacted_options(a), "max_attempts": a.max_attempts, "backoff_s": a.backoff,
             "outbox": counts.get(a.name, {})} for a in cfg.actions.values()]
    if st.json:
        st.emit_json(data)
        return
    if not data:
        st.console.print("no actions configured; add [actions.NAME] tables to cairn.toml (see docs/actions.md)",
                         markup=False, highlight=False)
        return
    t = Table(title="actions")
    for col in ("name", "type", "match", "destination", "pending", "due", "delivered", "failed"):
        t.add_column(col, justify="right" if col in ("pending", "due", "delivered", "failed") else "left")
    for d in sorted(data, key=lambda d: d["name"]):
        c = d["outbox"]
        dest = ", ".join(f"{k}={v}" for k, v in d["options"].items())
        name = d["name"] if d["enabled"] else f"{d['name']} (disabled)"
        t.add_row(escape(name), d["type"], escape(d["match"]), escape(dest), *(str(c.get(k, 0)) for k in
                                                                         ("pending", "due", "delivered", "failed")))
    st.console.print(t)


@actions_app.command("test")
def test_action(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Action name ([actions.NAME]).")]) -> None:
    """Send a clearly marked test alert straight to one action (not through the outbox)."""
    from cairn.actions import send_test

    st: AppState = ctx.obj
    receipt = send_test(st.engine, st.workspace, _settings(st), name)
    if st.json:
        st.emit_json({"action": name, "ok": True, "receipt": receipt})
    else:
        st.console.print(f"[green]ok[/green]: test alert delivered to {escape(name)}"
                         + (f" ({escape(str(receipt))})" if receipt else ""))


@actions_app.command("deliver")
def deliver(
    ctx: typer.Context,
    action: Annotated[list[str] | None, typer.Option("--action", "-a", help="Only this action (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Also items whose backoff has not run out.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Requeue failed items first.")] = False,
) -> None:
    """Deliver the outbox items that are due (retries of earlier failures)."""
    from cairn.actions import deliver_pending, outbox

    st: AppState = ctx.obj
    cfg = _settings(st)
    requeued = outbox.requeue(st.engine, datetime.now(UTC), actions=action or ()) if retry_failed else 0
    summary = deliver_pending(st.engine, st.workspace, cfg, actions=action or (), force=force)
    _print_summary(st, summary, requeued=requeued)


@actions_app.command("dispatch")
def dispatch_alerts(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option("--status", help="Alerts with this status (default: new).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Alerts last seen at or after this time.")] = None,
    alert_id: Annotated[list[str] | None, typer.Option("--alert", help="This alert id (repeatable).")] = None,
) -> None:
    """Enqueue alerts from the alerts table for the matching actions and deliver them."""
    from cairn.actions import dispatch
    from cairn.detect.alerts import get_alert, list_alerts

    st: AppState = ctx.obj
    if alert_id:
        found = [get_alert(st.engine, a) for a in alert_id]
        missing = [a for a, f in zip(alert_id, found, strict=True) if f is None]
        if missing:
            raise ConfigError(f"no alert with id {', '.join(missing)}")
        alerts = [f for f in found if f is not None]
    else:
        alerts = list_alerts(st.engine, status=status or ["new"], since=since)
    summary = dispatch(st.engine, st.workspace, [a.to_dict() for a in alerts], _settings(st))
    _print_summary(st, summary)


@actions_app.command("outbox")
def show_outbox(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option("--status", "-s", help="pending|delivered|failed")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", "-a", help="Only this action.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows.")] = 50,
) -> None:
    """Outbox items: status, attempts, next attempt, last error."""
    from cairn.actions import outbox

    st: AppState = ctx.obj
    bad = [s for s in status or [] if s not in outbox.STATUSES]
    if bad:
        raise ConfigError(f"unknown status {bad[0]!r}; use {', '.join(outbox.STATUSES)}")
    rows = outbox.rows(st.engine, status=status or (), actions=action or (), limit=limit)
    if st.json:
        st.emit_json(rows)
        return
    t = Table(title=f"outbox ({len(rows)} rows)")
    t.add_column("alert", no_wrap=True)
    t.add_column("action", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("tries", justify="right", no_wrap=True)
    t.add_column("next try / delivered", no_wrap=True)
    t.add_column("last error", overflow="fold", ratio=1)
    colour = {"delivered": "green", "pending": "yellow", "failed": "red"}
    for r in rows:
        when = r["delivered_at"] if r["status"] == "delivered" else r["next_attempt_at"]
        t.add_row(r["alert_id"][:12], escape(r["action"]), f"[{colour[r['status']]}]{r['status']}[/]",
                  str(r["attempts"]), _when(when), escape((r["last_error"] or "")[:300]))
    st.console.print(t)


def _print_summary(st: AppState, s: Any, *, requeued: int = 0) -> None:
    if st.json:
        st.emit_json({**s.to_dict(), "requeued": requeued})
        return
    if requeued:
        st.console.print(f"requeued {requeued} failed item(s)")
    if s.actions:
        t = Table(title="deliveries")
        for col in ("action", "enqueued", "attempted", "delivered", "retrying", "failed"):
            t.add_column(col, justify="left" if col == "action" else "right")
        for name, c in sorted(s.actions.items()):
            t.add_row(escape(name), str(c.enqueued), str(c.attempted), str(c.delivered), str(c.retrying),
                      str(c.failed))
        st.console.print(t)
    st.console.print(f"enqueued {s.enqueued} (already queued {s.already_queued}), delivered {s.delivered}, "
                     f"retrying {s.retrying}, failed {s.failed}"
                     + (f", {s.orphaned} pending for actions no longer configured" if s.orphaned else ""))
    for e in s.errors[:10]:
        st.err.print(f"[yellow]{escape(e['action'])}[/yellow] {e['alert_id'][:16]}: {escape(e['error'])} "
                     f"({e['outcome']})")
