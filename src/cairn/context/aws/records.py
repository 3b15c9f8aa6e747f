"""What the collectors read, as context records: ``accounts``, ``assets`` and ``identities``.

Records go through the same checks as inventory files (:func:`cairn.context.kinds.check_records`), so
``ctx_*`` rows from AWS and from files look alike. Mapping (tag keys from ``[context.aws]``, any case):

- an account: name, OU path, ``owner`` / ``environment`` from tags (the environment, when no tag gives
  it, from an OU named like one: ``Prod``, ``Staging``, ``Dev``, ``Sandbox``...), contacts (the
  account e-mail, then ``TYPE: Name <email>`` per alternate contact), tags (the account's, plus
  ``aws:organizations:status``, ``:email``, ``:joined``, ``:ou_ids`` and ``aws:account:<type>`` for each
  contact; the ``aws:`` prefix is reserved by AWS, so they never clash with real tags);
- a resource: an asset (ARN, type, name, account, region, owner / team / criticality / environment
  from tags); IAM users and roles with an owner or team tag are also identities (a role matches all
  of its sessions).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cairn.context import values as v
from cairn.context.aws.organizations import OrgAccount
from cairn.context.aws.resources import Resource
from cairn.context.aws.settings import AwsContextSettings
from cairn.context.kinds import KINDS, Checked, RawRecord, check_records

_ENV_NAMES = {"prod": "prod", "production": "prod", "prd": "prod", "staging": "staging", "stage": "staging",
              "stg": "staging", "dev": "dev", "development": "dev", "test": "test", "testing": "test", "qa": "qa",
              "uat": "uat", "sandbox": "sandbox", "sandboxes": "sandbox"}


def tag_value(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    """The first non-empty value among ``keys`` (compared without case)."""
    lowered = {k.lower(): val for k, val in tags.items()}
    for k in keys:
        val = lowered.get(k.lower())
        if val and val.strip():
            return val.strip()
    return None


def _criticality(tags: dict[str, str], keys: tuple[str, ...], notes: list[str], where: str) -> str | None:
    raw = tag_value(tags, keys)
    if raw is None:
        return None
    try:
        return v.criticality(raw)
    except ValueError as exc:
        notes.append(f"{where}: criticality tag ignored: {exc}")
        return None


def _contact_text(kind: str, c: dict[str, str]) -> str:
    name, email = c.get("Name"), c.get("EmailAddress")
    who = f"{name} <{email}>" if name and email else (email or name or "")
    return f"{kind}: {who}".strip()


def account_record(a: OrgAccount, s: AwsContextSettings) -> dict[str, Any]:
    """The ``accounts`` record of an organisation account."""
    tags = dict(a.tags)
    extra = {"aws:organizations:status": a.status, "aws:organizations:email": a.email,
             "aws:organizations:joined": a.joined_at, "aws:organizations:ou_ids": "/".join(a.ou_ids)}
    for kind, c in sorted(a.contacts.items()):
        extra[f"aws:account:{kind.lower()}_contact"] = _contact_text(kind, c).split(": ", 1)[-1]
    tags.update({k: x for k, x in extra.items() if x})
    env = tag_value(a.tags, s.environment_tags)
    if env is None:
        env = next((_ENV_NAMES[p.lower()] for p in reversed(a.ou_path.split("/")) if p.lower() in _ENV_NAMES), None)
    contacts = [a.email] if a.email else []
    contacts += [_contact_text(k, c) for k, c in sorted(a.contacts.items())]
    return {"account_id": a.account_id, "name": a.name, "ou_path": a.ou_path, "environment": env,
            "owner": tag_value(a.tags, s.owner_tags), "contacts": contacts, "tags": tags}


def resource_records(r: Resource, s: AwsContextSettings, notes: list[str]) -> dict[str, dict[str, Any]]:
    """The ``assets`` record of a resource and, for tagged IAM users and roles, its ``identities`` record."""
    where = f"{r.resource_type} {r.arn}"
    owner, team = tag_value(r.tags, s.owner_tags), tag_value(r.tags, s.team_tags)
    out: dict[str, dict[str, Any]] = {"assets": {
        "resource_id": r.arn, "resource_type": r.resource_type, "name": r.name, "account_id": r.account_id,
        "region": r.region, "owner": owner, "team": team,
        "criticality": _criticality(r.tags, s.criticality_tags, notes, where),
        "environment": tag_value(r.tags, s.environment_tags), "tags": dict(r.tags)}}
    if r.resource_type in ("iam:user", "iam:role") and (owner or team):
        email = owner if owner and "@" in owner else None
        out["identities"] = {"kind": "role_arn" if r.resource_type == "iam:role" else "principal_arn",
                             "value": r.arn, "person": None if email else owner, "email": email, "team": team,
                             "account_id": r.account_id, "tags": dict(r.tags)}
    return out


def check(kind: str, records: list[tuple[str, dict[str, Any]]]) -> tuple[list[Checked], list[str], str]:
    """Check ``(locator, record)`` pairs of one kind: ``(rows, problems, content hash)``.

    A record with a bad value is left out and reported (one odd tag never loses a whole account)."""
    raws = []
    for i, (where, rec) in enumerate(records, 1):
        values = {k: x for k, x in rec.items() if x not in (None, "", [], {})}
        raws.append(RawRecord(kind=kind, origin=where, index=i, line=0, values=values))
    good, bad, _ = check_records(KINDS[kind], raws)
    digest = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()
    return good, [str(p) for p in bad], digest
