"""``cairn sigma convert|run PATH...``: Sigma rules -> DuckDB SQL, and their matches on the lake."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cairn.cli.context import AppState
from cairn.errors import ConfigError, InputError
from cairn.outputs.tables import rows_as_dicts

if TYPE_CHECKING:  # pySigma is imported when a sigma command runs, not at every cairn start
    from cairn.detect.sigma import RuleSet

sigma_app = typer.Typer(help="Sigma rules: convert them to SQL, run them over the lake.",
                        no_args_is_help=True)

PathsArg = Annotated[list[Path], typer.Argument(help="Rule files or folders (searched for *.yml, *.yaml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
PlaceholderOpt = Annotated[list[str] | None, typer.Option(
    "--placeholder", "-p", help="NAME=VALUE for %NAME% in |expand rules (repeat for several values).")]


def _placeholders(items: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--placeholder wants NAME=VALUE, got {item!r}")
        out.setdefault(name, []).append(value)
    return out


def _load(paths: list[Path], placeholders: list[str] | None) -> RuleSet:
    from cairn.detect.sigma import load_rules

    rules = load_rules(paths, placeholders=_placeholders(placeholders))
    if not len(rules):
        raise InputError("no Sigma rules found", origin=", ".join(map(str, paths)))
    return rules


def _summary(rules: RuleSet) -> str:
    written = rules.written()
    ok = sum(e.reason is None for e in written)
    return f"{ok} of {len(written)} rules converted ({rules.conversion_rate:.0%}); {len(written) - ok} failed"


@sigma_app.command("convert")
def convert(
    ctx: typer.Context,
    paths: PathsArg,
    json_out: JsonOpt = False,
    placeholder: PlaceholderOpt = None,
    show_sql: Annotated[bool, typer.Option("--sql", help="Show the SQL of converted rules.")] = False,
) -> None:
    """Convert rules to SQL and list each one: converted, or failed with the reason."""
    st: AppState = ctx.obj
    rules = _load(paths, placeholder)
    if json_out or st.json:
        written = rules.written()
        ok = sum(e.reason is None for e in written)
        st.emit_json({"rules": rows_as_dicts(rules.status_table()), "total": len(written),
                      "converted": ok, "failed": len(written) - ok, "conversion_rate": rules.conversion_rate})
        return
    t = Table(title="Sigma rules", show_lines=show_sql)
    for col in ("rule", "title", "table", "status", "reason or SQL" if show_sql else "reason"):
        t.add_column(col, overflow="fold")
    for e in rules:
        status = "[green]converted[/green]" if e.reason is None else "[red]failed[/red]"
        detail = e.reason if e.reason is not None else (e.sql if show_sql else "")
        t.add_row(escape(Path(e.path).name), escape(e.title), e.table or "", status, escape(detail or ""))
    st.console.print(t)
    st.console.print(_summary(rules))


@sigma_app.command("run")
def run(
    ctx: typer.Context,
    paths: PathsArg,
    since: Annotated[str | None, typer.Option("--since", help="Only events at or after this time (ISO 8601, or relative: 24h, 7d).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only events before this time (ISO 8601, or relative: 24h, 7d).")] = None,
    table: Annotated[list[str] | None, typer.Option("--table", help="Only rules of this lake table.")] = None,
    json_out: JsonOpt = False,
    placeholder: PlaceholderOpt = None,
) -> None:
    """Run the rules over the lake (one scan per table) and list the matches."""
    st: AppState = ctx.obj
    from cairn.detect.sigma import run_rules
    from cairn.timeparse import parse_time

    rules = _load(paths, placeholder)
    matches = run_rules(st.engine, rules, tables=table or None, since=parse_time(since, option="--since"),
                        until=parse_time(until, option="--until"))
    if json_out or st.json:
        st.emit_json({"matches": rows_as_dicts(matches), "rules": len(rules.written()),
                      "failed_rules": [{"path": e.path, "title": e.title, "reason": e.reason}
                                       for e in rules.written() if e.reason]})
        return
    t = Table(title=f"Sigma matches ({matches.num_rows:,})")
    for col in ("time", "rule", "level", "author", "principal", "source IP", "account", "event"):
        t.add_column(col, overflow="fold")
    for r in matches.to_pylist():
        when = r["event_time"].strftime("%Y-%m-%d %H:%M:%S") if r["event_time"] else ""
        count = f" ({r['event_count']} events)" if r["rule_kind"] == "correlation" else ""
        t.add_row(when, escape(r["rule_title"] + count), r["rule_level"], escape(r["rule_author"] or ""),
                  escape(r["principal_arn"] or ""), r["src_ip"] or "", r["account_id"] or "", r["event_uid"])
    st.console.print(t)
    st.err.print(_summary(rules) + ("; see them with: cairn sigma convert" if rules.failed() else ""))
