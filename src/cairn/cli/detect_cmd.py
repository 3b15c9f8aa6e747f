"""``cairn detect`` and ``cairn alerts [show ID]``: rules over new lake data, and the alerts they raise."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cairn.cli.context import AppState
from cairn.detect.alerts import Alert, alert_events, list_alerts, resolve_alert, severities_at_least
from cairn.timeparse import parse_time

_COLOURS = {"informational": "dim", "low": "cyan", "medium": "yellow", "high": "red", "critical": "bold red"}
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]

alerts_app = typer.Typer(help="Alerts raised by `cairn detect`: list them, show one.", invoke_without_command=True)


def _ts(v: Any) -> str:
    return v.strftime("%Y-%m-%d %H:%M:%S") if v else ""


def detect_command(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="Only events at or after this time (ISO 8601, or "
                                                             "relative: 24h, 7d). Files read are checkpointed.")] = None,
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Extra rule files or folders (Sigma or "
                                                                     "native; repeatable).")] = None,
    no_enrich: Annotated[bool, typer.Option("--no-enrich", help="Do not refresh enrichment first.")] = False,
    no_dispatch: Annotated[bool, typer.Option("--no-dispatch", help="Do not hand new alerts to actions.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run Sigma, native and intel-match rules over the data added since the last run; raise alerts."""
    from cairn.detect.run import detect

    st: AppState = ctx.obj
    if json_out:
        from cairn.actions.destinations.channel import reserve_stdout

        ctx.with_resource(reserve_stdout())
    show = not (st.json or json_out or st.quiet) and sys.stderr.isatty()
    with Progress(SpinnerColumn(), TextColumn("[bold]detect[/bold] {task.description}"), TimeElapsedColumn(),
                  console=st.err, disable=not show, transient=True) as bar:
        task = bar.add_task("loading rules")
        s = detect(st.engine, st.workspace, since=parse_time(since, option="--since"), rules=rules or (),
                   enrich=False if no_enrich else None, dispatch=False if no_dispatch else None,
                   progress=lambda step, i, n: bar.update(task, description=f"{step} rules ({i + 1}/{n})"))
    if st.json or json_out:
        st.emit_json(s.to_dict())
        return
    if s.new_alerts:
        t = Table(title=f"{len(s.new_alerts)} new alerts")
        for col in ("alert", "severity", "title", "first seen", "last seen", "events"):
            t.add_column(col, overflow="fold")
        for a in s.new_alerts:
            sev = a["severity"]
            t.add_row(a["alert_id"][:12], f"[{_COLOURS[sev]}]{sev}[/]", escape(a["title"] or ""),
                      (a["first_seen"] or "")[:19], (a["last_seen"] or "")[:19], str(a["event_count"]))
        st.console.print(t)
    rules_txt = ", ".join(f"{n} {k}" for k, n in s.rules.items()) or "no rules"
    st.console.print(f"{len(s.new_alerts)} new alerts, {s.updated_alerts} updated; {s.new_hits:,} new matches "
                     f"({s.hits:,} found) in {s.input_files:,} rule-file reads; rules: {rules_txt}; "
                     f"{s.seconds:.2f}s")
    if s.failed_sigma:
        st.err.print(f"{len(s.failed_sigma)} Sigma rules could not be converted (see: cairn sigma convert)")
    d = s.dispatch or {}
    if d.get("status") == "ok":
        st.err.print(f"dispatch: {d.get('enqueued', 0):,} queued, {d.get('delivered', 0):,} delivered, "
                     f"{d.get('retrying', 0):,} to retry, {d.get('failed', 0):,} failed "
                     "(see: cairn actions outbox)", highlight=False)
    elif d.get("error"):
        st.err.print(f"[red]dispatch {d['status']}: {escape(d['error'])}[/red]; the alerts are stored: "
                     "cairn actions dispatch queues them", highlight=False)
    if d.get("status") == "failed":
        raise typer.Exit(1)


@alerts_app.callback()
def alerts_list(
    ctx: typer.Context,
    severity: Annotated[list[str] | None, typer.Option("--severity", help="Only these severities (repeatable); "
                                                                         "'high+' means high and above.")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only alerts of this rule id (repeatable).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only alerts last seen at or after this time "
                                                             "(ISO 8601 or 24h, 7d).")] = None,
    status: Annotated[list[str] | None, typer.Option("--status", help="Only alerts with this status (repeatable): new, "
                                                                 "delivered, or any status an alert has.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="At most this many alerts (0: all).")] = 200,
    json_out: JsonOpt = False,
) -> None:
    """List alerts, most recent first."""
    if ctx.invoked_subcommand is not None:
        return
    st: AppState = ctx.obj
    sev: list[str] = []
    for s in severity or []:
        sev += severities_at_least(s[:-1]) if s.endswith("+") else [s]
    t0 = parse_time(since, option="--since")
    got = list_alerts(st.engine, severity=sev, rules=rule or (), since=t0, status=status or (), limit=limit)
    if st.json or json_out:
        st.emit_json({"alerts": [a.to_dict() for a in got]})
        return
    t = Table(title=f"alerts ({len(got)})")
    for col in ("alert", "severity", "title", "rule", "first seen", "last seen", "events", "intel", "status"):
        t.add_column(col, overflow="fold")
    for a in got:
        t.add_row(a.alert_id[:12], f"[{_COLOURS.get(a.severity, '')}]{a.severity}[/]", escape(a.title or ""),
                  escape(a.rule_id), _ts(a.first_seen), _ts(a.last_seen), str(a.event_count),
                  "" if a.max_score_id is None else str(a.max_score_id), a.status)
    st.console.print(t)


@alerts_app.command("show")
def alerts_show(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id (or a unique prefix of 6+ characters).")],
    json_out: JsonOpt = False,
) -> None:
    """Show one alert with its events and enrichment summary."""
    st: AppState = ctx.obj
    a = resolve_alert(st.engine, alert_id)
    events = alert_events(st.engine, a)
    if st.json or json_out:
        st.emit_json({"alert": a.to_dict(), "enrichment": a.enrichment(), "events": events})
        return
    _print_alert(st, a, events)


def _print_alert(st: AppState, a: Alert, events: list[dict[str, Any]]) -> None:
    lines = [
        f"[bold]{escape(a.title)}[/bold]",
        f"rule: {escape(a.rule_id)} ({escape(a.rule_title)})",
        f"severity: [{_COLOURS.get(a.severity, '')}]{a.severity}[/] · status: {a.status} · {a.event_count} events "
        f"{_ts(a.first_seen)} → {_ts(a.last_seen)} UTC",
        f"identity: {escape(a.identity or '-')} · resource: {escape(a.resource or '-')} · "
        f"account: {a.account_id or '-'} · IPs: {', '.join(a.ips) or '-'}",
        f"source: {a.source} · dedup key: {escape(a.dedup_key or '')} · max intel score: "
        f"{'-' if a.max_score_id is None else a.max_score_id}",
    ]
    st.console.print(Panel("\n".join(lines), title=f"alert {a.alert_id}"))
    summary = a.enrichment()
    if summary:
        st.console.print(Panel(escape(json.dumps(summary, indent=2, ensure_ascii=False)), title="enrichment"))
    t = Table(title=f"events ({len(events)} of {a.event_count})")
    for col in ("time", "event", "identity", "IPs", "details"):
        t.add_column(col, overflow="fold")
    for e in events:
        d = e.get("details") or {}
        shown = ", ".join(f"{k}={v}" for k, v in d.items() if v not in (None, "") and k not in ("principal_arn",
                                                                                             "src_ip"))
        t.add_row(_ts(e["event_time"]), e["event_uid"], escape(e["identity"] or ""), ", ".join(e["ips"] or []),
                  escape(shown))
    st.console.print(t)
