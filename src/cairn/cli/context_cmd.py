"""``cairn context``: load inventory files, show the context tables, see what context a value gets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cairn.cli.context import AppState
from cairn.cli.context_aws_cmd import sync_app
from cairn.context.kinds import KINDS
from cairn.context.lookup import OBSERVABLE_TYPES, describe, match_values, plain
from cairn.context.problems import InventoryError
from cairn.context.settings import context_settings
from cairn.context.store import KIND_CHOICES, LoadReport, load_files, unload_files
from cairn.errors import ConfigError, InputError

context_app = typer.Typer(help="Organisational context: accounts, networks, identities, assets.",
                          no_args_is_help=True)
context_app.add_typer(sync_app, name="sync")

SHOW_COLUMNS = {
    "accounts": ("account_id", "name", "ou_path", "environment", "owner", "contacts", "tags"),
    "networks": ("cidr", "name", "zone", "vpc_id", "subnet_id", "site", "owner", "account_id", "environment",
                 "tags"),
    "identities": ("kind", "value", "person", "email", "team", "account_id", "tags"),
    "assets": ("resource_id", "resource_type", "name", "account_id", "owner", "team", "criticality",
               "environment", "tags"),
    "loads": ("source_file", "kind", "rows", "invalid", "loaded_at", "checked_at", "is_current"),
}
_ORDER = {
    "accounts": "account_id", "networks": "ip_version, range_start, prefix_len", "identities": "kind, value",
    "assets": "resource_id", "loads": "loaded_at DESC, source_file, kind",
}


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output (same as cairn --json).")]


def _state(ctx: typer.Context, json_out: bool = False) -> AppState:
    """The shared state; ``json_out`` (the subcommand's own ``--json``) switches JSON output on."""
    st: AppState = ctx.obj
    if json_out:
        st.json = True
    return st


@context_app.command("load")
def load(
    ctx: typer.Context,
    files: Annotated[list[Path] | None, typer.Argument(help="Inventory files (.yaml, .yml, .csv); default: the "
                                                      "files of the context section of the settings.")] = None,
    kind: Annotated[str, typer.Option("--kind", "-k", help="auto|accounts|networks|identities|assets")] = "auto",
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Load the valid records and report the "
                                               "others (default: any problem fails the load).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Load inventory files into the context tables (each file replaces what it loaded before)."""
    st = _state(ctx, json_out)
    targets: list[str | Path] = list(files or [])
    if not targets:
        targets = list(context_settings(st.workspace.config).file_paths())
        if not targets:
            raise ConfigError("no inventory files given, and the settings list none (files in the context section)")
    if kind not in KIND_CHOICES:
        raise ConfigError(f"unknown kind {kind!r}; choose one of {', '.join(KIND_CHOICES)}")
    try:
        reports = load_files(st.workspace, st.engine, targets, kind=kind, skip_invalid=skip_invalid)
    except InventoryError as exc:
        if st.json:
            st.emit_json({"error": "inventory problems; nothing was loaded",
                          "problems": [str(p) for p in exc.problems]})
        raise InputError(str(exc)) from None
    _report(st, reports, "context load")


@context_app.command("unload")
def unload(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Inventory files whose rows to remove.")],
    json_out: JsonOpt = False,
) -> None:
    """Remove from the context tables everything the given files loaded (a file never loaded: exit 3)."""
    st = _state(ctx, json_out)
    _report(st, unload_files(st.workspace, st.engine, list(files), missing_ok=False), "context unload")


def _report(st: AppState, reports: list[LoadReport], title: str) -> None:
    if st.json:
        st.emit_json([r.to_dict() for r in reports])
        return
    t = Table(title=title)
    for col in ("file", "kind", "status", "rows", "invalid", "replaced"):
        t.add_column(col, justify="right" if col in ("rows", "invalid", "replaced") else "left")
    for r in reports:
        t.add_row(escape(r.file), r.kind, r.status, f"{r.rows:,}", f"{r.invalid:,}", f"{r.replaced_rows:,}")
    st.console.print(t)
    for r in reports:
        for note in r.notes:
            st.console.print(f"note: {escape(note)}", highlight=False)
        for problem in r.problems:
            st.console.print(f"[yellow]left out:[/yellow] {escape(problem)}", highlight=False)


@context_app.command("show")
def show(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Argument(help="accounts|networks|identities|assets|loads (default: all "
                                                     "four kinds)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=0,
                                              help="Show at most this many rows per kind (0: all).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the context tables."""
    st = _state(ctx, json_out)
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        if k not in SHOW_COLUMNS:
            raise ConfigError(f"unknown kind {k!r}; choose one of {', '.join(SHOW_COLUMNS)}")
    data: dict[str, list[dict[str, Any]]] = {}
    for k in kinds:
        table = "ctx_loads" if k == "loads" else KINDS[k].table
        where = " WHERE is_current" if k == "loads" else ""
        lim = f" LIMIT {int(limit)}" if limit else ""  # None or 0: all rows, as for `alerts --limit 0`
        data[k] = [plain(r) for r in st.engine.arrow(f"SELECT * FROM {table}{where} ORDER BY {_ORDER[k]}{lim}")
                   .to_pylist()]
    if st.json:
        st.emit_json(data[kinds[0]] if kind else data)
        return
    for k in kinds:
        if not data[k] and not kind:
            continue
        t = Table(title=f"{'ctx_loads (current)' if k == 'loads' else KINDS[k].table}: {len(data[k]):,} rows")
        for col in (*SHOW_COLUMNS[k], *(("from",) if k != "loads" else ())):
            t.add_column(col, overflow="fold")
        for r in data[k]:
            cells = [_cell(r.get(c)) for c in SHOW_COLUMNS[k]]
            if k != "loads":
                cells.append(f"{Path(r['source_file']).name}:{r['locator'].removeprefix('line ')}"
                             if r.get("source_file") and r.get("source") == "file"
                             else str(r.get("source_file") or r.get("source") or ""))
            t.add_row(*(escape(c) for c in cells))
        st.console.print(t)
    if not any(data.values()) and not kind:
        st.console.print("no context loaded; see: cairn context load --help")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict):
        return "; ".join(f"{k}={x}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


@context_app.command("match")
def match(
    ctx: typer.Context,
    values: Annotated[list[str], typer.Argument(help="IPs, account ids, ARNs, access keys, user names, "
                                                     "resource ids.")],
    type_: Annotated[str | None, typer.Option("--type", "-t", help="Take every value as this observable type: "
                                              + "|".join(OBSERVABLE_TYPES))] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show what context values get (the enrichment engine's matching rules): handy to check an inventory."""
    st = _state(ctx, json_out)
    if type_ is not None and type_ not in OBSERVABLE_TYPES:
        raise ConfigError(f"unknown type {type_!r}; choose one of {', '.join(OBSERVABLE_TYPES)}")
    results = match_values(st.engine, values, type_)
    if st.json:
        st.emit_json(results)
        return
    t = Table(title="cairn context match", show_lines=True)
    for col in ("value", "type", "context", "match", "details", "from"):
        t.add_column(col, overflow="fold", ratio=3 if col == "details" else 1)
    for res in results:
        if not res["matches"]:
            types = ", ".join(o[0] for o in res["observables"]) or "?"
            t.add_row(escape(res["input"]), types, "", "[dim]no context[/dim]", "", "")
        for m in res["matches"]:
            how = f"{m['match_kind']} ({m['specificity']})" + (" [bold]best[/bold]" if m["best"] else "")
            src = (f"{Path(m['ctx_file']).name}:{(m.get('ctx_locator') or '').removeprefix('line ')}"
                   if m.get("ctx_file") else str(m.get("ctx_source") or ""))
            t.add_row(escape(res["input"]), m["type"], m["kind"], how, escape(describe(m, "\n")), escape(src))
    st.console.print(t)
