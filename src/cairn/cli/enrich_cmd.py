"""``cairn retrohunt`` and ``cairn enrich-lake``: enrichment of the stored lake."""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cairn.cli.context import AppState
from cairn.enrich.materialize import EnrichSummary, refresh
from cairn.enrich.retrohunt import _KEY, retrohunt
from cairn.timeparse import parse_time

_COLOURS = {0: "dim", 1: "green", 2: "green", 3: "green", 4: "green", 5: "yellow", 6: "yellow", 7: "orange3",
            8: "red", 9: "red", 10: "bold red"}


def _spinner(st: AppState, what: str) -> Progress:
    show = not (st.json or st.quiet) and sys.stderr.isatty()
    return Progress(SpinnerColumn(), TextColumn(f"[bold]{what}[/bold] {{task.description}}"), TimeElapsedColumn(),
                    console=st.err, disable=not show, transient=True)


def _summary_line(s: EnrichSummary) -> str:
    if s.mode == "up-to-date":
        return "enrichment up to date" + (f" ({s.reason})" if s.reason else "")
    return (f"enrichment {s.mode} ({s.reason}): {s.input_files:,} observables files, {s.observables:,} observables, "
            f"{s.matches:,} intel matches in {s.seconds:.2f}s")


def enrich_lake_command(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Recompute everything, not only new observables.")] = False,
) -> None:
    """Bring enriched_observables, intel_matches and the <table>_enriched views up to date."""
    st: AppState = ctx.obj
    with _spinner(st, "enrich") as bar:
        task = bar.add_task("observables")
        s = refresh(st.engine, st.workspace, full=full,
                    progress=lambda what, n: bar.update(task, description=f"{what} {n:,}"))
    if st.json:
        st.emit_json(s.to_dict())
    else:
        st.console.print(_summary_line(s))


def retrohunt_command(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="Only events at or after this time (ISO 8601, "
                                                             "or relative: 24h, 7d).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the new matches without marking them reported.")]
    = False,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="Show at most this many rows (table output; "
                                              "every new match is still marked as reported, and the rows left "
                                              "out are counted with a query that lists them).")] = None,
) -> None:
    """Re-enrich stored events against the current intel; list matches new since the last retrohunt."""
    st: AppState = ctx.obj
    t = parse_time(since, option="--since")
    with _spinner(st, "retrohunt") as bar:
        task = bar.add_task("enrich")
        rep = retrohunt(st.engine, st.workspace, since=t, record=not dry_run,
                        progress=lambda what, n: bar.update(task, description=f"{what} {n:,}"))
    if st.json:
        st.emit_json(rep.to_dict())
        return
    rows: list[dict[str, Any]] = rep.new.to_pylist()
    prev = (f"since run {rep.previous_run} ({rep.previous_ran_at:%Y-%m-%d %H:%M:%S} UTC)"
            if rep.previous_run and rep.previous_ran_at else "first retrohunt run")
    tab = Table(title=f"retrohunt: {len(rows):,} new matches ({prev}); {rep.total_matches:,} matches in all")
    for col in ("event time", "observable", "field", "table", "indicator", "source", "feed version", "verdict"):
        tab.add_column(col, overflow="fold", max_width=40)
    shown = rows[:limit] if limit is not None else rows
    for r in shown:
        score = r.get("score_id") or 0
        indicator = r["matched"] + ("" if r["match_kind"] == "exact" else f" ({r['match_kind']})")
        if r.get("threat_type"):
            indicator += f"\n{r['threat_type']}"
        tab.add_row(f"{r['event_time']:%Y-%m-%d %H:%M:%S}" if r.get("event_time") else "", r["value"], r["field"],
                    r["source"], indicator, r["intel_source"], r["feed_version"] or "",
                    f"[{_COLOURS.get(score, '')}]{score} {r.get('score') or ''}[/]")
    st.console.print(tab)
    hidden = len(rows) - len(shown)
    if hidden:
        st.err.print(_hidden_note(hidden, len(rows), rep.run_id, dry_run), highlight=False, markup=False, soft_wrap=True)
    st.err.print(_summary_line(rep.enrich))
    if dry_run:
        st.err.print("dry run: these matches were not marked as reported")


def _hidden_note(hidden: int, total: int, run_id: str, dry_run: bool) -> str:
    """What to say about the new matches ``--limit`` left out of the table, and how to see them."""
    if dry_run:
        return (f"{hidden:,} more new matches not shown (--limit); none was marked as reported: "
                "run without --limit, or use cairn --json retrohunt --dry-run, to see them all")
    return (f"{hidden:,} more new matches not shown (--limit); all {total:,} were marked as reported. "
            f"See them all with: cairn query \"SELECT m.* FROM intel_matches m JOIN _cairn_retrohunt_seen s "
            f"ON s.match_key = {_KEY} WHERE s.run_id = '{run_id}' ORDER BY m.event_time\"")


_ENRICH_RELATIONS = re.compile(r"\b(enriched_observables|intel_matches|[a-z0-9_]+_enriched)\b", re.IGNORECASE)


def refresh_for_query(st: AppState, sql: str) -> None:
    """Before ``cairn query`` reads enrichment relations, bring them up to date when stale (noted on stderr)."""
    if not _ENRICH_RELATIONS.search(sql):
        return
    from cairn.enrich.materialize import is_stale

    if not is_stale(st.engine):
        return
    with _spinner(st, "enrich") as bar:
        bar.add_task("refreshing enrichment")
        s = refresh(st.engine, st.workspace)
    if not st.json:
        st.err.print(_summary_line(s))
