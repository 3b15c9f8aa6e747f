"""Security Hub write-back: enrich findings with organisational context and intel, BatchUpdateFindings.

Flow (``cairn securityhub enrich`` and the event handler):

1. ``GetFindings`` with filters, page by page (:func:`fetch_findings`);
2. :func:`plan_updates`: the findings go through streaming enrichment (:mod:`cairn.outputs.stream`:
   the ingest SQL, then :func:`cairn.enrich.enrich_relation` against the workspace's intel, ownership
   and context, in SQL, nothing stored); the finding's account gets its context from ``ctx_accounts``
   (inventory files and ``cairn context sync aws``), its resources and identities theirs from the
   enrichment; each finding gets its ``UserDefinedFields`` (``cairn:`` keys, clamped to the limits by
   :func:`cairn.outputs.asff.clamp_user_defined_fields`) and ``Note`` (<= 512 characters);
3. :func:`write_updates`: ``BatchUpdateFindings``. One call sets the same fields on all the findings
   it names, so findings with identical updates (same account context, same intel) share a call, up
   to 100 per call; others get their own.

The marker ``cairn:enriched = v1 <hash>`` hashes what cairn wrote. A finding whose marker equals the
update it would get now is left alone: the "Security Hub Findings - Imported" event that
BatchUpdateFindings itself emits (its only change is cairn's update) is skipped, and so is any finding
whose enrichment has not changed. A finding re-imported by its provider with new content, or whose
context or intel changed, is updated again.

No API call is made per finding for context: Organizations and tags come from the context tables.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cairn.config import Config
from cairn.context.aws.clients import Clients
from cairn.context.aws.records import tag_value
from cairn.context.values import criticality_rank
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import CairnError, RemoteError
from cairn.outputs.asff import BATCH_FINDINGS_MAX, clamp_text, clamp_user_defined_fields, note_update
from cairn.workspace import Workspace

PREFIX = "cairn:"
MARKER_KEY = "cairn:enriched"
MARKER_VERSION = "v1"
NET_TYPES = ("ip", "domain", "hostname", "url", "hash", "email")
FLAG_SCORE = 7
_RANKED = ("low", "medium", "high", "critical")


@dataclass
class WritebackOptions:
    """How findings are updated."""

    updated_by: str = "cairn"
    """``Note.UpdatedBy``: also how cairn recognises its own notes."""
    overwrite: bool = False
    """Replace a note someone else wrote (default: keep it; cairn's summary goes to ``cairn:summary``)."""
    triage: bool = False
    """Add a triage summary (:func:`cairn.triage.triage`) per finding."""
    force: bool = False
    """Write even when the marker says the finding already has this update."""
    criticality_tags: tuple[str, ...] = ("criticality", "business-criticality", "business_criticality")


def writeback_options(config: Config | None, *, updated_by: str = "cairn", overwrite: bool = False,
                      triage: bool = False, force: bool = False) -> WritebackOptions:
    """The options of a write-back for a workspace's ``config``: the given switches plus its
    ``[context.aws] criticality_tags``. ``cairn securityhub enrich``, ``cairn handle`` and the Lambda
    handler build them here so that the same finding gets the same update (and marker) from each."""
    from cairn.context.aws.settings import aws_context_settings

    tags = WritebackOptions.criticality_tags if config is None else aws_context_settings(config).criticality_tags
    return WritebackOptions(updated_by=updated_by, overwrite=overwrite, triage=triage, force=force,
                            criticality_tags=tuple(tags))


@dataclass
class FindingUpdate:
    """What cairn will write to one finding."""

    id: str
    product_arn: str
    account_id: str | None
    status: str
    """``update`` (to write), ``current`` (already has it), ``no_room`` (50 fields taken by others)."""
    marker: str
    user_defined_fields: dict[str, str] = field(default_factory=dict)
    """The full map to send: the finding's other fields plus cairn's."""
    note: dict[str, str] | None = None
    flagged: list[str] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The fields of the BatchUpdateFindings call (without FindingIdentifiers)."""
        out: dict[str, Any] = {"UserDefinedFields": self.user_defined_fields}
        if self.note is not None:
            out["Note"] = self.note
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WritebackSummary:
    """What a write-back run did."""

    fetched: int = 0
    enriched: int = 0
    updated: int = 0
    current: int = 0
    no_room: int = 0
    unreadable: list[str] = field(default_factory=list)
    unprocessed: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    dry_run: bool = False
    calls: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    planned: list[dict[str, Any]] = field(default_factory=list)
    """The updates (in a dry run, or when asked)."""

    @property
    def findings_per_second(self) -> float:
        return round(self.fetched / self.seconds, 1) if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["findings_per_second"] = self.findings_per_second
        return d


# -- reading ---------------------------------------------------------------------------------------------
def fetch_findings(clients: Clients, filters: dict[str, Any], *, limit: int | None = None
                   ) -> Iterator[dict[str, Any]]:
    """Findings matching ``filters`` (GetFindings, 100 per page, every page)."""
    from botocore.exceptions import ClientError

    sh = clients.client("securityhub")
    n = 0
    try:
        for page in clients.pages(sh, "get_findings", Filters=filters, MaxResults=100):
            for f in page.get("Findings", []):
                yield f
                n += 1
                if limit is not None and n >= limit:
                    return
    except ClientError as exc:
        raise RemoteError(f"securityhub GetFindings: {exc}") from exc


# -- planning --------------------------------------------------------------------------------------------
_ROWS_SQL = """
SELECT finding_id, product_arn, aws_account_id, raw, enrichment
FROM {view}
QUALIFY row_number() OVER (PARTITION BY finding_id, product_arn ORDER BY event_time DESC) = 1
ORDER BY finding_id
"""


def _pick(col: str, prefer: str, present: str) -> str:
    """The value of ``col`` from the preferred source (``file``: curated inventories; ``aws``: collectors),
    then the most recent load."""
    return (f"arg_max({col}, [CAST(source = '{prefer}' AS BIGINT), epoch_us(loaded_at)]) "
            f"FILTER (WHERE {present}) AS {col}")


_ACCOUNTS_SQL = f"""
SELECT account_id,
       {_pick("name", "file", "name IS NOT NULL")},
       {_pick("ou_path", "aws", "ou_path IS NOT NULL")},
       {_pick("environment", "file", "environment IS NOT NULL")},
       {_pick("owner", "file", "owner IS NOT NULL")},
       {_pick("contacts", "aws", "len(contacts) > 0")},
       {_pick("tags", "aws", "cardinality(tags) > 0")}
FROM ctx_accounts
WHERE account_id IN (SELECT DISTINCT aws_account_id FROM {{view}})
GROUP BY account_id
"""


def plan_updates(engine: DuckDBEngine, ws: Workspace, findings: list[dict[str, Any]], opts: WritebackOptions,
                 unreadable: list[str] | None = None) -> list[FindingUpdate]:
    """Enrich ``findings`` (ASFF) against the workspace and plan each one's update."""
    from cairn.outputs.stream import enrich_inputs, enriched_view

    if not findings:
        return []
    with tempfile.TemporaryDirectory(prefix="cairn-sh-") as tmp:
        path = Path(tmp) / "findings.json"
        path.write_text(json.dumps({"Findings": findings}, default=str), encoding="utf-8")
        result = enrich_inputs(engine, ws, [str(path)], source="securityhub")
    if unreadable is not None:
        unreadable += [f"{r.locator}: {r.reason}" for _, r in result.rejected]
    view = enriched_view("securityhub_findings")
    if "securityhub_findings" not in result.views:
        return []
    accounts = {r["account_id"]: r for r in engine.arrow(_ACCOUNTS_SQL.format(view=view)).to_pylist()}
    out = []
    for row in engine.arrow(_ROWS_SQL.format(view=view)).to_pylist():
        finding = json.loads(row["raw"])
        line = _triage_line(engine, ws, finding) if opts.triage else None
        out.append(plan_update(finding, row.get("enrichment") or [], accounts.get(row["aws_account_id"]), opts,
                               triage_line=line))
    return out


def _triage_line(engine: DuckDBEngine, ws: Workspace, finding: dict[str, Any]) -> str | None:
    try:
        from cairn.triage import triage
    except ImportError:
        return None
    try:
        return str(triage(engine, ws, finding, auto_index=False).summary_line())
    except CairnError as exc:
        return f"triage failed: {exc}"


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {str(k): str(v) for k, v in (value or [])}


def _describe(e: dict[str, Any]) -> str:
    bits = [f"{e.get('score_id') or 0} {e.get('score') or 'Unknown'}"]
    if e.get("verdict_sources"):
        bits.append("sources " + ", ".join(e["verdict_sources"]))
    why = (e.get("why") or "").split(";")[0].strip()
    if why and (e.get("score_id") or 0) > 0:
        bits.append(why)
    own = []
    if e.get("asn") is not None:
        own.append(f"AS{e['asn']} {e.get('as_org') or ''}".strip())
    if e.get("country"):
        own.append(str(e["country"]))
    if e.get("cloud_provider"):
        own.append("/".join(str(x) for x in (e["cloud_provider"], e.get("cloud_service"), e.get("cloud_region")) if x))
    if e.get("is_tor"):
        own.append("Tor exit")
    if e.get("special_range"):
        own.append(str(e["special_range"]))
    if e.get("network_zone"):
        own.append(f"zone {e['network_zone']}")
    if own:
        bits.append(", ".join(own))
    return "; ".join(bits)


def _criticality(enrichment: list[dict[str, Any]], acct_tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    levels = [e.get("asset_criticality") for e in enrichment if e.get("asset_criticality")]
    tagged = tag_value(acct_tags, keys)
    if tagged:
        try:
            from cairn.context.values import criticality

            levels.append(criticality(tagged))
        except ValueError:
            pass
    ranked = [lv for lv in levels if lv in _RANKED]
    return max(ranked, key=lambda lv: criticality_rank(lv) or 0) if ranked else None


def plan_update(finding: dict[str, Any], enrichment: list[dict[str, Any]], account: dict[str, Any] | None,
                opts: WritebackOptions, *, triage_line: str | None = None) -> FindingUpdate:
    """The update of one finding from its enrichment and its account's context."""
    acct = account or {}
    acct_id = finding.get("AwsAccountId")
    acct_tags = _tags(acct.get("tags"))
    owner = acct.get("owner") or next((e.get("asset_owner") for e in enrichment if e.get("asset_owner")), None) \
        or next((e.get("identity_team") for e in enrichment if e.get("identity_team")), None)
    crit = _criticality(enrichment, acct_tags, opts.criticality_tags)
    seen: set[tuple[str, str]] = set()
    net = []
    for e in sorted(enrichment, key=lambda e: (-(e.get("score_id") or 0), e.get("type") or "", e.get("value") or "")):
        key = (e.get("type") or "", e.get("value") or "")
        if key[0] in NET_TYPES and key[1] and key not in seen:
            seen.add(key)
            net.append(e)
    flagged = [e for e in net if (e.get("score_id") or 0) >= FLAG_SCORE]
    ours: dict[str, str | None] = {
        f"{PREFIX}account": f"{acct['name']} ({acct_id})" if acct.get("name") else acct_id,
        f"{PREFIX}ou": acct.get("ou_path"),
        f"{PREFIX}owner": owner,
        f"{PREFIX}environment": acct.get("environment"),
        f"{PREFIX}criticality": crit,
    }
    if net:
        top = net[0]
        ours[f"{PREFIX}max_score"] = f"{top.get('score_id') or 0} {top.get('score') or 'Unknown'}"
    if flagged:
        ours[f"{PREFIX}flagged"] = ", ".join(f"{e['value']} ({e.get('score_id')} {e.get('score')})" for e in flagged)
    contacts = [c for c in acct.get("contacts") or [] if c]
    if contacts:
        ours[f"{PREFIX}contacts"] = "; ".join(contacts)
    if triage_line:
        ours[f"{PREFIX}triage"] = triage_line
    for e in net:
        ours[f"{PREFIX}{e['type']}:{e['value']}"] = _describe(e)
    for k, v in sorted(acct_tags.items()):
        if not k.startswith("aws:"):
            ours[f"{PREFIX}tag:{k}"] = v
    text = _note_text(acct_id, acct, owner, crit, net, flagged, triage_line)
    existing = {str(k): str(v) for k, v in (finding.get("UserDefinedFields") or {}).items()}
    old_note = finding.get("Note") or {}
    keep_note = bool(old_note.get("Text")) and old_note.get("UpdatedBy") != opts.updated_by and not opts.overwrite
    note = None if keep_note else note_update(text, opts.updated_by)
    if keep_note:
        ours[f"{PREFIX}summary"] = text
    clean = {k: v for k, v in ours.items() if v not in (None, "")}
    digest = hashlib.sha256(json.dumps([sorted(clean.items()), note], sort_keys=True).encode()).hexdigest()[:16]
    marker = f"{MARKER_VERSION} {digest}"
    foreign = {k: v for k, v in existing.items() if not k.startswith(PREFIX)}
    added = clamp_user_defined_fields({MARKER_KEY: marker, **clean}, foreign, overwrite=opts.overwrite)
    if MARKER_KEY not in added:
        status = "no_room"
    elif existing.get(MARKER_KEY) == marker and not opts.force:
        status = "current"
    else:
        status = "update"
    return FindingUpdate(id=finding["Id"], product_arn=finding["ProductArn"], account_id=acct_id, status=status,
                         marker=marker, user_defined_fields={**foreign, **added}, note=note,
                         flagged=[e["value"] for e in flagged])


def _note_text(acct_id: str | None, acct: dict[str, Any], owner: str | None, crit: str | None,
               net: list[dict[str, Any]], flagged: list[dict[str, Any]], triage_line: str | None) -> str:
    who = f"{acct['name']} ({acct_id})" if acct.get("name") else f"{acct_id} (no context)"
    parts = [f"Account {who}"]
    for label, value in (("OU", acct.get("ou_path")), ("env", acct.get("environment")), ("owner", owner),
                         ("criticality", crit)):
        if value:
            parts.append(f"{label} {value}")
    text = "cairn: " + ", ".join(parts) + "."
    if flagged:
        text += " Flagged: " + "; ".join(
            f"{e['value']} {e.get('score')} ({e.get('score_id')}"
            + (f", {', '.join(e['verdict_sources'])}" if e.get("verdict_sources") else "") + ")" for e in flagged[:3])
        text += "." + (f" {len(flagged) - 3} more flagged." if len(flagged) > 3 else "")
    elif net:
        text += f" Intel: none of {len(net)} IPs/domains flagged."
    if triage_line:
        text += f" Triage: {triage_line}"
    return clamp_text(text, 1024, words=True)


# -- writing ---------------------------------------------------------------------------------------------
def group_updates(updates: list[FindingUpdate]) -> list[tuple[dict[str, Any], list[FindingUpdate]]]:
    """Updates to write, grouped by identical payload, in chunks of at most 100 findings."""
    groups: dict[str, tuple[dict[str, Any], list[FindingUpdate]]] = {}
    for u in updates:
        if u.status != "update":
            continue
        payload = u.payload()
        key = json.dumps(payload, sort_keys=True)
        groups.setdefault(key, (payload, []))[1].append(u)
    out = []
    for payload, members in groups.values():
        for i in range(0, len(members), BATCH_FINDINGS_MAX):
            out.append((payload, members[i:i + BATCH_FINDINGS_MAX]))
    return out


def write_updates(clients: Clients, updates: list[FindingUpdate], summary: WritebackSummary) -> None:
    """``BatchUpdateFindings`` for every planned update; unprocessed findings are reported, not dropped."""
    from botocore.exceptions import ClientError

    sh = clients.client("securityhub")
    for payload, members in group_updates(updates):
        ids = [{"Id": u.id, "ProductArn": u.product_arn} for u in members]
        try:
            resp = clients.call(sh, "batch_update_findings", FindingIdentifiers=ids, **payload)
        except ClientError as exc:
            raise RemoteError(f"securityhub BatchUpdateFindings: {exc}") from exc
        summary.batches += 1
        summary.updated += len(resp.get("ProcessedFindings", []))
        for u in resp.get("UnprocessedFindings", []):
            summary.unprocessed.append({"id": u.get("FindingIdentifier", {}).get("Id"),
                                        "error": u.get("ErrorCode"), "message": u.get("ErrorMessage")})


def run_writeback(ws: Workspace, engine: DuckDBEngine, clients: Clients, filters: dict[str, Any],
                  opts: WritebackOptions, *, dry_run: bool = False, limit: int | None = None, chunk: int = 5000,
                  keep_plans: bool = False, progress: Callable[[str, int], None] | None = None) -> WritebackSummary:
    """Fetch, enrich and write back, ``chunk`` findings at a time."""
    started = time.monotonic()
    summary = WritebackSummary(dry_run=dry_run)
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        updates = plan_updates(engine, ws, batch, opts, summary.unreadable)
        summary.enriched += len(updates)
        summary.current += sum(u.status == "current" for u in updates)
        summary.no_room += sum(u.status == "no_room" for u in updates)
        if dry_run or keep_plans:
            summary.planned += [u.to_dict() for u in updates]
        if not dry_run:
            write_updates(clients, updates, summary)
        else:
            summary.batches += len(group_updates(updates))
        if progress:
            progress("enriched", len(updates))
        batch.clear()

    for f in fetch_findings(clients, filters, limit=limit):
        batch.append(f)
        summary.fetched += 1
        if progress:
            progress("fetched", 1)
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    summary.calls = clients.counter.to_dict()
    summary.seconds = round(time.monotonic() - started, 3)
    return summary
