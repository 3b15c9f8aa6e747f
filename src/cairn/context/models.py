"""Typed, immutable models of the four inventory kinds, and how each is built from checked fields.

A builder receives the fields of one record already checked one by one
(:mod:`cairn.context.values`) and does what needs several fields at once:
exactly one identity key, the account of an ARN, the range of a CIDR, the
resource type. It raises :class:`RecordError` naming the field at fault and
returns notes (``host bits set``) that are reported without failing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.context import values as v
from cairn.lake.addresses import ip_to_bin

IDENTITY_KINDS = ("principal_arn", "role_arn", "user", "access_key", "identity_store_user")
"""What an identity record maps to a person: an exact principal ARN, a role (all its sessions), a user
name, an access key id, or an IAM Identity Center (identity store) user id or name."""

_IDENTITY_CHECK = {
    "principal_arn": v.principal_arn,
    "role_arn": v.role_arn,
    "user": v.text,
    "access_key": v.access_key,
    "identity_store_user": v.text,
}

# Resource types of bare ids, by prefix (the ARN's service:type otherwise).
_ID_TYPES = (
    ("i-", "ec2:instance"), ("vpc-", "ec2:vpc"), ("subnet-", "ec2:subnet"), ("eni-", "ec2:network-interface"),
    ("sg-", "ec2:security-group"), ("vol-", "ec2:volume"), ("snap-", "ec2:snapshot"), ("ami-", "ec2:image"),
    ("igw-", "ec2:internet-gateway"), ("nat-", "ec2:natgateway"), ("tgw-", "ec2:transit-gateway"),
)
_ID_SHAPE = re.compile(r"^[a-z]+-[0-9a-f]{8,17}$")


class RecordError(Exception):
    """Problems of one record: ``(field, message)`` pairs (field None: the whole record)."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(m for _, m in problems))
        self.problems = problems


@dataclass(frozen=True)
class Account:
    """An AWS account: name, place in the organisation, environment, owner."""

    account_id: str
    name: str | None = None
    ou_path: str | None = None
    environment: str | None = None
    owner: str | None = None
    contacts: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def ou_path_list(self) -> list[str]:
        return self.ou_path.split("/") if self.ou_path else []


@dataclass(frozen=True)
class Network:
    """An IPv4 or IPv6 network (canonical CIDR) with its zone, VPC, site and owner."""

    cidr: str
    ip_version: int
    prefix_len: int
    range_start: bytes
    range_end: bytes
    name: str | None = None
    zone: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    site: str | None = None
    region: str | None = None
    owner: str | None = None
    account_id: str | None = None
    environment: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Identity:
    """Who is behind a principal ARN, a role, a user name, an access key or an Identity Center user."""

    kind: str
    value: str
    person: str | None = None
    email: str | None = None
    team: str | None = None
    account_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Asset:
    """A resource (ARN or id) with its owner, team and criticality."""

    resource_id: str
    resource_type: str | None = None
    name: str | None = None
    account_id: str | None = None
    region: str | None = None
    owner: str | None = None
    team: str | None = None
    criticality: str | None = None
    criticality_rank: int | None = None
    environment: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


Model = Account | Network | Identity | Asset
Notes = list[tuple[str, str]]
"""``(field, message)`` remarks on a valid record (reported, never fatal)."""


def build_account(f: dict[str, Any], raw: dict[str, Any]) -> tuple[Account, Notes]:
    return Account(**f), []


def build_network(f: dict[str, Any], raw: dict[str, Any]) -> tuple[Network, Notes]:
    net = f.pop("cidr")
    notes: Notes = []
    text = str(raw.get("cidr", "")).strip()
    if "/" in text and _has_host_bits(text):
        notes.append(("cidr", f"{text!r} has host bits set; stored as {net}"))
    return Network(cidr=str(net), ip_version=net.version, prefix_len=net.prefixlen,
                   range_start=ip_to_bin(net.network_address), range_end=ip_to_bin(net.broadcast_address),
                   **f), notes


def _has_host_bits(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return True
    return False


def build_identity(f: dict[str, Any], raw: dict[str, Any]) -> tuple[Identity, Notes]:
    given = [k for k in IDENTITY_KINDS if f.get(k) is not None]
    kind, value = f.pop("kind", None), f.pop("value", None)
    choices = ", ".join(IDENTITY_KINDS)
    if kind is not None or value is not None:
        if given:
            raise RecordError([(None, f"give kind and value, or one of {choices}; not both")])
        if kind is None or value is None:
            raise RecordError([("kind" if kind is None else "value", "missing (kind and value go together)")])
        if kind not in IDENTITY_KINDS:
            raise RecordError([("kind", f"{kind!r} is not an identity kind; use {choices}")])
        try:
            value = _IDENTITY_CHECK[kind](value)
        except ValueError as exc:
            raise RecordError([("value", str(exc))]) from None
    elif len(given) != 1:
        got = f"; got {', '.join(given)}" if given else ""
        raise RecordError([(None, f"needs exactly one of {choices} (or kind and value){got}")])
    else:
        kind = given[0]
        value = f[kind]
    for k in IDENTITY_KINDS:
        f.pop(k, None)
    f["account_id"] = _account_of(value if kind in ("principal_arn", "role_arn") else None, f.get("account_id"))
    return Identity(kind=kind, value=value, **f), []


def build_asset(f: dict[str, Any], raw: dict[str, Any]) -> tuple[Asset, Notes]:
    rid = f["resource_id"]
    m = v.ARN_RE.match(rid)
    if m:
        service, region, resource = m.group(2), m.group(3), m.group(5)
        f["account_id"] = _account_of(rid, f.get("account_id"))
        f["region"] = f.get("region") or region or None
        if f.get("resource_type") is None:
            head = re.split(r"[/:]", resource, maxsplit=1)
            if service == "s3":
                kind = "object" if "/" in resource else "bucket"
            else:
                kind = head[0] if len(head) > 1 else resource
            f["resource_type"] = f"{service}:{kind}"
    elif f.get("resource_type") is None and _ID_SHAPE.match(rid):
        f["resource_type"] = next((t for p, t in _ID_TYPES if rid.startswith(p)), None)
    f["criticality_rank"] = v.criticality_rank(f.get("criticality"))
    return Asset(**f), []


def _account_of(arn: str | None, given: str | None) -> str | None:
    """The account of an ARN, checked against an account_id given next to it."""
    m = v.ARN_RE.match(arn) if arn else None
    in_arn = m.group(4) if m and m.group(4) and m.group(4) != "aws" else None
    if given and in_arn and given != in_arn:
        raise RecordError([("account_id", f"{given} does not match the account in the ARN ({in_arn})")])
    return given or in_arn
