"""``cairn triage ALERT|-`` and ``cairn triage-index``: alert triage from the lake, LookupEvents or Athena SQL."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cairn.cli.context import AppState
from cairn.errors import ConfigError, InputError
from cairn.timeparse import parse_duration

FORMATS = ("text", "json", "markdown", "html", "asff")


def _read_alert(alert: str) -> Any:
    from cairn.triage.inputs import load_body

    if alert == "-":
        return load_body(sys.stdin.read())
    p = Path(alert)
    if alert.strip()[:1] not in "{[" and p.exists():
        try:
            return load_body(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", origin=alert) from exc
        except InputError as exc:
            raise InputError(str(exc).removeprefix("alert: "), origin=alert) from None
    return load_body(alert)


def triage_command(
    ctx: typer.Context,
    alert: Annotated[str, typer.Argument(help="A finding/alert JSON file, an alert id, inline JSON, or - for stdin.")],
    before: Annotated[str, typer.Option("--before", help="Window before the alert (first seen).")] = "1h",
    after: Annotated[str, typer.Option("--after", help="Window after the alert (last seen).")] = "30m",
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline period before the window.")] = "14d",
    source: Annotated[str, typer.Option("--source", "-s", help="Activity source: lake | lookup-events | athena.")] = "lake",
    fmt: Annotated[str, typer.Option("--format", "-f", help="text | json | markdown | html | asff.")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    index: Annotated[int, typer.Option("--index", help="Which finding of a list/container to triage (0 = first).")] = 0,
    region: Annotated[str | None, typer.Option("--region", help="Region for LookupEvents (default: settings).")] = None,
    endpoint_url: Annotated[str | None, typer.Option("--endpoint-url", help="CloudTrail endpoint (testing).")] = None,
    athena_table: Annotated[str, typer.Option("--athena-table", help="CloudTrail table name in Athena.")] = "cloudtrail_logs",
    no_enrich: Annotated[bool, typer.Option("--no-enrich", help="Skip address enrichment.")] = False,
) -> None:
    """Triage an alert: who acted, what they did, from where (enriched), what is new and sensitive."""
    from cairn.triage import triage
    from cairn.triage.inputs import finding_count, subject_from

    st: AppState = ctx.obj
    if st.json and fmt == "text":
        fmt = "json"
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    body = _read_alert(alert)
    count = finding_count(body)
    if count > 1 and 0 <= index < count and not st.quiet:
        st.err.print(f"{escape(alert)} holds {count} findings; triaging --index {index} "
                     f"(pick another with --index 0..{count - 1})", highlight=False)
    kw: dict[str, Any] = {"before": parse_duration(before, option="--before"),
                          "after": parse_duration(after, option="--after"),
                          "baseline": parse_duration(baseline, option="--baseline"),
                          "activity": source, "index": index, "enrich": not no_enrich}
    if source == "lookup-events":
        from cairn.triage.core import _window
        from cairn.triage.lookup_events import fetch_activity

        subject = subject_from(st.engine, body, index=index)
        start, end = _window(subject, kw["before"], kw["after"])
        users = [u for u in (subject.user_name, _arn_user(subject.principal_arn)) if u]
        aws = st.workspace.config.aws
        with st.err.status("CloudTrail LookupEvents (2 requests/s)", spinner="dots") if not st.quiet else _null():
            rows, _stats = fetch_activity(
                keys=[subject.access_key_id] if subject.access_key_id else [], users=users,
                resources=subject.resources, start=start, end=end, region=region or aws.region or None,
                endpoint_url=endpoint_url or aws.endpoint_url or None)
        kw["activity_rows"] = rows
    report = triage(st.engine, st.workspace, body, **kw)
    if source == "athena" and fmt == "text" and not output:
        sys.stdout.write(report.data["athena"]["sql_literal"] + "\n")
        return
    _emit(st, report, fmt, output)


def _arn_user(arn: str | None) -> str | None:
    """LookupEvents' Username of an ARN: an IAM user name or a role session name."""
    if not arn or ":" not in arn:
        return None
    res = arn.split(":", 5)[-1]
    if res.startswith(("user/", "assumed-role/")):
        return res.split("/")[-1]
    return None


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def _emit(st: AppState, report: Any, fmt: str, output: Path | None) -> None:
    import json

    if fmt == "asff":
        note, udf = report.asff_fields()
        text = json.dumps({"Note": {"Text": note, "UpdatedBy": "cairn"}, "UserDefinedFields": udf}, indent=2)
    elif fmt == "json":
        text = report.to_json()
    elif fmt == "markdown":
        text = report.to_markdown()
    elif fmt == "html":
        text = report.to_html()
    else:
        text = None
    if output is not None:
        output.write_text(text if text is not None else report.to_markdown(), encoding="utf-8")
        if not st.json:
            st.err.print(f"wrote {fmt if text is not None else 'markdown'} report to {output}")
        else:
            st.emit_json({"output": str(output), "summary": report.summary_line()})
        return
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    _print_text(st, report)


def _print_text(st: AppState, report: Any) -> None:
    d = report.data
    st.console.print(f"[bold]{escape(report.summary_line())}[/bold]")
    i = d["identity"]
    st.console.print(f"identity: {escape(str(i.get('kind')))} {escape(str(report.who()))}"
                     + (f"; original principal {escape(i['original_principal'])}" if i.get("original_principal") else ""))
    for link in i.get("chain") or []:
        st.console.print(f"  <- {escape(link['issued_key'])} via {link['event_name']} by "
                         f"{escape(str(link['caller_arn']))} from {escape(str(link['caller_ip']))}")
    t = Table(title="activity by API")
    for col in ("eventSource", "eventName", "count", "errors"):
        t.add_column(col, justify="right" if col in ("count", "errors") else "left")
    for a in d["by_api"][:30]:
        t.add_row(a["event_source"], a["event_name"], str(a["count"]), str(a["errors"]))
    st.console.print(t)
    from cairn.triage.report import ip_summary

    t = Table(title="source addresses")
    for col in ("source", "count", "new", "enrichment"):
        t.add_column(col, overflow="fold")
    for s in d["source_ips"][:30]:
        t.add_row(s["source"], str(s["count"]), "new" if s.get("new") else "", ip_summary(s.get("enrichment")))
    st.console.print(t)
    if d["sensitive"]:
        t = Table(title="sensitive actions")
        for col in ("category", "eventName", "count", "detail"):
            t.add_column(col)
        for s in d["sensitive"]:
            t.add_row(s["category"], s["event_name"], str(s["count"]), ", ".join(s["details"] or []))
        st.console.print(t)
    new = {k: v for k, v in d["new_vs_baseline"].items() if v}
    if new:
        st.console.print("new vs baseline: " + "; ".join(f"{k}: {escape(', '.join(map(str, v[:6])))}"
                                                         for k, v in new.items()))
    rel = sum(len(v) for v in d["related"].values())
    st.console.print(f"related alerts/findings: {rel}")
    for n in d["notes"]:
        st.console.print(f"[dim]note: {escape(n)}[/dim]")


def triage_index_command(ctx: typer.Context) -> None:
    """Bring the triage index (time-ordered activity + per-identity digest) up to date."""
    from cairn.triage.index import update_index

    st: AppState = ctx.obj
    res = update_index(st.engine, st.workspace)
    if st.json:
        st.emit_json(res.to_dict())
    else:
        st.console.print(f"triage index: {res.files_added} lake files, {res.rows_added:,} events added"
                         f"{' (rebuilt)' if res.rebuilt else ''} in {res.seconds:.2f}s")
