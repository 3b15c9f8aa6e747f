"""EventBridge events: which source an event's ``detail-type`` belongs to, and per-record routing.

:data:`DETAIL_TYPES` is the one mapping of the detail-types cairn knows to the source that reads
them; the GuardDuty and Security Hub sources (what they accept), the detection of a file's source
and the routing below all read it (``cairn handle`` dispatches on the same names, see
:mod:`cairn.actions.lambda_handler`).

An archive of EventBridge events (a rule's target writing to S3, Firehose, a JSON array saved
from a queue) often mixes sources: GuardDuty findings, Security Hub imports, CloudTrail API
calls. With ``--source auto`` such a file is read per record by :func:`router`: a source that
sends each envelope to the records SQL of the source its ``detail-type`` names, and everything
else (findings outside an envelope, unknown detail-types, invalid JSON) to the source the file
was detected as, which accepts or refuses it as it always does. An explicit ``--source`` reads
every record as that source (other detail-types are quarantined with the reason).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from cairn.sources.sqlkit import cwl_body, lit

if TYPE_CHECKING:
    from cairn.sources.base import Sniff, Source

GUARDDUTY_FINDING = "GuardDuty Finding"
"""detail-type of a GuardDuty finding (the finding is ``detail``)."""
SECURITYHUB_FINDINGS = ("Security Hub Findings - Imported", "Security Hub Findings - Custom Action")
"""detail-types of Security Hub ASFF finding events (the findings are ``detail.findings``)."""
CLOUDTRAIL_EVENTS = (
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Insight via CloudTrail",
)
"""detail-types of CloudTrail events delivered by EventBridge (the event is ``detail``)."""

DETAIL_TYPES: Mapping[str, str] = MappingProxyType({
    GUARDDUTY_FINDING: "guardduty",
    **dict.fromkeys(SECURITYHUB_FINDINGS, "securityhub"),
    **dict.fromkeys(CLOUDTRAIL_EVENTS, "cloudtrail"),
})
"""detail-type -> name of the source whose records SQL unwraps such an event."""

ENVELOPE = re.compile(r'"detail-type"\s*:')
"""An EventBridge envelope in a sniffed head."""


def source_of(detail_type: object) -> str | None:
    """The source that reads events of ``detail_type``, or None when cairn does not know it."""
    return DETAIL_TYPES.get(detail_type) if isinstance(detail_type, str) else None


def sql_list(values: tuple[str, ...]) -> str:
    """A SQL list literal of constant names, e.g. ``('a', 'b')`` (for code constants, never data)."""
    return "(" + ", ".join(lit(v) for v in values) + ")"


def _target_sql(primary: str) -> str:
    """SQL over ``_items`` (with ``_eb_body``, the item without a CloudWatch Logs export timestamp):
    the name of the source an item goes to (``primary`` unless it is an EventBridge envelope of a
    detail-type :data:`DETAIL_TYPES` gives to another source)."""
    body = "_eb_body"
    whens = " ".join(f"WHEN {lit(dt)} THEN {lit(name)}" for dt, name in DETAIL_TYPES.items())
    # contains() spares most items a parse; json_extract_string of a non-object is NULL.
    detail_type = (
        f"CASE WHEN contains({body}, 'detail-type') AND json_valid({body}) "
        f"THEN json_extract_string({body}, '$.\"detail-type\"') END"
    )
    return f"coalesce(CASE ({detail_type}) {whens} END, {lit(primary)})"


def router_sql(primary: str, members: Mapping[str, str]) -> str:
    """Records SQL (a SELECT over ``_items``) running each member's records SQL (``members``:
    source name -> its records SQL) over the items :func:`_target_sql` sends to it.

    The member SQL reads ``_items``: each branch shadows it with its share of the items.
    """
    branches = [
        f"SELECT origin, locator, raw, route, error FROM ("
        f"WITH _items AS (SELECT origin, locator, item, header FROM _eb_items WHERE _eb_to = {lit(name)}) "
        f"SELECT * FROM ({sql}))"
        for name, sql in members.items()
    ]
    return (
        f"WITH _eb_items AS MATERIALIZED (SELECT origin, locator, item, header, {_target_sql(primary)} AS _eb_to "
        f"FROM (SELECT *, {cwl_body()} AS _eb_body FROM _items) b)\n" + "\nUNION ALL\n".join(branches)
    )


def build_router(primary: Source, sources: Mapping[str, Source]) -> Source:
    """``primary`` reading EventBridge envelopes of other sources into their tables.

    The router keeps ``primary``'s name (the file counts as that source) and adds the tables,
    typed SQL, address columns and observables of every source of :data:`DETAIL_TYPES`;
    :meth:`Source.source_of` names the source of each table for the quarantine.
    """
    names = [primary.name, *sorted({n for n in DETAIL_TYPES.values() if n != primary.name and n in sources})]
    members = [primary if n == primary.name else sources[n] for n in names]
    return replace(
        primary,
        doc=f"{primary.doc}\n\nEventBridge envelopes of other sources go to their tables "
            "(cairn.sources.eventbridge).",
        tables=tuple(t for m in members for t in m.tables),
        detect=lambda s: 0,
        records_sql=router_sql(primary.name, {m.name: m.records_sql for m in members}),
        typed_sql={k: v for m in members for k, v in m.typed_sql.items()},
        ip_columns={k: v for m in members for k, v in m.ip_columns.items()},
        observables={k: v for m in members for k, v in m.observables.items()},
        table_sources={t.name: m.name for m in members for t in m.tables},
    )


_ROUTERS: dict[str, tuple[Source, Source]] = {}


def router(source: Source) -> Source:
    """The router of ``source`` (built once per registered source object)."""
    from cairn.sources import SOURCES

    cached = _ROUTERS.get(source.name)
    if cached is None or cached[0] is not source:
        cached = (source, build_router(source, SOURCES))
        _ROUTERS[source.name] = cached
    return cached[1]


def routed(source: Source | None, s: Sniff) -> Source | None:
    """The source to read a sniffed input with in auto mode: the :func:`router` of ``source``
    when it is one of :data:`DETAIL_TYPES`' sources and the input holds EventBridge envelopes,
    else ``source`` itself (CloudTrail trail files, flow logs... are read as before)."""
    if source is None or source.name not in DETAIL_TYPES.values() or source.framing != "json":
        return source
    return router(source) if ENVELOPE.search(s.text) else source
