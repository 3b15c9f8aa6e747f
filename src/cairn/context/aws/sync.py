"""``cairn context sync aws``: Organizations and resource tags into the context tables, cached with a TTL.

Scopes (each a context *source* like an inventory file: ``ctx_loads.source = 'aws'``,
``source_file`` the scope):

- ``aws://organizations``: every account (``ctx_accounts``);
- ``aws://resources/<account>``: the account's EC2 instances, IAM users and roles, S3 buckets
  (``ctx_assets``; tagged IAM principals also in ``ctx_identities``), read through ``role_name``.

A scope loaded (or found unchanged) less than ``ttl`` ago is not read again: no API call at all.
Unchanged content only updates ``ctx_loads.checked_at``; changed content replaces the scope's rows in
one catalog transaction; an account that left the organisation has its resource scope removed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn.config import AwsSettings
from cairn.context.aws.clients import CallCounter, Clients, error_code
from cairn.context.aws.organizations import read_organization
from cairn.context.aws.records import account_record, check, resource_records
from cairn.context.aws.resources import read_resources
from cairn.context.aws.settings import AwsContextSettings
from cairn.context.store import CollectedLoad, LoadReport, load_collected
from cairn.context.tables import LOADS_DDL
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import CairnError
from cairn.workspace import Workspace

SOURCE = "aws"
ORG_SCOPE = "aws://organizations"
RESOURCE_SCOPE = "aws://resources/"


@dataclass
class SyncReport:
    """What a sync did."""

    org_id: str | None = None
    management_account: str | None = None
    accounts: int = 0
    fresh: list[str] = field(default_factory=list)
    """Scopes skipped because they were loaded less than ``ttl`` ago."""
    loads: list[LoadReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What could not be read (access denied, a role that cannot be assumed) and left out records."""
    calls: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["loads"] = [r.to_dict() for r in self.loads]
        return d


def _fresh_scopes(engine: DuckDBEngine, ttl: float) -> set[str]:
    if ttl <= 0:
        return set()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ttl)
    return {r[0] for r in engine.rows(
        "SELECT source_file FROM _ctx_loads WHERE source = ? AND is_current "
        "GROUP BY source_file HAVING min(greatest(loaded_at, coalesce(checked_at, loaded_at))) >= ?",
        [SOURCE, since])}


def _current_scopes(engine: DuckDBEngine) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for scope, kind in engine.rows("SELECT source_file, kind FROM _ctx_loads WHERE source = ? AND is_current",
                                   [SOURCE]):
        out.setdefault(scope, set()).add(kind)
    return out


def _cached_accounts(engine: DuckDBEngine) -> list[tuple[str, str | None]]:
    """``(account_id, status)`` of the organisation as last loaded."""
    return [(r[0], r[1]) for r in engine.rows(
        "SELECT account_id, tags['aws:organizations:status'] FROM ctx_accounts WHERE source = ? AND source_file = ? "
        "ORDER BY account_id", [SOURCE, ORG_SCOPE])]


def sync_aws(ws: Workspace, engine: DuckDBEngine, settings: AwsContextSettings, aws: AwsSettings, *,
             clients: Clients | None = None, force: bool = False,
             progress: Callable[[str, int], None] | None = None) -> SyncReport:
    """Read Organizations (and resources) unless fresh, load them into the context tables."""
    started = time.monotonic()
    counter = clients.counter if clients else CallCounter()
    clients = clients or Clients(aws, max_attempts=settings.max_attempts, backoff_attempts=settings.backoff_attempts,
                                 backoff_base=settings.backoff_base, counter=counter)
    report = SyncReport()
    engine.execute(LOADS_DDL)
    fresh = set() if force else _fresh_scopes(engine, settings.ttl_seconds)
    if ORG_SCOPE in fresh:
        report.fresh.append(ORG_SCOPE)
        accounts = _cached_accounts(engine)
    else:
        org = read_organization(clients, contact_types=settings.contact_types, progress=progress)
        report.org_id, report.management_account = org.org_id, org.management_account
        rows, problems, digest = check("accounts", [(f"account {a.account_id}", account_record(a, settings))
                                                     for a in org.accounts])
        report.notes += [f"account {a.account_id}: {n}" for a in org.accounts for n in a.notes] + problems
        report.loads += load_collected(ws, engine, SOURCE, [CollectedLoad(ORG_SCOPE, "accounts", rows, digest,
                                                                          problems)])
        accounts = [(a.account_id, a.status) for a in org.accounts]
    report.accounts = len(accounts)
    if settings.resources:
        report.loads += _sync_resources(ws, engine, clients, settings, accounts, fresh, report, progress)
    report.calls = counter.to_dict()
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _sync_resources(ws: Workspace, engine: DuckDBEngine, clients: Clients, s: AwsContextSettings,
                    accounts: list[tuple[str, str | None]], fresh: set[str], report: SyncReport,
                    progress: Callable[[str, int], None] | None) -> list[LoadReport]:
    from botocore.exceptions import ClientError

    loads: list[CollectedLoad] = []
    members = {a for a, _ in accounts}
    for account, status in accounts:
        scope = RESOURCE_SCOPE + account
        if status not in (None, "ACTIVE"):
            continue
        if scope in fresh:
            report.fresh.append(scope)
            continue
        caller = clients.caller()  # cached: one call, and none when every scope is fresh
        if account != caller["Account"]:
            if not s.role_name:
                continue
            try:
                clients.assume(account, s.role_name, s.session_name)
            except ClientError as exc:
                report.notes.append(f"account {account}: cannot assume role {s.role_name}: {error_code(exc) or exc}")
                continue
        try:
            resources, notes = read_resources(clients, account, s.regions, caller["partition"])
        except CairnError as exc:
            report.notes.append(f"account {account}: resources not read: {exc}")
            continue
        report.notes += [f"account {account}: {n}" for n in notes]
        by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {"assets": [], "identities": []}
        tag_notes: list[str] = []
        for r in resources:
            for kind, rec in resource_records(r, s, tag_notes).items():
                by_kind[kind].append((f"{r.resource_type} {r.name or r.arn}", rec))
        report.notes += tag_notes
        for kind, recs in by_kind.items():
            rows, problems, digest = check(kind, recs)
            report.notes += problems
            loads.append(CollectedLoad(scope, kind, rows, digest, problems))
        if progress:
            progress("resources", 1)
    if not s.role_name and len(members) > 1:
        report.notes.append("no role_name: resources were read in the caller's account only "
                            "(set [context.aws] role_name or --role-name for the others)")
    for scope, kinds in _current_scopes(engine).items():
        if scope.startswith(RESOURCE_SCOPE) and scope.removeprefix(RESOURCE_SCOPE) not in members:
            loads += [CollectedLoad(scope, k, [], "", remove=True) for k in sorted(kinds)]
    return load_collected(ws, engine, SOURCE, loads) if loads else []
