"""``cairn context sync aws``: AWS Organizations and resource tags into the context tables."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from cairn.cli.context import AppState
from cairn.context.aws import aws_context_settings, parse_duration, sync_aws

sync_app = typer.Typer(help="Read organisational context from a provider into the context tables.",
                       no_args_is_help=True)


@sync_app.command("aws")
def sync_aws_command(
    ctx: typer.Context,
    role_name: Annotated[str | None, typer.Option("--role-name", help="Role to assume in each member account "
                                                  "to read resource tags (default: [context.aws] role_name).")] = None,
    ttl: Annotated[str | None, typer.Option("--ttl", help="Skip scopes loaded less than this long ago: 30m, 12h, "
                                            "2d; 0 reads everything (default: [context.aws] ttl, 12h).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Ignore the TTL (same as --ttl 0).")] = False,
    region: Annotated[list[str] | None, typer.Option("--region", help="EC2 region to read (repeatable; default: "
                                                     "[context.aws] regions, else the session's region).")] = None,
    no_resources: Annotated[bool, typer.Option("--no-resources", help="Organizations only: no EC2/IAM/S3 "
                                               "tags.")] = False,
) -> None:
    """Read AWS Organizations (accounts, OU paths, tags, alternate contacts) and resource tags (EC2, IAM, S3)."""
    st: AppState = ctx.obj
    ws = st.workspace
    if ttl is not None:
        parse_duration(ttl, what="--ttl")
    settings = aws_context_settings(ws.config).with_options(
        role_name=role_name, ttl=ttl, regions=tuple(region) if region else None,
        resources=False if no_resources else None)
    show = not (st.json or st.quiet) and sys.stderr.isatty()
    with Progress(SpinnerColumn(), TextColumn("[bold]sync aws[/bold] {task.description}"), console=st.err,
                  disable=not show, transient=True) as bar:
        done: dict[str, int] = {}
        task = bar.add_task("")

        def progress(what: str, n: int) -> None:
            done[what] = done.get(what, 0) + n
            bar.update(task, description=", ".join(f"{k} {v:,}" for k, v in done.items()))

        report = sync_aws(ws, st.engine, settings, ws.config.aws, force=force, progress=progress)
    if st.json:
        st.emit_json(report.to_dict())
        return
    t = Table(title=f"context sync aws: {report.accounts:,} accounts"
              + (f" in {report.org_id}" if report.org_id else ""))
    for col in ("scope", "kind", "status", "rows", "left out", "replaced"):
        t.add_column(col, justify="right" if col in ("rows", "left out", "replaced") else "left")
    for r in report.loads:
        if r.status == "unchanged" and len(report.loads) > 40:
            continue
        t.add_row(escape(r.source_file), r.kind, r.status, f"{r.rows:,}", f"{r.invalid:,}", f"{r.replaced_rows:,}")
    st.console.print(t)
    unchanged = sum(r.status == "unchanged" for r in report.loads)
    calls = report.calls
    st.console.print(f"{len(report.fresh):,} scopes fresh (TTL {settings.ttl}), {unchanged:,} unchanged; "
                     f"{calls.get('calls', 0):,} API calls ({calls.get('throttled', 0):,} throttled, "
                     f"{calls.get('backoffs', 0):,} backoffs); {report.seconds:.1f}s", highlight=False)
    for note in report.notes[:50]:
        st.console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if len(report.notes) > 50:
        st.console.print(f"... and {len(report.notes) - 50:,} more notes (--json lists them all)")
