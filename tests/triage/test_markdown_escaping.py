"""The Markdown triage report shows hostile values (a finding's title, an identity, a user agent ...) as
written: no raw HTML reaches the page and no value adds Markdown structure (headings, emphasis, links,
table cells, code spans)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from cairn.triage import TriageReport, triage

TITLE = "<script>alert(1)</script> **bold** [x](javascript:alert(1)) | cell #"
IDENTITY = "arn:aws:iam::123456789012:user/`</code><img src=x onerror=alert(2)>`"
AGENT = "Mozilla <iframe src=//evil> | fake | cell\n# Heading\n*em* & co"
T0 = datetime(2024, 8, 1, 12, 0, tzinfo=UTC)


def _data() -> dict[str, Any]:
    """A triage document (the shape :func:`cairn.triage.triage` returns) full of hostile values."""
    ev = {"event_time": T0, "event_name": "GetObject", "source": "s3.amazonaws.com", "matched_by": "identity",
          "error_code": None, "sensitive": False}
    return {
        "input": {"kind": "finding", "title": TITLE, "finding_id": "f-<b>1</b>", "severity": "HIGH", "time": T0,
                  "identity": IDENTITY},
        "identity": {"kind": "IAMUser", "principal_arn": IDENTITY, "access_keys": ["AKIA`x`<i>"],
                     "chain": [{"issued_key": "ASIA<k>", "event_name": "AssumeRole", "issued_at": T0,
                                "caller_arn": IDENTITY, "caller_type": "IAMUser", "caller_ip": "198.51.100.7",
                                "role_arn": "arn:aws:iam::123456789012:role/r|x"}]},
        "resource": {"values": []},
        "window": {"start": T0, "end": T0}, "baseline": {"start": T0, "end": T0, "events": 0, "principals": []},
        "activity_source": "lake", "index": "none",
        "counts": {"events": 1, "errors": 0, "distinct_apis": 1, "distinct_sources": 1, "identity_events": 1,
                   "child_session_events": 0, "resource_events": 0},
        "by_api": [{"event_source": "s3.amazonaws.com", "event_name": "GetObject", "count": 1, "errors": 0,
                    "first": T0, "last": T0}],
        "source_ips": [{"source": "198.51.100.7", "count": 1, "new": True, "apis": ["GetObject"],
                        "enrichment": {"score_id": 0, "score": "Unknown", "as_org": "<b>Org</b> | x"}}],
        "sensitive": [],
        "new_vs_baseline": {"user_agents": [AGENT], "source_ips": []},
        "user_agents": [{"user_agent": AGENT, "count": 1, "new": True}],
        "errors": [], "regions": [{"region": "us-east-1", "count": 1, "new": False}],
        "timeline": {"events": [ev], "events_truncated": False},
        "related": {"findings": [{"finding_id": "<f>", "title": TITLE, "severity": "HIGH"}]},
        "athena": {"sql_literal": "SELECT 1 -- ```\n```\nWHERE x = '<script>'"},
        "notes": ["note <u>x</u>\n## not a heading"],
    }


def _render(md: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return str(markdown_it.MarkdownIt("commonmark").enable("table").render(md))


def test_hostile_values_add_no_html() -> None:
    md = TriageReport(_data()).to_markdown()
    for raw in ("<script", "<img", "<iframe", "<b>", "<i>", "<u>", "<k>", "<f>"):
        outside_sql = md.split("## Athena SQL")[0] + md.split("## Notes")[1]
        assert raw not in outside_sql, raw
    page = _render(md)
    for tag in ("<script", "<img", "<iframe", "<b>", "<u>", "<a ", "<strong>", "<h2>not"):
        assert tag not in page, tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_markdown_structure_is_kept() -> None:
    md = TriageReport(_data()).to_markdown()
    page = _render(md)
    assert md.splitlines()[0].startswith("# Triage: &lt;script&gt;")
    assert len(re.findall(r"<h1>", page)) == 1
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == ["Identity", "Activity", "Source addresses", "New compared with the baseline",
                        "User agents", "Regions", "Timeline", "Related alerts and findings", "Athena SQL", "Notes"]
    # the user-agent table keeps its three columns and one row; the agent shows on one line as written
    agents = page.split("<h2>User agents</h2>")[1].split("</table>")[0]
    assert agents.count("<tr>") == 2 and agents.count("<td>") == 3
    assert "Mozilla &lt;iframe src=//evil&gt; | fake | cell # Heading *em* &amp; co" in agents
    # the identity shows whole as code; the SQL stays one code block, as written
    assert "<code>arn:aws:iam::123456789012:user/`&lt;/code&gt;&lt;img src=x onerror=alert(2)&gt;`</code>" in page
    assert "<code class=\"language-sql\">SELECT 1 -- ```\n```\nWHERE x = '&lt;script&gt;'\n</code>" in page
    assert "<code>arn:aws:iam::123456789012:role/r|x</code>" in page
    title = re.search(r"<h1>(.*?)</h1>", page)
    assert title and title.group(1) == (
        "Triage: &lt;script&gt;alert(1)&lt;/script&gt; **bold** [x](javascript:alert(1)) | cell #")


def test_ordinary_values_keep_backtick_code(attack_lake: Any) -> None:
    rep = triage(attack_lake.engine, attack_lake.ws,
                 {"identity": "<script>alert(1)</script>", "time": "2024-08-01T00:00:00Z"})
    md = rep.to_markdown()
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    plain = TriageReport({**_data(), "identity": {"kind": "IAMUser", "principal_arn": "arn:aws:iam::1:user/bob"}})
    assert "- principal_arn: `arn:aws:iam::1:user/bob`" in plain.to_markdown()
