"""``cairn demo``: the pipeline on the bundled real samples, ending in a report.

ingest (bundled samples) -> intel (bundled slices of ipsum and maltrail) -> context (bundled example
inventory) -> enrichment -> detection (the bundled SigmaHQ CloudTrail rules, cairn's native rules, the
intel-match rule) -> actions (alerts to a file; high and critical ones triaged first) -> triage of the
top alert -> report: malicious and unusual observables with their owners and sources, the most active
identities, the findings, the alerts, and the triage of the top alert (also as HTML and Markdown).
"""

from __future__ import annotations

import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

from rich.panel import Panel
from rich.table import Table

from cairn.cli.context import AppState
from cairn.workspace import Workspace, default_workspace

# name, file, format of the bundled intel slices (src/cairn/data/intel/README.md)
BUNDLED_FEEDS = (("maltrail", "maltrail-slice.csv", "maltrail"), ("ipsum", "ipsum-top1500.txt", "ipsum"))
FLAGGED = 5
"""Verdicts from 5 (May not be Safe) up are shown as flagged."""

_COLOURS = {5: "yellow", 6: "yellow", 7: "orange3", 8: "red", 9: "red", 10: "bold red"}


def samples_dir() -> Path:
    """Folder of the bundled samples."""
    return Path(str(resources.files("cairn") / "data" / "samples"))


def intel_dir() -> Path:
    """Folder of the bundled intel slices."""
    return Path(str(resources.files("cairn") / "data" / "intel"))


def sigma_dir() -> Path:
    """Folder of the bundled SigmaHQ CloudTrail rules (src/cairn/data/sigma/README.md)."""
    return Path(str(resources.files("cairn") / "data" / "sigma" / "sigmahq" / "rules"))


DEMO_ACTIONS = {
    "demo-alerts": {"type": "file", "path": "alerts.jsonl"},
    "demo-triaged": {"type": "triage", "notify": "file", "path": "triaged.jsonl", "min_severity": "high"},
}
"""Actions of the demo: every alert to a file in the workspace; high and critical ones triaged first."""
_SEVERITY_COLOURS = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan",
                     "informational": "dim"}


_OWNER = ("concat_ws('; ', nullif(concat_ws(' / ', identity_person, identity_team), ''), "
          "CASE WHEN account_name IS NOT NULL THEN 'account ' || account_name || "
          "coalesce(' (' || account_owner || ')', '') END, "
          "CASE WHEN asset_owner IS NOT NULL THEN 'asset owner ' || asset_owner END, "
          "CASE WHEN network_zone IS NOT NULL THEN 'zone ' || network_zone END)")
_OWNERSHIP = ("concat_ws(', ', CASE WHEN asn IS NOT NULL THEN 'AS' || asn || coalesce(' ' || as_org, '') END, "
              "country, concat_ws('/', cloud_provider, cloud_service, cloud_region), "
              "CASE WHEN is_tor THEN 'Tor exit' END, special_range)")


def report(engine: Any) -> dict[str, Any]:
    """The demo report from the enriched lake (plain data; also what ``cairn --json demo`` prints)."""
    flagged = engine.arrow(
        f"""WITH f AS (SELECT * FROM enriched_observables WHERE score_id >= {FLAGGED}),
            inv AS (SELECT f.value, f.type, list(DISTINCT o.value || ' (' || o.field || '): ' || {_OWNER.replace(
                'identity_', 'o.identity_').replace('account_', 'o.account_').replace('asset_', 'o.asset_')
                .replace('network_zone', 'o.network_zone')})
                           AS involved
                    FROM f JOIN enriched_observables o ON o.source = f.source AND o.event_uid = f.event_uid
                         AND NOT (o.field = f.field AND o.value = f.value)
                    WHERE coalesce(o.identity_person, o.identity_team, o.account_name, o.asset_owner,
                                   o.network_zone) IS NOT NULL
                    GROUP BY ALL)
            SELECT f.value, f.type, f.score_id, any_value(f.score) AS score,
                   list_distinct(flatten(list(f.verdict_sources))) AS sources, any_value(f.why) AS why,
                   list(DISTINCT f.source) AS tables, list(DISTINCT f.field) AS fields,
                   count(DISTINCT f.event_uid) AS events, nullif(any_value({_OWNER}), '') AS owner,
                   nullif(any_value({_OWNERSHIP}), '') AS ownership, any_value(inv.involved) AS involved
            FROM f LEFT JOIN inv ON inv.value = f.value AND inv.type = f.type
            GROUP BY f.value, f.type, f.score_id ORDER BY f.score_id DESC, events DESC, f.value LIMIT 20""").to_pylist()
    unusual = engine.arrow(
        f"""SELECT value, type, coalesce(special_range, CASE WHEN is_tor THEN 'Tor exit' END) AS why,
                   list(DISTINCT source) AS tables, list(DISTINCT field) AS fields,
                   count(DISTINCT event_uid) AS events, nullif(any_value({_OWNER}), '') AS owner
            FROM enriched_observables
            WHERE type = 'ip' AND score_id < {FLAGGED} AND (is_tor OR (special_range IS NOT NULL
                  AND special_range <> 'private'))
            GROUP BY ALL ORDER BY events DESC, value LIMIT 15""").to_pylist()
    identities = engine.arrow(
        # Owner context per event first (an assumed role's event has two identity observables: joining
        # them to the events counted its calls twice).
        """WITH owner AS (
               SELECT event_uid, any_value(identity_person) AS person, any_value(identity_team) AS team,
                      any_value(account_name) AS account
               FROM enriched_observables
               WHERE source = 'cloudtrail'
                 AND field IN ('userIdentity.arn', 'userIdentity.sessionContext.sessionIssuer.arn')
                 AND (identity_person IS NOT NULL OR identity_team IS NOT NULL OR account_name IS NOT NULL)
               GROUP BY event_uid)
           SELECT c.principal_arn AS identity, count(*) AS calls, count(DISTINCT c.event_name) AS actions,
                  count(*) FILTER (WHERE c.status = 'failure') AS failed,
                  list(DISTINCT c.src_ip) FILTER (WHERE c.src_ip IS NOT NULL) AS source_ips,
                  max(c.max_score_id) AS max_score_id,
                  any_value(o.person) AS person, any_value(o.team) AS team, any_value(o.account) AS account
           FROM cloudtrail_enriched c LEFT JOIN owner o ON o.event_uid = c.event_uid
           WHERE c.principal_arn IS NOT NULL
           GROUP BY ALL ORDER BY calls DESC, identity LIMIT 10""").to_pylist()
    findings = engine.arrow(
        """SELECT 'GuardDuty' AS product, severity_label AS severity, type AS finding, title, account_id,
                  coalesce(max_score_id, 0) AS max_score_id,
                  list_transform(list_filter(coalesce(enrichment, []), lambda e: e.score_id >= 5),
                                 lambda e: e.value || ' (' || e.score || ')') AS flagged
           FROM guardduty_findings_enriched
           UNION ALL
           SELECT 'Security Hub', severity_label, coalesce(types[1], ''), title, aws_account_id,
                  coalesce(max_score_id, 0),
                  list_transform(list_filter(coalesce(enrichment, []), lambda e: e.score_id >= 5),
                                 lambda e: e.value || ' (' || e.score || ')')
           FROM securityhub_findings_enriched
           ORDER BY max_score_id DESC, product, severity, title""").to_pylist()
    totals = engine.rows(
        f"SELECT count(*), count(DISTINCT value), count(DISTINCT value) FILTER (WHERE score_id >= {FLAGGED}), "
        "count(*) FILTER (WHERE coalesce(identity_person, identity_team, account_name, asset_owner, "
        "network_zone) IS NOT NULL) FROM enriched_observables")[0]
    matches = engine.scalar("SELECT count(*) FROM intel_matches")
    return {
        "observables": totals[0], "distinct_values": totals[1], "flagged_values": totals[2],
        "with_owner": totals[3], "intel_matches": matches,
        "flagged": flagged, "unusual": unusual, "identities": identities, "findings": findings,
    }


def run_demo(st: AppState, *, fresh: bool = True) -> None:
    """Ingest the samples, load the bundled intel and context, enrich, and print the report."""
    from cairn.cli.main import print_summary, run_ingest
    from cairn.context import bundled_inventory, load_files
    from cairn.enrich import refresh
    from cairn.intel.feeds import load_target
    from cairn.intel.store import IntelStore

    started = time.monotonic()
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
            "Route 53 Resolver query logs, GuardDuty and Security Hub findings; intel: slices of\n"
            "maltrail and ipsum; context: the bundled example inventory",
            title="cairn"))
    summary = run_ingest(st, [str(samples_dir())])
    if not st.json:
        print_summary(st, summary)
    store = IntelStore(st.workspace, st.engine)
    feeds = []
    for name, file, fmt in BUNDLED_FEEDS:
        r = load_target(store, str(intel_dir() / file), name, fmt=fmt)
        feeds.append({"source": name, "status": r.status, "loaded": r.loaded, "rejected": r.rejected,
                      "unsupported": r.unsupported})
    ctx = load_files(st.workspace, st.engine, bundled_inventory())
    enrich = refresh(st.engine, st.workspace)
    rep = report(st.engine)
    det = detect_and_act(st.engine, st.workspace)
    seconds = round(time.monotonic() - started, 2)
    if st.json:
        st.emit_json({"workspace": str(root), "ingest": summary.to_dict(), "intel": feeds,
                      "context": [{"file": Path(x.source_file).name, "kind": x.kind, "rows": x.rows} for x in ctx],
                      "enrichment": enrich.to_dict(), "report": rep,
                      "detection": {k: v for k, v in det.items() if k != "triage"},
                      "triage": det["triage"].to_dict() if det["triage"] is not None else None, "seconds": seconds})
        return
    c.print("intel: " + "; ".join(f"{f['source']} {f['loaded']:,} indicators" for f in feeds)
            + f"; context: {sum(x.rows for x in ctx):,} inventory records from {len(ctx)} file(s)")
    c.print(f"enrichment: {rep['observables']:,} observables ({rep['distinct_values']:,} distinct values), "
            f"{rep['intel_matches']:,} intel matches, {rep['flagged_values']:,} values flagged, "
            f"{rep['with_owner']:,} observables with an owner")
    _print_report(st, rep)
    _print_detection(st, det)
    c.print(f"done in {seconds:.1f}s. next: cairn -w {root} query \"SELECT * FROM enriched_observables "
            "WHERE score_id >= 5\"  |  cairn -w {root} enrich FILE --format ocsf".replace("{root}", str(root)))


def _lst(v: Any) -> str:
    return ", ".join(str(x) for x in v) if isinstance(v, list) else ("" if v is None else str(v))


def _print_report(st: AppState, rep: dict[str, Any]) -> None:
    c = st.console
    t = Table(title="malicious and suspicious observables (verdict >= 5)", show_lines=True)
    for col in ("value", "verdict", "sources / why", "seen in", "owner, ownership, who was involved"):
        t.add_column(col, overflow="fold")
    for r in rep["flagged"]:
        colour = _COLOURS.get(r["score_id"], "")
        t.add_row(f"{r['value']}\n[dim]{r['type']}[/dim]", f"[{colour}]{r['score_id']} {r['score']}[/{colour}]",
                  f"{_lst(r['sources'])}\n[dim]{(r['why'] or '')[:160]}[/dim]",
                  f"{_lst(r['tables'])}: {_lst(r['fields'])}\n{r['events']} event(s)",
                  "\n".join(x for x in (r["owner"], r["ownership"], *(r["involved"] or [])[:4]) if x))
    if not rep["flagged"]:
        t.add_row("[dim]none[/dim]", "", "", "", "")
    c.print(t)
    t = Table(title="unusual addresses (special-purpose ranges, Tor)")
    for col in ("address", "why", "seen in", "events", "owner"):
        t.add_column(col, overflow="fold")
    for r in rep["unusual"]:
        t.add_row(r["value"], r["why"], f"{_lst(r['tables'])}: {_lst(r['fields'])}", str(r["events"]),
                  r["owner"] or "")
    c.print(t)
    t = Table(title="most active identities (CloudTrail)")
    for col in ("identity", "who", "calls", "actions", "failed", "source IPs", "worst verdict"):
        t.add_column(col, overflow="fold")
    for r in rep["identities"]:
        who = " / ".join(x for x in (r["person"], r["team"]) if x) or "[yellow]unknown owner[/yellow]"
        ips = r["source_ips"] or []
        t.add_row(r["identity"], who + (f"\n[dim]{r['account']}[/dim]" if r["account"] else ""), str(r["calls"]),
                  str(r["actions"]), str(r["failed"]), _lst(ips[:3]) + (" ..." if len(ips) > 3 else ""),
                  str(r["max_score_id"] or 0))
    c.print(t)
    t = Table(title="findings")
    for col in ("product", "severity", "finding", "account", "worst verdict", "flagged observables"):
        t.add_column(col, overflow="fold")
    for r in rep["findings"]:
        t.add_row(r["product"], str(r["severity"]), f"{r['finding'].rsplit('/', 1)[-1]}\n[dim]{r['title']}[/dim]",
                  str(r["account_id"]), str(r["max_score_id"]), _lst(r["flagged"]))
    c.print(t)


def detect_and_act(engine: Any, ws: Workspace) -> dict[str, Any]:
    """Detect over the demo lake, deliver the alerts through :data:`DEMO_ACTIONS`, triage the top alert."""
    from cairn.actions import dispatch
    from cairn.actions.settings import actions_settings
    from cairn.detect.run import detect
    from cairn.triage import triage

    det = detect(engine, ws, rules=[sigma_dir()], enrich=False, dispatch=False)
    authors = _sigma_authors(sigma_dir())
    alerts = engine.arrow(
        "SELECT alert_id, rule_id, rule_title, title, severity, severity_id, first_seen, event_count, source, "
        "identity, ips, account_id, max_score_id FROM _cairn_alerts "
        "ORDER BY severity_id DESC, max_score_id DESC NULLS LAST, event_count DESC, alert_id").to_pylist()
    for a in alerts:
        a["author"] = authors.get(a["rule_id"], "")
    delivery = dispatch(engine, ws, det.new_alerts, actions_settings(DEMO_ACTIONS))
    # The alert to triage: the most severe CloudTrail alert whose identity did the most in the triage window.
    top_id = engine.scalar(
        "SELECT a.alert_id FROM _cairn_alerts a WHERE a.source = 'cloudtrail' AND a.identity IS NOT NULL "
        "ORDER BY a.severity_id DESC, (SELECT count(*) FROM cloudtrail c WHERE c.principal_arn = a.identity AND "
        "c.event_time BETWEEN a.first_seen - INTERVAL '1' HOUR AND a.first_seen + INTERVAL '30' MINUTE) DESC, "
        "a.alert_id LIMIT 1")
    top = next((a for a in alerts if a["alert_id"] == top_id), None)
    rep = None
    files: dict[str, str] = {}
    if top is not None:
        rep = triage(engine, ws, top["alert_id"])
        out = ws.root / "reports"
        out.mkdir(exist_ok=True)
        for ext, text in (("html", rep.to_html()), ("md", rep.to_markdown())):
            path = out / f"triage-{top['alert_id'][:12]}.{ext}"
            path.write_text(text, encoding="utf-8")
            files[ext] = str(path)
    return {"rules": det.rules, "failed_sigma": len(det.failed_sigma), "hits": det.hits,
            "alerts": alerts, "delivery": delivery.to_dict(),
            "outputs": {n: str(ws.root / a["path"]) for n, a in DEMO_ACTIONS.items()},
            "top_alert": top, "triage": rep, "triage_files": files}


def _sigma_authors(folder: Path) -> dict[str, str]:
    """Rule id -> ``author`` of the Sigma rules in ``folder`` (the DRL asks to name them with matches)."""
    import yaml

    out = {}
    for path in sorted(folder.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if doc.get("id"):
            out[str(doc["id"])] = str(doc.get("author") or "")
    return out


def _print_detection(st: AppState, det: dict[str, Any]) -> None:
    from rich.markup import escape

    from cairn.cli.triage_cmd import _print_text

    c = st.console
    rules = ", ".join(f"{n} {k}" for k, n in det["rules"].items())
    by_sev: dict[str, int] = {}
    for a in det["alerts"]:
        by_sev[a["severity"]] = by_sev.get(a["severity"], 0) + 1
    c.print(f"detection: {rules} rules ({det['failed_sigma']} Sigma rules not convertible), {det['hits']:,} "
            f"matching events, {len(det['alerts'])} alerts: "
            + ", ".join(f"{n} {s}" for s, n in sorted(by_sev.items(), key=lambda x: -_SEV_ORDER.get(x[0], 0))))
    t = Table(title="alerts (most severe first; Sigma rule authors named as the DRL asks)")
    for col in ("severity", "alert", "identity / source IPs", "events", "first seen", "verdict", "rule author"):
        t.add_column(col, overflow="fold")
    for a in det["alerts"][:15]:
        colour = _SEVERITY_COLOURS.get(a["severity"], "")
        t.add_row(f"[{colour}]{a['severity']}[/{colour}]", escape(a["title"] or a["rule_title"]),
                  escape(_lst([x for x in (a["identity"], *(a["ips"] or [])[:2]) if x])), str(a["event_count"]),
                  a["first_seen"].strftime("%Y-%m-%d %H:%M") if a["first_seen"] else "", str(a["max_score_id"] or 0),
                  escape(a["author"]))
    if len(det["alerts"]) > 15:
        t.caption = f"... and {len(det['alerts']) - 15} more: cairn alerts"
    c.print(t)
    d = det["delivery"]
    per = "; ".join(f"{name}: {n.get('delivered', 0)} delivered" for name, n in (d.get("actions") or {}).items())
    c.print(f"actions: {per or 'nothing to deliver'} -> " + ", ".join(det["outputs"].values()))
    if det["triage"] is None:
        return
    top = det["top_alert"]
    c.print(Panel.fit(f"triage of the top CloudTrail alert: {escape(top['title'] or top['rule_title'])}",
                      title="cairn triage"))
    _print_text(st, det["triage"])
    c.print("triage report: " + ", ".join(det["triage_files"].values()))


_SEV_ORDER = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
