"""``cairn enrich FILE|-|s3://...``: enrich events or findings end to end, without an ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cairn.cli.context import AppState
from cairn.errors import ConfigError
from cairn.outputs.asff_enriched import AsffStats
from cairn.outputs.enriched import FORMATS, write
from cairn.outputs.stream import enrich_inputs


def enrich_command(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(help="Files, folders, s3://bucket/prefix URLs, or - for stdin.")],
    source: Annotated[str, typer.Option("--source", "-s",
                                       help="auto|cloudtrail|vpcflow|route53|guardduty|securityhub|json")] = "auto",
    fmt: Annotated[str, typer.Option("--format", "-f", help="ocsf|asff|json|parquet|csv")] = "ocsf",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (a folder for csv/parquet "
                                                                        "of several tables); default stdout.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail if any record cannot be read.")] = False,
    updated_by: Annotated[str, typer.Option("--updated-by", help="ASFF Note.UpdatedBy.")] = "cairn",
) -> None:
    """Enrich a file of events or findings with the workspace's intel and context; nothing is stored.

    Results are the same as ingest + enrichment of the lake: same typed rows, same verdicts, owners
    and matches. Output: OCSF 1.1.0 events (JSON lines), ASFF findings (JSON lines), flat JSON lines,
    CSV or Parquet.
    """
    st: AppState = ctx.obj
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if inputs.count("-") > 1:
        raise ConfigError("standard input (-) can be given once")
    result = enrich_inputs(st.engine, st.workspace, inputs, source=source, strict=strict or None)
    stats = AsffStats()
    written = write(st.engine, fmt, result.views, result.tables, output, matches=result.matches,
                    asff_options={"updated_by": updated_by, "stats": stats})
    s = result.summary
    report = {"read": s.records_read, "enriched": s.loaded, "duplicates": s.duplicates,
              "unreadable": s.quarantined, "reasons": s.reasons, "files": s.files, **written.to_dict(),
              "rejected": [{"origin": r.origin, "locator": r.locator, "reason": r.reason}
                           for _, r in result.rejected[:100]]}
    if fmt == "asff":
        report["asff"] = stats.to_dict()
    if st.json and output is not None:
        st.emit_json(report)
        return
    err = st.err
    parts = [f"{n:,} {t}" for t, n in written.written.items()]
    if not st.quiet:  # --quiet leaves out the summary, never what was not read or not written
        err.print(f"enriched {s.loaded:,} of {s.records_read:,} records ({', '.join(parts) or 'nothing'})"
                  + (f" -> {', '.join(written.files)}" if written.files else "")
                  + f"; duplicates {s.duplicates:,}, unreadable {s.quarantined:,}", highlight=False)
    for t, n in written.skipped.items():
        err.print(f"[yellow]skipped {n:,} {t} records: no {fmt.upper()} form for that table[/yellow]")
    for line in stats.warnings():
        err.print(line, style="yellow", markup=False, highlight=False)
    for _, r in result.rejected[:5]:
        err.print(f"[yellow]unreadable: {r.origin}:{r.locator}: {r.reason}[/yellow]", highlight=False)
    if len(result.rejected) > 5:
        err.print(f"[yellow]unreadable: {len(result.rejected) - 5:,} more (--json -o FILE lists up to 100)[/yellow]",
                  highlight=False)
