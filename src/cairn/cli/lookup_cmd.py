"""``cairn lookup VALUE... | - | --file FILE``: verdict, sources, ownership and warninglist hits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cairn.cli.context import AppState
from cairn.errors import ConfigError, InputError
from cairn.intel.api import lookup_prepared, prepare

_COLOURS = {0: "dim", 1: "green", 2: "green", 3: "green", 4: "green", 5: "yellow", 6: "yellow", 7: "orange3",
            8: "red", 9: "red", 10: "bold red"}


def _read_values(values: list[str], file: Path | None) -> list[str]:
    out: list[str] = []
    for v in values:
        if v == "-":
            out += _lines(sys.stdin.read())
        else:
            out.append(v)
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", origin=str(file)) from exc
        out += _lines(text)
    return out


def _lines(text: str) -> list[str]:
    """The values of a file or of standard input: one per line, blank and ``#`` comment lines skipped."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _ownership(r: dict[str, Any]) -> str:
    parts = []
    if r.get("asn") is not None:
        parts.append(f"AS{r['asn']} {r.get('as_org') or ''}".strip())
    if r.get("country"):
        parts.append(r["country"])
    if r.get("cloud_provider"):
        parts.append("/".join(x for x in (r["cloud_provider"], r.get("cloud_service"), r.get("cloud_region")) if x))
    if r.get("tor"):
        parts.append("Tor exit")
    if r.get("special_ranges"):
        parts.append("special: " + ", ".join(r["special_ranges"]))
    if r.get("registrable_domain") and r["registrable_domain"] != r.get("value"):
        parts.append(f"domain {r['registrable_domain']}")
    if r.get("shareable") is False:
        parts.append("not shareable")
    return "\n".join(parts)


def _sources(r: dict[str, Any]) -> str:
    lines = []
    for e in r.get("evidence") or []:
        if e["kind"] in ("feed", "provider"):
            lines.append(f"{e['source']} ({e['score_id']}, conf {e['confidence'] if e['confidence'] is not None else '?'})")
    return "\n".join(lines)


def lookup_command(
    ctx: typer.Context,
    values: Annotated[list[str] | None, typer.Argument(help="IPs, domains, URLs, hashes, e-mails (defanged is fine); - reads stdin.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read values from FILE, one per line.")] = None,
) -> None:
    """Look values up: verdict (OCSF reputation 0-10) with why, sources, ownership, warninglists."""
    st: AppState = ctx.obj
    inputs = _read_values(values or [], file)
    if not inputs:
        given = [f"{file} has no values" if file is not None else "",
                 "stdin (-) gave no values" if "-" in (values or []) else ""]
        why = "; ".join(g for g in given if g) or "give values, - for stdin, or --file FILE"
        raise ConfigError(f"nothing to look up: {why}")
    table = lookup_prepared(st.engine, st.workspace, prepare(inputs))
    rows = table.to_pylist()
    if st.json:
        st.emit_json(rows)
        return
    t = Table(title="cairn lookup", show_lines=True)
    for col in ("value", "type", "verdict", "sources", "ownership", "warninglists", "why"):
        t.add_column(col, overflow="fold", max_width=60 if col == "why" else 36)
    for r in rows:
        # Every cell but the verdict is data, printed as it is (``x[b]y`` is not markup).
        if r.get("error"):
            t.add_row(escape(r["input"]), escape(r.get("type") or ""), "[red]invalid[/red]", "", "", "",
                      escape(r["error"]))
            continue
        score = r.get("score_id") or 0
        verdict = f"[{_COLOURS.get(score, '')}]{score} {escape(r.get('score') or '')}[/]"
        t.add_row(escape(r["value"]), escape(r["type"]), verdict, escape(_sources(r)), escape(_ownership(r)),
                  escape("\n".join(r.get("warninglists") or [])), escape(r.get("why") or ""))
    st.console.print(t)
