"""``cairn intel``: load and refresh threat-intel feeds, list versions and rejects."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cairn.cli.context import AppState
from cairn.config import redact_text
from cairn.errors import CairnError, ConfigError
from cairn.intel.feeds import FeedConfig, HttpClient, feed_configs, load_target, update_feed
from cairn.intel.formats import FORMATS
from cairn.intel.store import IntelStore, LoadReport, LoadSettings, check_settings

intel_app = typer.Typer(help="Threat-intel feeds: load, refresh, versions, rejects.", no_args_is_help=True)

def _aws_ip_ranges(st: AppState) -> dict[str, Any]:
    from cairn.intel.ownership.cloud import refresh_aws_ip_ranges
    from cairn.intel.settings import intel_settings

    url = intel_settings(st.workspace.config).ownership.aws_url
    return {"name": "aws-ip-ranges", **refresh_aws_ip_ranges(st.workspace.root, url)}


def _tor_exit_nodes(st: AppState) -> dict[str, Any]:
    from cairn.intel.ownership.tor import refresh_tor_exit_nodes
    from cairn.intel.settings import intel_settings

    url = intel_settings(st.workspace.config).ownership.tor_url
    return {"name": "tor-exit-nodes", **refresh_tor_exit_nodes(st.workspace.root, url)}


UPDATERS: dict[str, Callable[[AppState], dict[str, Any]]] = {
    "aws-ip-ranges": _aws_ip_ranges,
    "tor-exit-nodes": _tor_exit_nodes,
}
"""Built-in refreshers that are not feeds (ownership data), by name, for ``cairn intel update NAME``."""


class FeedsFailed(CairnError):
    """Some feeds of ``cairn intel update`` failed (the others were refreshed); exits with the code of
    the first failure."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _state(ctx: typer.Context) -> AppState:
    return ctx.obj  # type: ignore[no-any-return]


_OPTION_NAMES = {"confidence": "--confidence", "max_age_days": "--max-age-days",
                 "decay_half_life_days": "--half-life-days", "severity": "--severity", "tlp": "--tlp",
                 "threat_type": "--threat-type"}


_PAIR_SEP = re.compile(r",(?=\s*[\w.-]+\s*=)")
"""A comma that starts the next ``key=`` (so ``delimiter=,`` keeps its comma)."""


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """``key=value`` pairs of repeated and comma-separated options; a key given twice is an error."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in _PAIR_SEP.split(item):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ConfigError(f"{what} expects key=value pairs, got {part!r}")
            key = key.strip()
            if key in out:
                raise ConfigError(f"{what} gives {key} twice ({key}={out[key]} and {key}={value.strip()})")
            out[key] = value.strip()
    return out


@contextmanager
def _progress(st: AppState, label: str) -> Iterator[Callable[[str, int], None]]:
    show = not (st.json or st.quiet) and sys.stderr.isatty()
    with Progress(SpinnerColumn(), TextColumn(f"[bold]{label}"), MofNCompleteColumn(), TextColumn("entries"),
                  TimeElapsedColumn(), console=st.err, disable=not show, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda stage, n: bar.advance(task, n)


def _report(st: AppState, reports: list[LoadReport]) -> None:
    if st.json:
        st.emit_json([r.to_dict() for r in reports] if len(reports) != 1 else reports[0].to_dict())
        return
    for r in reports:
        t = Table(title=f"{r.source}: {r.status} {r.feed_version or ''} ({r.format}, {r.seconds:.1f}s)")
        for col in ("parsed", "loaded", "duplicates", "rejected", "unsupported", "sanity", "added", "removed",
                    "unchanged"):
            t.add_column(col, justify="right")
        t.add_row(*(f"{v:,}" for v in (r.parsed, r.loaded, r.duplicates, r.rejected, r.unsupported,
                                       r.sanity_dropped, r.added, r.removed, r.unchanged)))
        st.console.print(t)
        if r.cidr_canonicalised:
            st.console.print(f"{r.cidr_canonicalised:,} CIDR(s) had host bits set and were stored as their network")
        for reason, n in list(r.reasons.items())[:10]:
            st.console.print(f"  {n:>9,}  {reason}", highlight=False)
        if r.reasons:
            st.console.print(f"see them all with: cairn intel rejects --source {r.source}")


@intel_app.command("load")
def load(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Feed file, folder (MISP feed) or http(s) URL (folder URLs end in /).")],
    source: Annotated[str, typer.Option("--source", "-s", help="Feed name the indicators are stored under.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="auto or one of `cairn intel formats`.")] = "auto",
    mapping: Annotated[list[str] | None, typer.Option("--map", help="csv: field=column pairs, e.g. value=dst_ip,port=dst_port")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="Format option key=value (e.g. preset=feodo, type=ip).")] = None,
    internal: Annotated[bool | None, typer.Option("--internal/--external", help="Feed lists our own (private) ranges.")] = None,
    max_age_days: Annotated[float | None, typer.Option(help="Indicators older than this expire (0 = never).")] = None,
    half_life_days: Annotated[float | None, typer.Option(help="Confidence half-life in days (0 = no decay).")] = None,
    confidence: Annotated[int | None, typer.Option(help="Default confidence 0-100.")] = None,
    threat_type: Annotated[str | None, typer.Option(help="Default threat type.")] = None,
    severity: Annotated[str | None, typer.Option(help="Default severity.")] = None,
    tlp: Annotated[str | None, typer.Option(help="Default TLP (clear, green, amber, amber+strict, red).")] = None,
) -> None:
    """Load a feed file, folder or URL as a new version of SOURCE (no-op when unchanged)."""
    st = _state(ctx)
    feeds = feed_configs(st.workspace.config)
    base = feeds.get(source) or FeedConfig(source, path=target)
    s = base.settings()
    settings = LoadSettings(
        internal=s.internal if internal is None else internal,
        max_age_days=s.max_age_days if max_age_days is None else max_age_days,
        decay_half_life_days=s.decay_half_life_days if half_life_days is None else half_life_days,
        confidence=s.confidence if confidence is None else confidence,
        severity=severity or s.severity, threat_type=threat_type or s.threat_type, tlp=tlp or s.tlp,
        max_prefix_v4=s.max_prefix_v4, max_prefix_v6=s.max_prefix_v6,
    )
    settings = check_settings(settings, lambda key: _OPTION_NAMES.get(key, f"[intel.feeds.{source}] {key}"))
    store = IntelStore(st.workspace, st.engine)
    client = HttpClient(base.headers, timeout=base.timeout, retries=base.retries)
    with _progress(st, f"load {source}") as progress:
        report = load_target(
            store, target, source, fmt=fmt if fmt != "auto" else base.format,
            columns={**base.columns, **_pairs(mapping, "--map")},
            options={**base.options, **_pairs(option, "--option")},
            settings=settings, client=client, progress=progress,
        )
    _report(st, [report])


def _failed(name: str, origin: str, exc: CairnError) -> dict[str, Any]:
    """The ``--json`` / table row of a feed that could not be refreshed."""
    return {"source": name, "status": "failed", "origin": origin, "error": str(exc),
            "exit_code": exc.exit_code}


def _summary(st: AppState, rows: list[dict[str, Any]]) -> None:
    """One line per feed: its outcome, version and counts, or the reason it failed."""
    t = Table(title="intel update")
    for c in ("feed", "status", "feed_version", "loaded", "added", "removed", "error"):
        t.add_column(c, justify="right" if c in ("loaded", "added", "removed") else "left",
                     overflow="fold" if c == "error" else "ellipsis")
    for r in rows:
        counts = ("", "", "") if r["status"] == "failed" else (
            f"{r.get('loaded', 0):,}", f"{r.get('added', 0):,}", f"{r.get('removed', 0):,}")
        status = "[red]failed[/red]" if r["status"] == "failed" else escape(r["status"])
        t.add_row(escape(r["source"]), status, escape(r.get("feed_version") or ""), *counts,
                  escape(r.get("error", "")))
    st.console.print(t)


@intel_app.command("update")
def update(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Configured feeds to refresh (default: all).")] = None,
) -> None:
    """Refresh configured feeds (\\[intel.feeds.NAME]) with conditional HTTP requests.

    Every feed is tried and its outcome reported; the command fails, naming them, when any feed failed.
    """
    st = _state(ctx)
    feeds = feed_configs(st.workspace.config)
    wanted = names or list(feeds)
    unknown = [n for n in wanted if n not in feeds and n not in UPDATERS]
    if unknown:
        known = ", ".join([*feeds, *UPDATERS]) or "none configured"
        raise ConfigError(f"unknown feed(s) {', '.join(unknown)}; feeds are: {known}")
    if not wanted:
        raise ConfigError("no feeds configured: add [intel.feeds.NAME] sections to cairn.toml (docs/intel.md)")
    store = IntelStore(st.workspace, st.engine)
    reports: list[LoadReport] = []
    rows: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []  # one object per name, in the order given (--json)
    failures: list[tuple[str, CairnError]] = []
    for name in wanted:
        if name in UPDATERS and name not in feeds:
            try:
                other = {"source": name, **UPDATERS[name](st)}
            except Exception as exc:  # every name is tried; the failure is reported
                err = _as_error(exc)
                failures.append((name, err))
                other = _failed(name, "", err)
            others.append(other)
            results.append(other)
            continue
        feed = feeds[name]
        try:
            with _progress(st, f"update {name}") as progress:
                report = update_feed(store, feed, progress=progress)
        except Exception as exc:  # every feed is tried; the failure is reported
            err = _as_error(exc)
            failures.append((name, err))
            rows.append(_failed(name, redact_text(feed.url or feed.path), err))
            results.append(rows[-1])
            continue
        reports.append(report)
        rows.append(report.to_dict())
        results.append(rows[-1])
    if st.json:
        st.emit_json(results)  # one document: a list, one object per name
    else:
        _report(st, reports)
        if failures or len(rows) > 1:
            _summary(st, rows)
        for o in others:
            st.console.print(escape(f"{o['source']}: "
                                    + ", ".join(f"{k} {v}" for k, v in o.items() if k not in ("name", "source"))),
                             highlight=False)
    if failures:
        done = len(wanted) - len(failures)
        reasons = "; ".join(f"{name}: {exc}" for name, exc in failures)
        raise FeedsFailed(f"{len(failures)} of {len(wanted)} feed(s) failed ({done} refreshed): {reasons}",
                          failures[0][1].exit_code)


def _as_error(exc: Exception) -> CairnError:
    """``exc`` as a :class:`CairnError` (an unexpected error keeps its type name; exit code 1)."""
    if isinstance(exc, CairnError):
        return exc
    return CairnError(f"unexpected error ({type(exc).__name__}): {redact_text(str(exc))}")


@intel_app.command("feeds")
def feeds_cmd(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this feed.")] = None,
    all_versions: Annotated[bool, typer.Option("--all", help="Every stored version, not only the current ones.")] = False,
) -> None:
    """List feed versions with their counts."""
    st = _state(ctx)
    rows = IntelStore(st.workspace, st.engine).versions(source, current_only=not all_versions)
    configured = feed_configs(st.workspace.config)
    if st.json:
        st.emit_json({"versions": rows, "configured": sorted(configured)})
        return
    t = Table(title="intel feed versions" + (" (all)" if all_versions else " (current)"))
    cols = ("source", "feed_version", "current", "loaded_at", "format", "loaded", "rejected", "unsupported",
            "sanity_dropped", "added", "removed", "unchanged")
    width = max([len(r["source"]) for r in rows] or [6])
    for c in cols:
        t.add_column(c, justify="right" if c in cols[5:] else "left", no_wrap=c == "source",
                     min_width=width if c == "source" else None)
    for r in rows:
        t.add_row(r["source"], r["feed_version"], "yes" if r["is_current"] else "", f"{r['loaded_at']:%Y-%m-%d %H:%M}",
                  r["format"], *(f"{int(r[c] or 0):,}" for c in cols[5:]))
    st.console.print(t)
    never = sorted(set(configured) - {r["source"] for r in rows})
    if never:
        st.console.print("configured but never loaded: " + ", ".join(never))


@intel_app.command("rejects")
def rejects(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this feed.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="A stored version (default: current ones).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
) -> None:
    """Feed entries that were not loaded, with locator and reason."""
    st = _state(ctx)
    table = IntelStore(st.workspace, st.engine).rejects(source, version, limit)
    if st.json:
        st.emit_json(table.to_pylist())
        return
    t = Table(title=f"intel rejects (first {limit})")
    for c in table.column_names:
        t.add_column(c, overflow="fold")
    for row in table.to_pylist():
        t.add_row(*(escape(str(v)[:200]) if v is not None else "" for v in row.values()))  # raw text verbatim
    st.console.print(t)


@intel_app.command("formats")
def formats(ctx: typer.Context) -> None:
    """List the feed formats."""
    st = _state(ctx)
    if st.json:
        st.emit_json([{"name": f.name, "description": f.description, "auto_detected": f.detect is not None}
                      for f in FORMATS.values()])
        return
    t = Table(title="feed formats")
    for c in ("format", "auto", "description"):
        t.add_column(c)
    for f in FORMATS.values():
        t.add_row(f.name, "yes" if f.detect else "", f.description)
    st.console.print(t)
