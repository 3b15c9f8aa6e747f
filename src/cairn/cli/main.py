"""The ``cairn`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cairn import __version__
from cairn.cli.actions_cmd import actions_app
from cairn.cli.context import AppState
from cairn.cli.context_cmd import context_app
from cairn.cli.detect_cmd import alerts_app, detect_command
from cairn.cli.enrich_cmd import enrich_lake_command, refresh_for_query, retrohunt_command
from cairn.cli.intel_cmd import intel_app
from cairn.cli.lookup_cmd import lookup_command
from cairn.cli.securityhub_cmd import handle_command, securityhub_app
from cairn.cli.sigma_cmd import sigma_app
from cairn.cli.stream_cmd import enrich_command
from cairn.cli.triage_cmd import triage_command, triage_index_command
from cairn.errors import CairnError
from cairn.lake.catalog import Catalog, all_specs
from cairn.lake.ingest import Ingestor, RunSummary
from cairn.outputs.tables import output_format, render

app = typer.Typer(
    name="cairn",
    help="Enrich AWS security logs and findings: ingest, query, enrich, detect, triage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _state(ctx: typer.Context) -> AppState:
    return ctx.obj  # type: ignore[no-any-return]


@app.callback()
def main(
    ctx: typer.Context,
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", envvar="CAIRN_WORKSPACE",
                                                   help="Workspace folder (default: user data dir).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", envvar="CAIRN_CONFIG",
                                                help="Settings file (default: <workspace>/cairn.toml).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """cairn: security log enrichment for AWS."""
    ctx.obj = AppState(workspace_path=workspace, config_path=config, json=json_out, quiet=quiet)
    ctx.call_on_close(ctx.obj.close)
    if json_out:  # stdout carries one JSON document: `stdout` actions write their lines to stderr
        from cairn.actions.destinations.channel import reserve_stdout

        ctx.with_resource(reserve_stdout())


@app.command()
def version(ctx: typer.Context) -> None:
    """Print the version (with --json: also the Python and DuckDB versions)."""
    st = _state(ctx)
    if st.json:
        import platform

        import duckdb

        st.emit_json({"version": __version__, "python": platform.python_version(), "duckdb": duckdb.__version__})
    else:
        typer.echo(__version__)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the workspace (catalog, lake folders, default cairn.toml)."""
    st = _state(ctx)
    ws = st.workspace
    Catalog(st.engine, ws.lake).refresh_views()
    if st.json:
        st.emit_json({"workspace": str(ws.root), "config": str(ws.root / "cairn.toml")})
    else:
        st.console.print(f"workspace ready at [bold]{ws.root}[/bold]")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files, folders or s3://bucket/prefix URLs.")],
    source: Annotated[str, typer.Option("--source", "-s",
                                       help="auto|cloudtrail|vpcflow|route53|guardduty|securityhub|json")] = "auto",
    strict: Annotated[bool, typer.Option("--strict", help="Fail (and load nothing) if any record is quarantined.")] = False,
) -> None:
    """Load logs and findings into the lake (deduplicated, with a quarantine for bad records)."""
    st = _state(ctx)
    summary = run_ingest(st, paths, source=source, strict=strict or None)
    print_summary(st, summary)


def run_ingest(st: AppState, paths: list[str], *, source: str = "auto", strict: bool | None = None) -> RunSummary:
    """Run an ingest with a progress bar (unless --json/--quiet)."""
    total = _local_size(paths)
    show = not (st.json or st.quiet) and sys.stderr.isatty()
    with Progress(
        TextColumn("[bold]ingest"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=st.err, disable=not show, transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=total or None)
        ing = Ingestor(st.workspace, st.engine, source=source, strict=strict,
                       progress=lambda what, n: bar.advance(task, n))
        return ing.run(paths)


def _local_size(paths: list[str]) -> int:
    total = 0
    for p in paths:
        if p.startswith("s3://"):
            return 0
        pp = Path(p)
        if pp.is_file():
            total += pp.stat().st_size
        elif pp.is_dir():
            total += sum(f.stat().st_size for f in pp.rglob("*") if f.is_file())
    return total


def print_summary(st: AppState, s: RunSummary) -> None:
    """Show a run summary."""
    if st.json:
        st.emit_json(s.to_dict())
        return
    t = Table(title=f"ingest run {s.run_id}", show_header=True)
    for col in ("table", "read", "loaded", "duplicates", "quarantined"):
        t.add_column(col, justify="right" if col != "table" else "left")
    for name, c in sorted(s.tables.items()):
        t.add_row(name, f"{c.read:,}", f"{c.loaded:,}", f"{c.duplicates:,}", f"{c.quarantined:,}")
    unrouted = s.quarantined - sum(c.quarantined for c in s.tables.values())
    if unrouted:
        t.add_row("(unreadable input)", f"{unrouted:,}", "0", "0", f"{unrouted:,}")
    t.add_row("[bold]total", f"[bold]{s.records_read:,}", f"[bold]{s.loaded:,}", f"[bold]{s.duplicates:,}",
              f"[bold]{s.quarantined:,}")
    st.console.print(t)
    skipped = ", ".join(f"{n} {k}" for k, n in s.skipped.items()) or "none"
    ok = "[green]balanced[/green]" if s.balanced else "[red]NOT balanced[/red]"
    st.console.print(
        f"files {s.files:,} ({s.bytes_read / 1e6:,.1f} MB), skipped: {skipped}; "
        f"read = loaded + duplicates + quarantined: {ok}; {s.seconds:.2f}s"
    )
    if s.reasons:
        st.console.print("quarantine reasons: " + "; ".join(f"{k} ×{n}" for k, n in s.reasons.items()))
        st.console.print("see them with: cairn query \"SELECT origin, locator, reason FROM quarantine\"")


@app.command()
def tables(
    ctx: typer.Context,
    schema: Annotated[str | None, typer.Option("--schema", help="Show the columns of this table (or of a "
                                                "<table>_enriched view).")] = None,
) -> None:
    """List the lake's tables with row counts and time ranges."""
    st = _state(ctx)
    specs = all_specs()
    if schema:
        from rich.markup import escape

        from cairn.enrich.tables import ENRICHMENT_COLUMNS, event_tables
        from cairn.errors import ConfigError
        from cairn.lake.schema import Column

        views = [f"{n}_enriched" for n in event_tables()]
        if schema in specs:
            spec = specs[schema]
            title, columns = f"{spec.name}: {spec.doc}", list(spec.columns)
        elif schema in views:
            base = specs[schema.removesuffix("_enriched")]
            struct = ", ".join(f"{c.name} {c.type}" for c in ENRICHMENT_COLUMNS)
            title = f"{schema} (view): the columns of {base.name}, its events' highest verdict and enrichment"
            columns = [*base.columns,
                       Column("max_score_id", "INTEGER", "Highest verdict (OCSF reputation 0-10) of the event's "
                              "observables"),
                       Column("enrichment", f"STRUCT({struct})[]", "One entry per observable of the event: the "
                              "enriched_observables columns from field onwards, ordered by field and value")]
        else:
            raise ConfigError(f"--schema: unknown table {schema!r}; tables are {', '.join(specs)}; views are "
                              f"{', '.join(views)}")
        if st.json:
            st.emit_json([{"name": c.name, "type": c.type, "doc": c.doc} for c in columns])
            return
        t = Table(title=escape(title))
        for col in ("column", "type", "meaning"):
            t.add_column(col, overflow="fold")
        for c in columns:
            t.add_row(c.name, escape(c.type), escape(c.doc))
        st.console.print(t)
        return
    cat = Catalog(st.engine, st.workspace.lake)
    stats = cat.table_stats()
    if st.json:
        st.emit_json([
            {"table": n, "files": f, "rows": r, "first": lo, "last": hi,
             "ocsf_class_uid": specs[n].ocsf_class_uid, "doc": specs[n].doc}
            for n, f, r, lo, hi in stats
        ])
        return
    t = Table(title=f"lake at {st.workspace.root}")
    for col in ("table", "rows", "files", "first event", "last event", "OCSF class"):
        t.add_column(col, justify="right" if col in ("rows", "files") else "left")
    for n, f, r, lo, hi in stats:
        spec = specs[n]
        ocsf = f"{spec.ocsf_class_uid} {spec.ocsf_class_name}" if spec.ocsf_class_uid else ""
        t.add_row(n, f"{r:,}", f"{f:,}", _ts(lo), _ts(hi), ocsf)
    st.console.print(t)


def _ts(v: object) -> str:
    return v.strftime("%Y-%m-%d %H:%M:%S") if hasattr(v, "strftime") else ""


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="SQL over the lake's tables (or - to read it from stdin).")],
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="table|csv|json|jsonl|parquet (default: from the -o file's suffix "
        ".csv/.json/.jsonl/.parquet, else table; json with --json)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Show at most this many rows (table format).")] = None,
) -> None:
    """Run SQL over the lake (DuckDB dialect, portable SQL recommended).

    Every column is written; JSON, JSON lines and Parquet rename repeated column names a, a_2, a_3, ...
    Values with no faithful JSON/CSV/Python form (intervals, infinity, BC dates, BIT, ...) are written as
    DuckDB's text of them; NaN and infinity as null in JSON. In JSON and JSON lines, JSON columns are
    their JSON values and maps are objects; CSV writes JSON as its text.
    """
    from rich.markup import escape

    st = _state(ctx)
    if sql == "-":
        sql = sys.stdin.read()
    if st.json and fmt in (None, "table") and output is None:
        fmt = "json"
    fmt = output_format(fmt, output)
    refresh_for_query(st, sql)
    table = st.query_table(sql)
    if limit is not None and fmt == "table":
        table = table.slice(0, limit)
    render(table, fmt, output, console=st.console)
    if output and not st.json:
        st.err.print(f"wrote {table.num_rows:,} rows to {escape(str(output))}", highlight=False, soft_wrap=True)


@app.command()
def demo(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option("--keep/--fresh", help="Keep the demo workspace's previous data.")] = False,
) -> None:
    """Run the whole pipeline on the bundled real samples (ingest, intel, context, enrichment, detection,
    actions, triage of the top alert) and print a report."""
    from cairn.demo import run_demo

    run_demo(_state(ctx), fresh=not keep)


app.command("lookup")(lookup_command)
app.command("detect")(detect_command)
app.command("triage")(triage_command)
app.command("triage-index")(triage_index_command)
app.command("enrich")(enrich_command)
app.command("retrohunt")(retrohunt_command)
app.command("enrich-lake")(enrich_lake_command)

config_app = typer.Typer(help="Show settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(intel_app, name="intel")
app.add_typer(context_app, name="context")
app.add_typer(sigma_app, name="sigma")
app.add_typer(actions_app, name="actions")
app.add_typer(securityhub_app, name="securityhub")
app.command("handle")(handle_command)
app.add_typer(alerts_app, name="alerts")


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective settings (secrets as ``***``; ``${ENV}`` references as written)."""
    from dataclasses import asdict

    from cairn.config import redact

    st = _state(ctx)
    cfg = st.workspace.config
    data = redact({"source": str(cfg.source) if cfg.source else None, "ingest": asdict(cfg.ingest),
                   "sources": {"vpcflow": asdict(cfg.vpcflow)}, "aws": asdict(cfg.aws), **cfg.extra})
    if st.json:
        st.emit_json(data)
    else:
        import json

        st.console.print(Panel(json.dumps(data, indent=2, default=str), title="cairn settings"))


def run() -> None:
    """Console-script entry point with cairn's error handling and exit codes."""
    try:
        app(standalone_mode=False)
    except CairnError as exc:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, emoji=False).print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False,
                                              soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # usage errors and friends of click (or the copy Typer vendors)
        code = getattr(exc, "exit_code", None)
        if _is_click(exc) and isinstance(code, int):
            if callable(getattr(exc, "show", None)):
                exc.show()  # type: ignore[attr-defined]
            sys.exit(code)
        raise


def _is_click(exc: BaseException) -> bool:
    """Is ``exc`` a click exception (``ClickException`` or ``Exit``), from click or Typer's vendored copy?"""
    return any(cls.__module__.split(".")[-2:] in (["click", "exceptions"], ["_click", "exceptions"])
               for cls in type(exc).__mro__)
