"""``cairn demo``: the pipeline on the bundled real samples, ending in a report."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from rich.panel import Panel

from cairn.cli.context import AppState
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace, default_workspace


def samples_dir() -> Path:
    """Folder of the bundled samples."""
    return Path(str(resources.files("cairn") / "data" / "samples"))


def run_demo(st: AppState, *, fresh: bool = True) -> None:
    """Ingest the samples into a demo workspace and print what the lake holds."""
    from cairn.cli.main import print_summary, run_ingest

    root = st.workspace_path or (default_workspace().parent / "demo")
    if fresh and root.exists():
        shutil.rmtree(root)
    st.workspace_path = root
    st._ws = Workspace.open(root, st.config_path)
    c = st.console
    if not st.json:
        c.print(Panel.fit(
            f"cairn demo: bundled real samples -> lake at {root}\n"
            "CloudTrail (Stratus Red Team detonations, OTRF EC2->S3 exfiltration), VPC Flow Logs,\n"
            "Route 53 Resolver query logs, GuardDuty and Security Hub findings",
            title="cairn"))
    summary = run_ingest(st, [str(samples_dir())])
    print_summary(st, summary)
    if st.json:
        return
    from cairn.cli.main import tables as tables_cmd  # noqa: F401 - same rendering as `cairn tables`
    cat = Catalog(st.engine, st.workspace.lake)
    from rich.table import Table

    t = Table(title="what the lake holds")
    for col in ("table", "rows", "first event", "last event"):
        t.add_column(col)
    for name, _files, rows, lo, hi in cat.table_stats():
        if rows:
            t.add_row(name, f"{rows:,}", str(lo)[:19], str(hi)[:19])
    c.print(t)
    top = st.engine.rows(
        "SELECT event_source, event_name, count(*) AS n, count(DISTINCT principal_arn) AS who "
        "FROM cloudtrail GROUP BY ALL ORDER BY n DESC LIMIT 10"
    )
    t = Table(title="top API calls")
    for col in ("eventSource", "eventName", "events", "identities"):
        t.add_column(col)
    for r in top:
        t.add_row(*(str(x) for x in r))
    c.print(t)
    ips = st.engine.rows(
        "SELECT value, count(DISTINCT event_uid) AS events FROM observables WHERE type = 'ip' "
        "GROUP BY value ORDER BY events DESC LIMIT 8"
    )
    t = Table(title="source IPs (intel enrichment arrives with the intel stage)")
    t.add_column("ip")
    t.add_column("events")
    for ip, n in ips:
        t.add_row(ip, str(n))
    c.print(t)
    findings = st.engine.rows(
        "SELECT 'GuardDuty' AS product, severity_label, type AS what, count(*) FROM guardduty_findings GROUP BY ALL "
        "UNION ALL SELECT 'Security Hub', severity_label, title, count(*) FROM securityhub_findings GROUP BY ALL "
        "ORDER BY 1, 2"
    )
    t = Table(title="findings")
    for col in ("product", "severity", "finding", "count"):
        t.add_column(col)
    for r in findings:
        t.add_row(*(str(x) for x in r))
    c.print(t)
    c.print(f"next: cairn -w {root} query \"SELECT * FROM cloudtrail LIMIT 5\"")
