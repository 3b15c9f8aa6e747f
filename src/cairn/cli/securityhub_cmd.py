"""``cairn securityhub enrich`` (write-back of context and intel) and ``cairn handle EVENT.json``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from cairn.actions.lambda_handler import event_problem, handle_event
from cairn.actions.securityhub_filters import build_filters
from cairn.actions.securityhub_writeback import run_writeback, writeback_options
from cairn.cli.context import AppState
from cairn.context.aws import Clients, aws_context_settings
from cairn.errors import InputError
from cairn.timeparse import parse_time

securityhub_app = typer.Typer(help="Security Hub: enrich findings in place (BatchUpdateFindings).",
                              no_args_is_help=True)


def _clients(st: AppState) -> Clients:
    s = aws_context_settings(st.workspace.config)
    return Clients(st.workspace.config.aws, max_attempts=s.max_attempts, backoff_attempts=s.backoff_attempts,
                   backoff_base=s.backoff_base)


@securityhub_app.command("enrich")
def enrich(
    ctx: typer.Context,
    filters: Annotated[list[str] | None, typer.Option("--filter", "-f", help="GetFindings filter KEY=VALUE "
                                                      "(repeatable; also !=, ^=, ~=, >=, <=, Map.key=VALUE; see "
                                                      "docs/aws.md).")] = None,
    backfill: Annotated[bool, typer.Option("--backfill", help="All matching findings, however old (default: "
                                           "updated within --since).")] = False,
    since: Annotated[str, typer.Option("--since", help="Without --backfill: findings updated this recently (7d, 24h) or since this time (ISO 8601).")] = "7d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan the updates and show them; write nothing.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace notes written by others (default: keep "
                                            "them and put cairn's summary in cairn:summary).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write even to findings that already carry this "
                                        "update.")] = False,
    triage: Annotated[bool, typer.Option("--triage", help="Add a triage summary (cairn triage) to each "
                                         "finding (slower).")] = False,
    updated_by: Annotated[str, typer.Option("--updated-by", help="Note.UpdatedBy.")] = "cairn",
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="At most this many findings.")] = None,
) -> None:
    """Enrich Security Hub findings with account/OU/owner/criticality context and intel verdicts, in place."""
    st: AppState = ctx.obj
    f = build_filters(list(filters or []))
    f.setdefault("RecordState", [{"Value": "ACTIVE", "Comparison": "EQUALS"}])
    if not backfill and "UpdatedAt" not in f:
        start = parse_time(since, option="--since")
        f["UpdatedAt"] = [{"Start": start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                           "End": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")}]
    opts = writeback_options(st.workspace.config, updated_by=updated_by, overwrite=overwrite, triage=triage,
                             force=force)
    show = not (st.json or st.quiet) and sys.stderr.isatty()
    with Progress(SpinnerColumn(), TextColumn("[bold]securityhub enrich[/bold] {task.description}"),
                  console=st.err, disable=not show, transient=True) as bar:
        done: dict[str, int] = {}
        task = bar.add_task("")

        def progress(what: str, n: int) -> None:
            done[what] = done.get(what, 0) + n
            bar.update(task, description=", ".join(f"{k} {v:,}" for k, v in done.items()))

        summary = run_writeback(st.workspace, st.engine, _clients(st), f, opts, dry_run=dry_run, limit=limit,
                                progress=progress)
    if st.json:
        d = summary.to_dict()
        d["filters"] = f
        st.emit_json(d)
        return
    verb = "would update" if dry_run else "updated"
    count = sum(p["status"] == "update" for p in summary.planned) if dry_run else summary.updated
    st.console.print(f"{summary.fetched:,} findings read, {summary.enriched:,} enriched; {verb} {count:,} in "
                     f"{summary.batches:,} BatchUpdateFindings calls; {summary.current:,} already current, "
                     f"{summary.no_room:,} without room for cairn's fields; {summary.calls.get('calls', 0):,} API "
                     f"calls; {summary.seconds:.1f}s ({summary.findings_per_second:,} findings/s)", highlight=False)
    if dry_run and summary.planned:
        t = Table(title="planned updates (first 20)")
        for col in ("finding", "account", "status", "fields", "note"):
            t.add_column(col, overflow="fold")
        for p in summary.planned[:20]:
            udf = {k: v for k, v in p["user_defined_fields"].items() if k.startswith("cairn:")}
            t.add_row(escape(p["id"][-60:]), p["account_id"] or "", p["status"],
                      escape("\n".join(f"{k}={v}" for k, v in list(udf.items())[:8])),
                      escape((p["note"] or {}).get("Text", "(kept)")))
        st.console.print(t)
    for u in summary.unprocessed[:20]:
        st.console.print(f"[yellow]unprocessed:[/yellow] {escape(str(u['id']))}: {u['error']} {escape(str(u['message'] or ''))}",
                         highlight=False)
    for r in summary.unreadable[:20]:
        st.console.print(f"[yellow]unreadable finding:[/yellow] {escape(r)}", highlight=False)


def handle_command(
    ctx: typer.Context,
    event_file: Annotated[str, typer.Argument(help="EventBridge event JSON (Security Hub Findings - Imported, "
                                                   "GuardDuty Finding), or - for stdin.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan the update; write nothing.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace notes written by others.")] = False,
    updated_by: Annotated[str, typer.Option("--updated-by", help="Note.UpdatedBy.")] = "cairn",
) -> None:
    """Handle one EventBridge event as the Lambda handler would (enrich its findings, write them back)."""
    st: AppState = ctx.obj
    try:
        text = sys.stdin.read() if event_file == "-" else Path(event_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", origin=event_file) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                         "expected an EventBridge event as JSON", origin=event_file) from None
    try:
        event: Any = json.loads(text)
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}", origin=event_file) from None
    events = event if isinstance(event, list) else [event]
    for i, e in enumerate(events):
        problem = event_problem(e)
        if problem:
            raise InputError(problem, origin=event_file, locator=f"[{i}]" if isinstance(event, list) else None)
    opts = writeback_options(st.workspace.config, updated_by=updated_by, overwrite=overwrite)
    clients = _clients(st)
    results = [handle_event(e, st.workspace, st.engine, clients, opts, dry_run=dry_run) for e in events]
    if st.json:
        st.emit_json(results if isinstance(event, list) else results[0])
        return
    for r in results:
        st.console.print(f"event {r.get('event')} ({r.get('detail_type')}): {r['status']}", highlight=False)
        for f in r.get("findings", []):
            st.console.print(f"  {escape(f['id'])}: {f['status']}"
                             + (f", flagged {', '.join(f['flagged'])}" if f["flagged"] else ""), highlight=False)
        for u in r.get("unprocessed", []):
            st.console.print(f"  [yellow]unprocessed:[/yellow] {escape(str(u['id']))}: {u['error']}", highlight=False)
