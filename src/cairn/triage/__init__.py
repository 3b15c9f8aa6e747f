"""Alert triage: from an alert body to "what did this identity do, from where, and is it bad".

``triage(engine, workspace, alert_body, before=..., after=...) -> TriageReport`` reads the alert
(:mod:`~cairn.triage.inputs`), resolves the identity through role chains (:mod:`~cairn.triage.identity`),
queries the activity of the identity and the resource in the window from the triage index
(:mod:`~cairn.triage.index`), the lake, CloudTrail LookupEvents (:mod:`~cairn.triage.lookup_events`) or
generates Athena SQL (:mod:`~cairn.triage.athena`), summarises and enriches it
(:mod:`~cairn.triage.summary`, :mod:`~cairn.triage.enrichment`), compares with the identity's baseline
(:mod:`~cairn.triage.baseline`), finds related alerts and findings (:mod:`~cairn.triage.related`) and
renders JSON, Markdown, HTML and ASFF fields (:mod:`~cairn.triage.report`).
"""

from cairn.triage.core import triage
from cairn.triage.index import update_index
from cairn.triage.report import TriageReport

__all__ = ["TriageReport", "triage", "update_index"]
