"""Self-contained HTML for a triage report: inline CSS, an inline SVG timeline, no scripts or external assets.
Every value from the data is escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.triage.report import TriageReport

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1d232b;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}th,td{border:1px solid #dde;padding:.25rem .4rem;
text-align:left;vertical-align:top}th{background:#f1f3f7}.new{color:#a4400a;font-weight:600}
.bad{color:#b00020;font-weight:600}.muted{color:#667}.summary{background:#f7f7fb;padding:.6rem;border-left:4px solid #4456aa}
code{font-size:.85rem;background:#f1f3f7;padding:0 .2rem}svg text{font-size:10px;fill:#334}
"""


def _e(v: Any) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return escape("" if v is None else str(v))


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    if not rows:
        return '<p class="muted">none</p>'
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def timeline_svg(tl: dict[str, Any], width: int = 1100, height: int = 180) -> str:
    """Bar chart of events per bucket (errors and sensitive calls stacked in colour) with a time axis."""
    buckets = tl["buckets"]
    start: datetime = tl["start"]
    end: datetime = tl["end"]
    w = tl["bucket_seconds"]
    span = max((end - start).total_seconds(), 1.0)
    n = max(1, int(-(-span // w)))
    left, bottom, top = 40, 30, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([b["events"] for b in buckets] or [1])
    bar_w = plot_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="events over time" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfd" stroke="#dde"/>']
    for b in buckets:
        i = round((b["start"] - start).total_seconds() / w)
        x = left + i * bar_w
        for value, colour in ((b["events"], "#4456aa"), (b["sensitive"], "#e08a00"), (b["errors"], "#b00020")):
            if not value:
                continue
            h = plot_h * value / peak
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{_e(b["start"])}: {value}</title></rect>')
    for k in range(5):
        t = start.timestamp() + span * k / 4
        x = left + plot_w * k / 4
        label = datetime.fromtimestamp(t, start.tzinfo).strftime("%m-%d %H:%M")
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">{label}</text>')
    parts.append(f'<text x="{left - 5}" y="{top + 10}" text-anchor="end">{peak}</text>'
                 f'<text x="{left - 5}" y="{top + plot_h}" text-anchor="end">0</text>')
    parts.append(f'<text x="{left + plot_w}" y="{top + 12}" text-anchor="end">events (blue), sensitive (orange), '
                 f'errors (red) per {w} s</text></svg>')
    return "".join(parts)


def render_html(report: TriageReport) -> str:
    """The whole page."""
    from cairn.triage.report import ip_summary

    d = report.data
    inp, ident, c = d["input"], d["identity"], d["counts"]
    title = inp.get("title") or report.who()
    s = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cairn triage: {_e(title)}</title>"
         f"<style>{_CSS}</style></head><body>",
         f"<h1>Triage: {_e(title)}</h1>",
         f'<p class="summary">{_e(report.summary_line())}</p>',
         "<p>Input: " + _e(inp["kind"]) + " " + _e(inp.get("finding_id") or "") + " severity "
         + _e(inp.get("severity") or "-") + " at " + _e(inp["time"]) + "<br>Window: " + _e(d["window"]["start"])
         + " to " + _e(d["window"]["end"]) + " UTC; activity from " + _e(d["activity_source"]) + "<br>Baseline: "
         + _e(d["baseline"]["start"]) + " to " + _e(d["baseline"]["end"]) + f", {int(d['baseline']['events'])} events</p>",
         "<h2>Identity</h2><table><tbody>"]
    for k in ("kind", "principal_arn", "identity_arn", "role_arn", "session_name", "source_identity",
              "identity_store_user_id", "user_name", "service", "account_id", "original_principal"):
        if ident.get(k):
            s.append(f"<tr><th>{escape(k)}</th><td><code>{_e(ident[k])}</code></td></tr>")
    if ident.get("access_keys"):
        s.append("<tr><th>access keys</th><td>" + ", ".join(f"<code>{_e(k)}</code>" for k in ident["access_keys"])
                 + "</td></tr>")
    s.append("</tbody></table>")
    if ident.get("chain"):
        s.append("<h3>Role chain</h3>" + _table(
            ["issued key", "by", "at", "caller", "caller type", "from", "role"],
            [[_e(x["issued_key"]), _e(x["event_name"]), _e(x["issued_at"]), _e(x["caller_arn"]), _e(x["caller_type"]),
              _e(x["caller_ip"]), _e(x["role_arn"])] for x in ident["chain"]]))
    s.append("<h2>Timeline</h2>" + timeline_svg(d["timeline"]))
    s.append(f"<h2>Activity</h2><p>{int(c['events'])} events ({int(c['identity_events'])} by the identity, "
             f"{int(c['child_session_events'])} by sessions it created, {int(c['resource_events'])} touching the "
             f"resource), {int(c['errors'])} errors.</p>")
    s.append(_table(["eventSource", "eventName", "count", "errors", "first", "last"],
                    [[_e(a["event_source"]), _e(a["event_name"]), _e(a["count"]), _e(a["errors"]), _e(a["first"]),
                      _e(a["last"])] for a in d["by_api"]]))
    s.append("<h2>Source addresses</h2>")
    rows = []
    for x in d["source_ips"]:
        e = x.get("enrichment") or {}
        cls = "bad" if (e.get("score_id") or 0) >= 5 else ""
        rows.append([f'<span class="{cls}">{_e(x["source"])}</span>', _e(x["count"]),
                     '<span class="new">new</span>' if x.get("new") else "", _e(ip_summary(e)),
                     _e(", ".join(x["apis"][:8]))])
    s.append(_table(["source", "count", "new", "enrichment", "APIs"], rows))
    s.append("<h2>Sensitive actions</h2>" + _table(
        ["category", "eventSource", "eventName", "count", "errors", "first", "detail"],
        [[_e(x["category"]), _e(x["event_source"]), _e(x["event_name"]), _e(x["count"]), _e(x["errors"]),
          _e(x["first"]), _e(", ".join(x["details"] or []))] for x in d["sensitive"]]))
    s.append("<h2>New compared with the baseline</h2><ul>")
    for k, v in d["new_vs_baseline"].items():
        s.append(f"<li>{escape(k.replace('_', ' '))}: "
                 + (", ".join(f'<code class="new">{_e(x)}</code>' for x in v) if v else "none") + "</li>")
    s.append("</ul>")
    s.append("<h2>User agents</h2>" + _table(["userAgent", "count", "new"], [
        [_e(u["user_agent"]), _e(u["count"]), "new" if u.get("new") else ""] for u in d["user_agents"]]))
    s.append("<h2>Errors</h2>" + _table(["errorCode", "eventName", "count", "example"], [
        [_e(x["error_code"]), _e(x["event_name"]), _e(x["count"]), _e((x["example_message"] or "")[:160])]
        for x in d["errors"]]))
    s.append("<h2>Regions</h2>" + _table(["region", "count", "new"], [
        [_e(r["region"]), _e(r["count"]), "new" if r.get("new") else ""] for r in d["regions"]]))
    s.append("<h2>Events</h2>" + _table(
        ["time", "eventSource", "eventName", "source", "region", "error", "matched by", "principal"],
        [[_e(x["event_time"]), _e(x["event_source"]), _e(x["event_name"]), _e(x["source"]), _e(x["region"]),
          _e(x["error_code"]), _e(x["matched_by"]), _e(x["identity_arn"] or x["principal_arn"])]
         for x in d["timeline"]["events"]]))
    rel_rows = [[_e(kind), _e(r.get("alert_id") or r.get("finding_id")), _e(r.get("title")), _e(r.get("severity"))]
                for kind, items in d["related"].items() for r in items]
    s.append("<h2>Related alerts and findings</h2>" + _table(["kind", "id", "title", "severity"], rel_rows))
    if d.get("athena"):
        s.append(f"<h2>Athena SQL</h2><pre>{_e(d['athena']['sql_literal'])}</pre>")
    if d["notes"]:
        s.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in d["notes"]) + "</ul>")
    s.append(f'<p class="muted">cairn triage, schema {_e(d["schema"])}, generated {_e(d["generated_at"])}</p>'
             "</body></html>")
    return "".join(s)
