"""Event-driven enrichment: EventBridge events in, Security Hub findings updated.

``handler(event, context)`` is the AWS Lambda entry point (``cairn.actions.lambda_handler.handler``);
``cairn handle EVENT.json`` runs the same code on a saved event. Events:

- ``Security Hub Findings - Imported`` (and ``- Custom Action``): each finding of ``detail.findings``
  is enriched and written back (:mod:`cairn.actions.securityhub_writeback`). The import event that
  cairn's own ``BatchUpdateFindings`` causes is recognised by the marker and skipped (``current``);
- ``GuardDuty Finding``: the finding's Security Hub copy (``Id`` = the GuardDuty finding ARN) is read
  with one ``GetFindings`` call and handled the same way; when Security Hub has not imported it yet
  the result is ``not_in_securityhub`` (its import event comes later and is enriched then);
- anything else is ``ignored``.

In Lambda the workspace is ``CAIRN_WORKSPACE`` (default ``/tmp/cairn``), kept open while the
container is warm. Building the reference tables of a new workspace takes ~20 s, so an image should
bring one prebuilt (:func:`prebuild`, run at image build time) and name it ``CAIRN_WORKSPACE_TEMPLATE``:
a cold start copies it to ``CAIRN_WORKSPACE``. On a cold start (and whenever the TTL ran out) context is refreshed according to
``CAIRN_CONTEXT_SYNC``: ``org`` (default: Organizations only, O(accounts) calls once per TTL),
``all`` (also resource tags through ``[context.aws] role_name``) or ``off``; inventory files listed in
``[context] files`` (``CAIRN_CONFIG``) are loaded too. See docs/aws.md and examples/aws-lambda/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.actions.securityhub_writeback import (
    WritebackOptions,
    WritebackSummary,
    fetch_findings,
    plan_updates,
    write_updates,
    writeback_options,
)
from cairn.context.aws.clients import Clients
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import InputError
from cairn.sources.eventbridge import GUARDDUTY_FINDING, SECURITYHUB_FINDINGS
from cairn.workspace import Workspace

SECURITYHUB_TYPES = SECURITYHUB_FINDINGS
GUARDDUTY_TYPE = GUARDDUTY_FINDING


def _kind(value: Any) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__)


def event_problem(event: Any) -> str | None:
    """What keeps ``event`` from being handled (None when it can be): checked before any AWS call."""
    if not isinstance(event, dict):
        return f"an EventBridge event must be a JSON object, got {_kind(event)}"
    dtype = event.get("detail-type")
    if dtype not in (*SECURITYHUB_TYPES, GUARDDUTY_TYPE):
        return None  # ignored
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return f"{dtype} event: detail must be a JSON object, got {_kind(detail)}"
    if dtype in SECURITYHUB_TYPES:
        findings = detail.get("findings")
        if not isinstance(findings, list):
            return f"{dtype} event without detail.findings[] (got {_kind(findings)})"
        bad = next((i for i, f in enumerate(findings) if not isinstance(f, dict)), None)
        if bad is not None:
            return f"{dtype} event: detail.findings[{bad}] must be a finding object, got {_kind(findings[bad])}"
        return None
    arn = detail.get("arn")
    if not isinstance(arn, str) or not arn.strip():
        return f"GuardDuty Finding event without detail.arn (got {_kind(arn)})"
    return None


def event_findings(event: Any, clients: Clients | None) -> tuple[str, list[dict[str, Any]]]:
    """``(kind, ASFF findings)`` of an event: kind is securityhub, guardduty, not_in_securityhub or ignored.

    An event of a handled type without the expected shape raises :class:`InputError` (see :func:`event_problem`)."""
    problem = event_problem(event)
    if problem:
        raise InputError(problem, origin=str(event.get("id") or "event") if isinstance(event, dict) else None)
    dtype, detail = event.get("detail-type"), event.get("detail")
    if dtype in SECURITYHUB_TYPES:
        return "securityhub", detail["findings"]
    if dtype == GUARDDUTY_TYPE:
        arn = detail["arn"]
        if clients is None:
            return "not_in_securityhub", []
        found = list(fetch_findings(clients, {"Id": [{"Value": arn, "Comparison": "EQUALS"}]}, limit=1))
        return ("guardduty", found) if found else ("not_in_securityhub", [])
    return "ignored", []


def handle_event(event: Any, ws: Workspace, engine: DuckDBEngine, clients: Clients | None,
                 opts: WritebackOptions | None = None, *, dry_run: bool = False) -> dict[str, Any]:
    """Enrich the findings of one event and write them back (unless ``dry_run``): a JSON-able result."""
    opts = opts or WritebackOptions()
    kind, findings = event_findings(event, clients)
    result: dict[str, Any] = {"event": event.get("id"), "detail_type": event.get("detail-type"), "kind": kind}
    if not findings:
        result["status"] = kind if kind != "securityhub" else "no_findings"
        return result
    summary = WritebackSummary(dry_run=dry_run, fetched=len(findings))
    updates = plan_updates(engine, ws, findings, opts, summary.unreadable)
    summary.enriched = len(updates)
    summary.current = sum(u.status == "current" for u in updates)
    summary.no_room = sum(u.status == "no_room" for u in updates)
    if not dry_run and clients is not None:
        write_updates(clients, updates, summary)
    result.update(status="ok", findings=[{"id": u.id, "account": u.account_id, "status": u.status,
                                           "flagged": u.flagged, "marker": u.marker,
                                           **({"update": u.payload()} if dry_run else {})} for u in updates],
                  updated=summary.updated, current=summary.current, no_room=summary.no_room,
                  unprocessed=summary.unprocessed, unreadable=summary.unreadable,
                  calls=clients.counter.to_dict() if clients else {})
    return result


@dataclass
class _Warm:
    ws: Workspace
    engine: DuckDBEngine
    clients: Clients


_WARM: _Warm | None = None


def _warm() -> _Warm:
    """The workspace, engine and clients of this container (opened once; context refreshed per TTL)."""
    global _WARM
    if _WARM is None:
        from cairn.context.aws import aws_context_settings
        from cairn.lake.catalog import Catalog

        root = Path(os.environ.get("CAIRN_WORKSPACE") or "/tmp/cairn")
        template = os.environ.get("CAIRN_WORKSPACE_TEMPLATE")
        if template and not root.exists():
            shutil.copytree(template, root)
        config = os.environ.get("CAIRN_CONFIG")
        ws = Workspace.open(root, Path(config) if config else None)
        engine = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")
        Catalog(engine, ws.lake)
        s = aws_context_settings(ws.config)
        clients = Clients(ws.config.aws, max_attempts=s.max_attempts, backoff_attempts=s.backoff_attempts,
                          backoff_base=s.backoff_base)
        _WARM = _Warm(ws, engine, clients)
    _refresh_context(_WARM)
    return _WARM


def _refresh_context(w: _Warm) -> None:
    from cairn.context.aws import aws_context_settings, sync_aws
    from cairn.context.settings import context_settings
    from cairn.context.store import load_files

    mode = (os.environ.get("CAIRN_CONTEXT_SYNC") or "org").lower()
    files = context_settings(w.ws.config).file_paths()
    if files:
        load_files(w.ws, w.engine, list(files))  # unchanged files cost a hash each
    if mode in ("org", "all"):
        s = aws_context_settings(w.ws.config).with_options(resources=mode == "all")
        report = sync_aws(w.ws, w.engine, s, w.ws.config.aws, clients=w.clients)
        if report.loads:
            _log({"context_sync": {"accounts": report.accounts, "fresh": len(report.fresh),
                                   "loads": len(report.loads), "notes": report.notes[:20]}})


def prebuild(root: str | Path, config: str | Path | None = None) -> Path:
    """Build a workspace for an image: reference tables (and the inventory files of ``[context] files``)
    ready, so that a cold start only copies it (``CAIRN_WORKSPACE_TEMPLATE``)."""
    from cairn.context.settings import context_settings
    from cairn.context.store import load_files
    from cairn.enrich.materialize import prepare
    from cairn.lake.catalog import Catalog

    ws = Workspace.open(Path(root), Path(config) if config else None)
    with DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp") as engine:
        Catalog(engine, ws.lake)
        with ws.writer_lock():
            prepare(engine, ws)
        files = context_settings(ws.config).file_paths()
        if files:
            load_files(ws, engine, list(files))
    return ws.root


def _log(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")


def handler_options(config: Any, env: Mapping[str, str] | None = None) -> WritebackOptions:
    """The handler's write-back options: ``CAIRN_UPDATED_BY`` (default ``cairn``), ``CAIRN_OVERWRITE_NOTE``
    (``1``/``true``) and the config's ``[context.aws] criticality_tags``, as ``cairn handle`` has them."""
    env = os.environ if env is None else env
    return writeback_options(config, updated_by=env.get("CAIRN_UPDATED_BY") or "cairn",
                             overwrite=(env.get("CAIRN_OVERWRITE_NOTE") or "").lower() in ("1", "true"))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point: enrich the event's findings and write them back to Security Hub."""
    w = _warm()
    opts = handler_options(w.ws.config)
    result = handle_event(event, w.ws, w.engine, w.clients, opts)
    _log({"cairn_handler": {k: v for k, v in result.items() if k != "calls"}})
    return result
