"""The registry of inventory kinds and the checking of records against it.

:data:`KINDS` maps each kind (``accounts``, ``networks``, ``identities``,
``assets``) to its fields (name -> checker), required fields, accepted
aliases, model builder and the table it loads into. Readers turn a file into
:class:`RawRecord` objects; :func:`check_records` turns those into models and
:class:`~cairn.context.problems.Problem` objects, collecting every problem
(unknown fields, bad values, missing fields, duplicates within the file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.context import models as m
from cairn.context import values as v
from cairn.context.problems import Problem


@dataclass
class RawRecord:
    """One record as read from a file: field names as written, raw values, lines."""

    kind: str
    origin: str
    index: int
    """1-based among the file's records of this kind."""
    line: int
    values: dict[str, v.Raw] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    """Line of each field (YAML); CSV fields share the record's line."""


@dataclass(frozen=True)
class Checked:
    """A valid record: its model and where it came from."""

    model: m.Model
    origin: str
    line: int


@dataclass(frozen=True)
class Kind:
    """One inventory kind."""

    name: str
    table: str
    fields: dict[str, Callable[[v.Raw], Any]]
    required: tuple[str, ...]
    aliases: dict[str, str]
    build: Callable[[dict[str, Any], dict[str, Any]], tuple[m.Model, m.Notes]]
    key: Callable[[Any], tuple[str, ...]]
    """Identity of a record within one file (duplicates are problems)."""
    key_label: str
    primary: str
    """Field that takes the key of a YAML mapping of records (``accounts: {"1111...": {...}}``)."""
    signature: tuple[str, ...]
    """Fields whose presence in a CSV header says the file is of this kind."""

    def canonical(self, name: str) -> str:
        """The field a column or key name refers to (case, spaces and dashes ignored; aliases)."""
        n = name.strip()
        if n[:4].lower() in ("tag:", "tag."):
            return "tag:" + n[4:].strip()
        n = n.lower().replace(" ", "_").replace("-", "_")
        return self.aliases.get(n, n)


_TAGS = {"tags": v.tags}
_TAG_ALIASES = {"tag": "tags"}

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            name="accounts", table="ctx_accounts",
            fields={"account_id": v.account_id, "name": v.text, "ou_path": v.ou_path, "environment": v.lower_text,
                    "owner": v.text, "contacts": v.text_list, **_TAGS},
            required=("account_id",),
            aliases={"id": "account_id", "account": "account_id", "account_name": "name", "ou": "ou_path",
                     "env": "environment", "contact": "contacts", **_TAG_ALIASES},
            build=m.build_account, key=lambda a: (a.account_id,), key_label="account_id", primary="account_id",
            signature=("account_id",),
        ),
        Kind(
            name="networks", table="ctx_networks",
            fields={"cidr": v.network, "name": v.text, "zone": v.lower_text, "vpc_id": v.vpc_id,
                    "subnet_id": v.subnet_id, "site": v.text, "region": v.lower_text, "owner": v.text,
                    "account_id": v.account_id, "environment": v.lower_text, **_TAGS},
            required=("cidr",),
            aliases={"network": "cidr", "prefix": "cidr", "range": "cidr", "vpc": "vpc_id", "subnet": "subnet_id",
                     "account": "account_id", "env": "environment", **_TAG_ALIASES},
            build=m.build_network, key=lambda n: (n.cidr,), key_label="cidr", primary="cidr",
            signature=("cidr",),
        ),
        Kind(
            name="identities", table="ctx_identities",
            fields={"kind": v.lower_text, "value": v.text, "principal_arn": v.principal_arn, "role_arn": v.role_arn,
                    "user": v.text, "access_key": v.access_key, "identity_store_user": v.text,
                    "person": v.text, "email": v.email, "team": v.text, "account_id": v.account_id, **_TAGS},
            required=(),
            aliases={"principal": "principal_arn", "role": "role_arn", "username": "user", "user_name": "user",
                     "access_key_id": "access_key", "identity_store_user_id": "identity_store_user",
                     "account": "account_id", **_TAG_ALIASES},
            build=m.build_identity,
            key=lambda i: (i.kind, i.value.lower() if i.kind in ("user", "identity_store_user") else i.value),
            key_label="identity", primary="value",
            signature=("kind", "value", *m.IDENTITY_KINDS),
        ),
        Kind(
            name="assets", table="ctx_assets",
            fields={"resource_id": v.resource_id, "resource_type": v.text, "name": v.text,
                    "account_id": v.account_id, "region": v.lower_text, "owner": v.text, "team": v.text,
                    "criticality": v.criticality, "environment": v.lower_text, **_TAGS},
            required=("resource_id",),
            aliases={"resource": "resource_id", "arn": "resource_id", "resource_arn": "resource_id",
                     "type": "resource_type", "account": "account_id", "env": "environment", **_TAG_ALIASES},
            build=m.build_asset, key=lambda a: (a.resource_id,), key_label="resource_id", primary="resource_id",
            signature=("resource_id",),
        ),
    )
}

DETECT_ORDER = ("networks", "assets", "identities", "accounts")
"""CSV headers are matched in this order: a networks or assets file may have an account_id column too."""


def detect_csv_kind(header: list[str]) -> str | None:
    """The kind a CSV header belongs to, or None."""
    for name in DETECT_ORDER:
        kind = KINDS[name]
        if {kind.canonical(h) for h in header} & set(kind.signature):
            return name
    return None


def check_record(kind: Kind, rec: RawRecord) -> tuple[m.Model | None, list[Problem], list[Problem]]:
    """``(model or None, problems, notes)`` of one record."""
    problems: list[Problem] = []
    checked: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    extra_tags: dict[str, str] = {}

    def problem(fld: str | None, msg: str, line: int | None = None) -> None:
        problems.append(Problem(rec.origin, line or rec.lines.get(fld or "", rec.line), msg, kind.name,
                                rec.index, fld))

    for name, value in rec.values.items():
        canon = kind.canonical(name)
        line = rec.lines.get(name, rec.line)
        if canon.startswith("tag:"):
            if isinstance(value, dict | list):
                problem(name, "tag values must be text", line)
            elif value is not None and str(value).strip():
                extra_tags[canon[4:]] = str(value).strip()
            continue
        if canon not in kind.fields:
            problem(name, f"unknown field; valid fields are {', '.join(kind.fields)}", line)
            continue
        if canon in raw:
            problem(name, f"given twice (as {canon} and an alias of it)", line)
            continue
        raw[canon] = value
        rec.lines.setdefault(canon, line)
        try:
            checked[canon] = kind.fields[canon](value)
        except ValueError as exc:
            problem(canon, str(exc))
    for req in kind.required:
        if checked.get(req) is None and not any(p.field == req for p in problems):
            problem(req, "missing (required)")
    if problems:
        return None, problems, []
    if extra_tags:
        checked["tags"] = {**(checked.get("tags") or {}), **extra_tags}
    checked = {k: (tuple(x) if isinstance(x, list) else x) for k, x in checked.items()}
    try:
        model, notes = kind.build(checked, raw)
    except m.RecordError as exc:
        for fld, msg in exc.problems:
            problem(fld, msg)
        return None, problems, []
    note_problems = [Problem(rec.origin, rec.lines.get(fld, rec.line), msg, kind.name, rec.index, fld)
                     for fld, msg in notes]
    return model, [], note_problems


def check_records(kind: Kind, records: list[RawRecord]) -> tuple[list[Checked], list[Problem], list[Problem]]:
    """Check every record; a record repeating an earlier one's key (within the file) is a problem."""
    good: list[Checked] = []
    problems: list[Problem] = []
    notes: list[Problem] = []
    seen: dict[tuple[str, ...], int] = {}
    for rec in records:
        model, bad, note = check_record(kind, rec)
        problems += bad
        notes += note
        if model is None:
            continue
        key = kind.key(model)
        if key in seen:
            problems.append(Problem(rec.origin, rec.line, f"duplicate {kind.key_label} {' '.join(key)} "
                                    f"(first at line {seen[key]})", kind.name, rec.index))
            continue
        seen[key] = rec.line
        good.append(Checked(model, rec.origin, rec.line))
    return good, problems, notes
