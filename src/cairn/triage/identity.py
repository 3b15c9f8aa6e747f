"""Identity resolution: from what an alert names to who acted, through role chains.

- an access key id -> the principal that used it (IAM user, role session, root, federated user);
- an assumed-role session (STS ARN, ``AROA…:session`` principal id, or a role name from GuardDuty)
  -> role ARN, session name, source identity; IAM Identity Center sessions -> the Identity Center
  user (``onBehalfOf.userId``, session name);
- temporary keys (``ASIA…``) are followed back through the STS calls that issued them
  (``AssumeRole*``, ``GetSessionToken``, ``GetFederationToken``) to the original principal;
- root, IAM users and AWS service principals (``*.amazonaws.com``) are recognised.

The lookups read the activity relation (the triage index or the lake) with bound parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.triage.inputs import Subject

#: How far back the STS call that issued a temporary key may be (12 h sessions, with margin).
ISSUE_LOOKBACK = timedelta(hours=36)
_ISSUERS = ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetSessionToken",
            "GetFederationToken", "AssumeRoot")


@dataclass
class ChainLink:
    """One STS call that issued credentials on the way to the alert's identity."""

    issued_key: str
    issued_at: str
    event_name: str
    role_arn: str | None
    session_name: str | None
    source_identity: str | None
    caller_type: str | None
    caller_arn: str | None
    caller_key: str | None
    caller_ip: str | None


@dataclass
class Identity:
    """The resolved identity and how to find its activity."""

    kind: str = "unknown"
    """iam_user | assumed_role | identity_center | federated_user | root | service | unknown"""
    principal_arn: str | None = None
    identity_arn: str | None = None
    account_id: str | None = None
    user_name: str | None = None
    role_arn: str | None = None
    session_name: str | None = None
    source_identity: str | None = None
    identity_store_user_id: str | None = None
    service: str | None = None
    access_keys: list[str] = field(default_factory=list)
    chain: list[ChainLink] = field(default_factory=list)
    original_principal: str | None = None
    resolved_from: str | None = None
    # How activity is matched (lists of values; a row matching any counts).
    match_keys: list[str] = field(default_factory=list)
    match_identity_arns: list[str] = field(default_factory=list)
    match_principal_arns: list[str] = field(default_factory=list)
    match_principal_ids: list[str] = field(default_factory=list)
    match_users: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing identifies activity."""
        return not (self.match_keys or self.match_identity_arns or self.match_principal_arns
                    or self.match_principal_ids or self.match_users)

    @property
    def baseline_principals(self) -> list[str]:
        """Principals whose history is the baseline."""
        return [p for p in dict.fromkeys([self.principal_arn, *self.match_principal_arns]) if p]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        d = asdict(self)
        d["chain"] = [asdict(c) for c in self.chain]
        return d


MATCH_SQL = """(
    list_contains($keys, access_key_id) OR list_contains($identity_arns, identity_arn)
    OR list_contains($principal_arns, principal_arn) OR list_contains($principal_ids, principal_id)
    OR list_contains($users, user_name) OR list_contains($users, identity_store_user_id)
)"""


def match_params(ident: Identity) -> dict[str, list[str]]:
    """Bound parameters of :data:`MATCH_SQL`."""
    return {"keys": ident.match_keys, "identity_arns": ident.match_identity_arns,
            "principal_arns": ident.match_principal_arns, "principal_ids": ident.match_principal_ids,
            "users": ident.match_users}


def _kind(identity_type: str | None, arn: str | None) -> str:
    if identity_type == "Root" or (arn or "").endswith(":root"):
        return "root"
    if identity_type == "IAMUser":
        return "iam_user"
    if identity_type == "AssumedRole":
        return "assumed_role"
    if identity_type == "FederatedUser":
        return "federated_user"
    if identity_type == "AWSService":
        return "service"
    if identity_type in ("IdentityCenterUser", "AWSAccount"):
        return "identity_center" if identity_type == "IdentityCenterUser" else "account"
    return "unknown"


def _fill_from_row(ident: Identity, row: dict[str, Any]) -> None:
    ident.kind = _kind(row.get("identity_type"), row.get("identity_arn"))
    ident.principal_arn = row.get("principal_arn")
    ident.identity_arn = row.get("identity_arn")
    ident.account_id = row.get("account_id") or ident.account_id
    ident.user_name = row.get("user_name")
    ident.session_name = row.get("session_name")
    ident.source_identity = row.get("source_identity")
    ident.identity_store_user_id = row.get("identity_store_user_id")
    if ident.kind == "assumed_role":
        ident.role_arn = row.get("session_issuer_arn") or row.get("principal_arn")
        if ident.identity_store_user_id or "AWSReservedSSO" in (ident.role_arn or ident.identity_arn or ""):
            ident.kind = "identity_center"
    if ident.kind == "service":
        ident.service = row.get("invoked_by") or row.get("principal_arn")


_SELECT = ("SELECT identity_type, principal_arn, identity_arn, account_id, user_name, session_name, "
           "source_identity, identity_store_user_id, session_issuer_arn, invoked_by, access_key_id, "
           "count(*) AS n FROM {src} WHERE {where} GROUP BY ALL ORDER BY n DESC LIMIT 1")


def _first(engine: DuckDBEngine, src: str, where: str, params: dict[str, Any]) -> dict[str, Any] | None:
    rows = engine.arrow(_SELECT.format(src=src, where=where), params).to_pylist()
    return rows[0] if rows else None


def resolve(engine: DuckDBEngine, subject: Subject, window_src: str, start: datetime, end: datetime,
            lookback_src: str | None = None, lookback_start: datetime | None = None) -> Identity:
    """Resolve the subject's identity using the activity in [start, end] (and a lookback relation)."""
    ident = Identity(account_id=subject.account_id)
    tw = "event_time BETWEEN $start AND $end"
    p: dict[str, Any] = {"start": start, "end": end}
    row = None
    if subject.access_key_id:
        ident.resolved_from = "access_key"
        ident.access_keys = [subject.access_key_id]
        row = _first(engine, window_src, f"{tw} AND access_key_id = $v", {**p, "v": subject.access_key_id})
        if row is None and lookback_src:
            row = _first(engine, lookback_src, "event_time BETWEEN $start AND $end AND access_key_id = $v",
                         {"start": lookback_start, "end": end, "v": subject.access_key_id})
        ident.match_keys = [subject.access_key_id]
    arn = subject.principal_arn if not row else None
    if arn:
        ident.resolved_from = ident.resolved_from or "arn"
        if arn.endswith(".amazonaws.com"):
            ident.kind, ident.service, ident.principal_arn = "service", arn, arn
            ident.match_principal_arns = [arn]
            return ident
        parts = arn.split(":", 5)
        res = parts[5] if len(parts) == 6 else ""
        if parts[2:3] == ["sts"] and res.startswith("assumed-role/"):
            row = _first(engine, window_src, f"{tw} AND identity_arn = $v", {**p, "v": arn})
            ident.match_identity_arns = [arn]
            _, role, *session = res.split("/")
            ident.kind, ident.identity_arn = "assumed_role", arn
            ident.session_name = "/".join(session) or None
            if row is None:
                ident.role_arn = f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
        elif res == "root":
            ident.kind, ident.principal_arn = "root", arn
            ident.match_principal_arns = [arn]
            row = _first(engine, window_src, f"{tw} AND principal_arn = $v", {**p, "v": arn})
        else:
            ident.match_principal_arns = [arn]
            ident.principal_arn = arn
            ident.kind = "iam_user" if res.startswith("user/") else ("assumed_role" if res.startswith("role/")
                                                                       else "unknown")
            if res.startswith("federated-user/"):
                ident.kind, ident.match_identity_arns = "federated_user", [arn]
                row = _first(engine, window_src, f"{tw} AND identity_arn = $v", {**p, "v": arn})
            else:
                row = _first(engine, window_src, f"{tw} AND principal_arn = $v", {**p, "v": arn})
            if ident.kind == "assumed_role" and row is not None:
                # A role ARN names the role: every session of it in the window counts.
                _fill_from_row(ident, row)
                ident.identity_arn = ident.session_name = ident.source_identity = None
                ident.kind = "assumed_role"
                ident.role_arn = ident.principal_arn = arn
                return _finish(engine, ident, window_src, start, end, lookback_src, lookback_start)
    if not row and not ident.match_keys and not ident.match_identity_arns and not ident.match_principal_arns:
        if subject.principal_id:
            ident.resolved_from = "principal_id"
            ident.match_principal_ids = [subject.principal_id]
            row = _first(engine, window_src, f"{tw} AND principal_id = $v", {**p, "v": subject.principal_id})
        elif subject.user_name:
            ident.resolved_from = "user_name"
            name = subject.user_name
            if subject.user_type in ("AssumedRole", "Role"):
                row = _first(engine, window_src,
                             f"{tw} AND identity_type = 'AssumedRole' AND suffix(principal_arn, '/' || $v)",
                             {**p, "v": name})
                if row:
                    ident.match_principal_arns = [row["principal_arn"]]
            else:
                ident.match_users = [name]
                row = _first(engine, window_src,
                             f"{tw} AND (user_name = $v OR identity_store_user_id = $v OR session_name = $v)",
                             {**p, "v": name})
                if row and row.get("session_name") == name and row.get("identity_arn"):
                    ident.match_identity_arns = [row["identity_arn"]]
    if row:
        _fill_from_row(ident, row)
        if ident.kind == "iam_user" and not ident.match_keys and ident.principal_arn:
            ident.match_principal_arns = list(dict.fromkeys([*ident.match_principal_arns, ident.principal_arn]))
        if ident.kind in ("root", "service") and ident.principal_arn:
            ident.match_principal_arns = list(dict.fromkeys([*ident.match_principal_arns, ident.principal_arn]))
    elif ident.kind == "unknown" and subject.user_type:
        # not in the activity: what the alert itself says (GuardDuty names the type with the user)
        ident.kind = _kind(subject.user_type, ident.principal_arn)
        ident.user_name = ident.user_name or subject.user_name
    return _finish(engine, ident, window_src, start, end, lookback_src, lookback_start)


def _finish(engine: DuckDBEngine, ident: Identity, window_src: str, start: datetime, end: datetime,
            lookback_src: str | None, lookback_start: datetime | None) -> Identity:
    if ident.empty:
        return ident
    where = f"event_time BETWEEN $start AND $end AND {MATCH_SQL}"
    params = {"start": start, "end": end, **match_params(ident)}
    keys = [r[0] for r in engine.rows(
        f"SELECT DISTINCT access_key_id FROM {window_src} WHERE {where} AND access_key_id IS NOT NULL "
        "ORDER BY 1 LIMIT 50", params)]
    ident.access_keys = list(dict.fromkeys([*ident.access_keys, *keys]))
    temp = [k for k in ident.access_keys if k.startswith("ASIA")][:5]
    ident.chain = follow_chain(engine, temp[0], end, lookback_src or window_src) if temp else []
    if ident.chain:
        last = ident.chain[-1]
        ident.original_principal = last.caller_arn
    elif ident.kind in ("iam_user", "root", "service"):
        ident.original_principal = ident.principal_arn
    return ident


def follow_chain(engine: DuckDBEngine, key: str, before: datetime, src: str, *, depth: int = 10) -> list[ChainLink]:
    """The STS calls that issued ``key``, then its caller's key, and so on back to a long-term principal."""
    chain: list[ChainLink] = []
    seen: set[str] = set()
    while key and key not in seen and len(chain) < depth:
        seen.add(key)
        rows = engine.arrow(
            f"SELECT event_time, event_name, issued_role_arn, issued_session_name, issued_source_identity, "
            f"identity_type, identity_arn, principal_arn, access_key_id, coalesce(src_ip, source_ip_address) AS ip "
            f"FROM {src} WHERE event_time BETWEEN $lo AND $hi AND issued_key = $k "
            f"AND list_contains($names, event_name) ORDER BY event_time DESC LIMIT 1",
            {"lo": before - ISSUE_LOOKBACK, "hi": before, "k": key, "names": list(_ISSUERS)},
        ).to_pylist()
        if not rows:
            break
        r = rows[0]
        caller_arn = r["identity_arn"] or r["principal_arn"]
        chain.append(ChainLink(
            issued_key=key, issued_at=r["event_time"].isoformat(), event_name=r["event_name"],
            role_arn=r["issued_role_arn"], session_name=r["issued_session_name"],
            source_identity=r["issued_source_identity"], caller_type=r["identity_type"], caller_arn=caller_arn,
            caller_key=r["access_key_id"], caller_ip=r["ip"],
        ))
        before = r["event_time"]
        key = r["access_key_id"] if (r["access_key_id"] or "").startswith("ASIA") else None
    return chain


def children_keys(engine: DuckDBEngine, src: str, where: str, params: dict[str, Any]) -> list[str]:
    """Temporary keys the matched activity obtained from STS (forward role chaining)."""
    return [r[0] for r in engine.rows(
        f"SELECT DISTINCT issued_key FROM {src} WHERE {where} AND issued_key IS NOT NULL "
        "AND list_contains($issuers, event_name) ORDER BY 1 LIMIT 100",
        {**params, "issuers": list(_ISSUERS)})]
