"""The triage report: JSON (schema ``cairn.triage/1``, see docs/triage.md), Markdown, HTML, ASFF fields."""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

SCHEMA = "cairn.triage/1"
NOTE_MAX = 512
UDF_MAX_PAIRS = 50
UDF_KEY_MAX = 128
UDF_VALUE_MAX = 1024


def jsonable(v: Any) -> Any:
    """Times as ISO-8601 UTC text, bytes dropped, recursively."""
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return None
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items() if not isinstance(x, bytes)}
    if isinstance(v, list | tuple | set):
        return [jsonable(x) for x in v]
    return v


def _t(v: Any) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return "" if v is None else str(v)


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_MD_PUNCT = re.compile(r"([\\`*_\[\]|~#])")
_CODE_UNSAFE = re.compile(r"[`<>&|]")


def _line(text: Any) -> str:
    """``text`` on one line (line breaks and other control characters made spaces), stripped."""
    return _LINE_BREAKS.sub(" ", str("" if text is None else text)).strip()


def _md(text: Any) -> str:
    """``text`` as inline Markdown that shows as written: one line, ``& < >`` as HTML entities (no raw
    HTML, no autolinks) and the punctuation of emphasis, code, links, table cells and heading ends
    backslash-escaped."""
    return _MD_PUNCT.sub(r"\\\1", html.escape(_line(text), quote=False))


def _code(text: Any) -> str:
    """``text`` as inline code: a backtick span when it holds nothing that could end the span or a table
    cell, else ``<code>`` around the escaped text (HTML-significant characters never appear raw)."""
    t = _line(text)
    if not t:
        return ""
    return f"`{t}`" if not _CODE_UNSAFE.search(t) else f"<code>{_md(t)}</code>"


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``."""
    return "`" * max(3, max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)


def ip_summary(e: dict[str, Any] | None) -> str:
    """One line of enrichment: verdict, ASN/org, country, cloud, Tor, warninglists, zone."""
    if not e:
        return ""
    parts = [f"{e.get('score') or 'Unknown'} ({e.get('score_id')})"]
    if e.get("sources"):
        parts.append("sources: " + ", ".join(e["sources"]))
    if e.get("asn") is not None:
        parts.append(f"AS{e['asn']} {e.get('as_org') or ''}".strip())
    if e.get("country"):
        parts.append(e["country"])
    cloud = "/".join(x for x in (e.get("cloud_provider"), e.get("cloud_service"), e.get("cloud_region")) if x)
    if cloud:
        parts.append(cloud)
    if e.get("is_tor"):
        parts.append("Tor exit")
    if e.get("warninglists"):
        parts.append("warninglists: " + ", ".join(e["warninglists"]))
    if e.get("special_range"):
        parts.append(f"special: {e['special_range']}")
    if e.get("network_zone"):
        parts.append(f"zone {e['network_zone']}" + (f" ({e['network_name']})" if e.get("network_name") else ""))
    return "; ".join(parts)


class TriageReport:
    """The result of :func:`cairn.triage.triage`; ``data`` is the JSON document (Python values)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return jsonable(self.data)

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON document."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # -- one-liners ---------------------------------------------------------------------------------
    def who(self) -> str:
        """The identity in a few words."""
        i = self.data["identity"]
        return (i.get("identity_arn") or i.get("principal_arn") or i.get("service")
                or (i.get("access_keys") or [None])[0] or self.data["input"].get("identity")
                or ", ".join(self.data["resource"]["values"]) or "unknown")

    def summary_line(self) -> str:
        """One line: who, how much, from where, what is sensitive or new."""
        c = self.data["counts"]
        new = self.data["new_vs_baseline"]
        bad = [s["source"] for s in self.data["source_ips"] if (s.get("enrichment") or {}).get("score_id", 0) >= 5]
        sens = sorted({s["category"] for s in self.data["sensitive"]})
        parts = [f"{self.who()}: {c['events']} events ({c['errors']} errors), {c['distinct_apis']} APIs "
                 f"from {c['distinct_sources']} sources"]
        if sens:
            parts.append("sensitive: " + ", ".join(sens))
        if bad:
            parts.append("suspicious sources: " + ", ".join(bad[:5]))
        news = [f"{len(v)} new {k.replace('_', ' ')}" for k, v in new.items() if v]
        if news:
            parts.append(", ".join(news))
        return "; ".join(parts)

    # -- ASFF ---------------------------------------------------------------------------------------
    def asff_fields(self, existing: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
        """(Note text <= 512 chars, UserDefinedFields within the ASFF limits) to write back to a finding.

        The new pairs fit beside ``existing`` (default: the triaged ASFF finding's own fields), at most 50
        together, never overwriting one of them."""
        if existing is None:
            existing = self.data["input"].get("user_defined_fields")
        c = self.data["counts"]
        new = self.data["new_vs_baseline"]
        top_ips = ",".join(s["source"] for s in self.data["source_ips"][:10])
        top_apis = ",".join(f"{a['event_name']}({a['count']})" for a in self.data["by_api"][:10])
        fields = {
            "cairn_triage_identity": self.who(),
            "cairn_triage_window": f"{_iso(self.data['window']['start'])}/{_iso(self.data['window']['end'])}",
            "cairn_triage_events": str(c["events"]),
            "cairn_triage_errors": str(c["errors"]),
            "cairn_triage_source_ips": top_ips,
            "cairn_triage_top_apis": top_apis,
            "cairn_triage_sensitive": ",".join(sorted({s["category"] for s in self.data["sensitive"]})),
            "cairn_triage_new_ips": ",".join(new["ips"]),
            "cairn_triage_new_countries": ",".join(new["countries"]),
            "cairn_triage_new_apis": ",".join(new["apis"][:20]),
            "cairn_triage_original_principal": self.data["identity"].get("original_principal") or "",
            "cairn_triage_max_ip_score": str(max([(s.get("enrichment") or {}).get("score_id") or 0
                                                  for s in self.data["source_ips"]] or [0])),
        }
        fields = {k: v for k, v in fields.items() if v}
        text = "cairn triage: " + self.summary_line()
        try:
            from cairn.outputs.asff import clamp_user_defined_fields, note

            return note(text, "cairn")["Text"], clamp_user_defined_fields(fields, existing)
        except ImportError:
            return clamp_note(text), clamp_udf(fields, existing)

    # -- renderers ----------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        """The report as Markdown; every value escaped (:func:`_md`, :func:`_code`): a finding's title,
        an identity or a user agent shows as written and cannot add HTML or Markdown structure."""
        d = self.data
        inp, ident, c = d["input"], d["identity"], d["counts"]
        w, b = d["window"], d["baseline"]
        out = [f"# Triage: {_md(inp.get('title') or self.who())}", "",
               f"*{_md(self.summary_line())}*", "",
               f"- Input: {_md(inp['kind'])} {_md(inp.get('finding_id') or '')} severity "
               f"{_md(inp.get('severity') or '-')} at {_md(inp['time'])}",
               f"- Window: {_md(_t(w['start']))} to {_md(_t(w['end']))} UTC "
               f"(activity from {_md(d['activity_source'])}, read via {_md(d['index'])})",
               f"- Baseline: {_md(_t(b['start']))} to {_md(_t(b['end']))}, "
               f"{_md(b['events'])} events of {_md(', '.join(b['principals']) or 'nobody')}", "",
               "## Identity", ""]
        for k in ("kind", "principal_arn", "identity_arn", "role_arn", "session_name", "source_identity",
                  "identity_store_user_id", "user_name", "service", "account_id", "original_principal"):
            if ident.get(k):
                out.append(f"- {k}: {_code(ident[k])}")
        if ident.get("access_keys"):
            out.append(f"- access keys: {', '.join(_code(k) for k in ident['access_keys'])}")
        if ident.get("chain"):
            out += ["", "Role chain (newest first):", ""]
            for link in ident["chain"]:
                out.append(f"1. {_code(link['issued_key'])} issued by {_md(link['event_name'])} at "
                           f"{_md(link['issued_at'])} to {_code(link['caller_arn'])} ({_md(link['caller_type'])}) "
                           f"from {_md(link['caller_ip'])}"
                           + (f", role {_code(link['role_arn'])}" if link.get("role_arn") else ""))
        out += ["", "## Activity", "",
                f"{_md(c['events'])} events ({_md(c['identity_events'])} by the identity, "
                f"{_md(c['child_session_events'])} by sessions it created, {_md(c['resource_events'])} touching "
                f"the resource), {_md(c['errors'])} errors.", ""]
        out += _table(["eventSource", "eventName", "count", "errors", "first", "last"],
                      [[a["event_source"], a["event_name"], a["count"], a["errors"], _t(a["first"]), _t(a["last"])]
                       for a in d["by_api"]])
        out += ["", "## Source addresses", ""]
        out += _table(["source", "count", "new", "enrichment", "APIs"],
                      [[s["source"], s["count"], "yes" if s.get("new") else "", ip_summary(s.get("enrichment")),
                        ", ".join(s["apis"][:8])] for s in d["source_ips"]])
        if d["sensitive"]:
            out += ["", "## Sensitive actions", ""]
            out += _table(["category", "eventName", "count", "errors", "first", "detail"],
                          [[s["category"], s["event_name"], s["count"], s["errors"], _t(s["first"]),
                            ", ".join(s["details"] or [])] for s in d["sensitive"]])
        new = d["new_vs_baseline"]
        out += ["", "## New compared with the baseline", ""]
        for k, v in new.items():
            out.append(f"- {_md(k.replace('_', ' '))}: {', '.join(_code(x) for x in v) if v else 'none'}")
        out += ["", "## User agents", ""]
        out += _table(["userAgent", "count", "new"],
                      [[u["user_agent"], u["count"], "yes" if u.get("new") else ""] for u in d["user_agents"]])
        if d["errors"]:
            out += ["", "## Errors", ""]
            out += _table(["errorCode", "eventName", "count", "example"],
                          [[e["error_code"], e["event_name"], e["count"], (e["example_message"] or "")[:120]]
                           for e in d["errors"]])
        out += ["", "## Regions", ""]
        out += _table(["region", "count", "new"], [[r["region"], r["count"], "yes" if r.get("new") else ""]
                                                   for r in d["regions"]])
        out += ["", "## Timeline", ""]
        tl = d["timeline"]
        out += _table(["time", "eventName", "source", "matched by", "error", "sensitive"],
                      [[_t(e["event_time"]), e["event_name"], e["source"], e["matched_by"], e["error_code"] or "",
                        "yes" if e["sensitive"] else ""] for e in tl["events"]])
        if tl["events_truncated"]:
            out.append(f"\n(first {len(tl['events'])} of {_md(c['events'])} events)")
        out += ["", "## Related alerts and findings", ""]
        rel = d["related"]
        if not any(rel.values()):
            out.append("none found")
        for kind, items in rel.items():
            for r in items:
                ident_ = r.get("alert_id") or r.get("finding_id")
                out.append(f"- {_md(kind)}: {_code(ident_)} {_md(r.get('title'))} ({_md(r.get('severity'))})")
        if d.get("athena"):
            sql = str(d["athena"]["sql_literal"])
            out += ["", "## Athena SQL", "", _fence(sql) + "sql", sql, _fence(sql)]  # a code block: shown as is
        if d["notes"]:
            out += ["", "## Notes", ""] + [f"- {_md(n)}" for n in d["notes"]]
        return "\n".join(out) + "\n"

    def to_html(self) -> str:
        """A self-contained HTML report (inline CSS and SVG timeline; no external assets)."""
        from cairn.triage.html import render_html

        return render_html(self)


def _iso(v: Any) -> str:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else str(v)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["none"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md(x) for x in r) + " |" for r in rows]
    return out


def clamp_note(text: str) -> str:
    """ASFF Note.Text: at most 512 characters."""
    return text if len(text) <= NOTE_MAX else text[: NOTE_MAX - 1] + "…"


def clamp_udf(fields: dict[str, str], existing: dict[str, str] | None = None) -> dict[str, str]:
    """ASFF UserDefinedFields: <= 50 pairs (with the finding's existing ones), keys <= 128, values <= 1024,
    no clash with existing keys (ours are prefixed ``cairn_``; a clash keeps the finding's value)."""
    existing = existing or {}
    room = max(0, UDF_MAX_PAIRS - len(existing))
    out: dict[str, str] = {}
    for k, v in fields.items():
        key = k[:UDF_KEY_MAX]
        if key in existing or key in out or len(out) >= room:
            continue
        val = str(v)
        out[key] = val if len(val) <= UDF_VALUE_MAX else val[: UDF_VALUE_MAX - 1] + "…"
    return out
