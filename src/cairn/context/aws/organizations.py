"""AWS Organizations: every account with its name, email, status, full OU path and tags, and the
alternate contacts of the Account Management API.

The OU tree is walked from the root (``ListRoots``, then ``ListOrganizationalUnitsForParent`` and
``ListAccountsForParent`` per parent), so the number of calls grows with OUs and accounts, never
with findings: one ``ListTagsForResource`` per account (paginated) and one ``GetAlternateContact``
per account and contact type. Must run in the management account or a delegated administrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.context.aws.clients import Clients, error_code
from cairn.errors import RemoteError


@dataclass
class OrgAccount:
    """One account of the organisation."""

    account_id: str
    name: str | None
    email: str | None
    status: str | None
    arn: str | None
    joined_method: str | None
    joined_at: str | None
    ou_path: str
    """Names from the root, e.g. ``Root/Workloads/Prod``."""
    ou_ids: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    """Alternate contact type (SECURITY, OPERATIONS, BILLING) -> Name, Title, EmailAddress, PhoneNumber."""
    notes: list[str] = field(default_factory=list)
    """What could not be read (contacts access denied, ...)."""


@dataclass
class Organization:
    """The organisation as read."""

    org_id: str | None
    management_account: str | None
    accounts: list[OrgAccount]


def _ts(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def read_organization(clients: Clients, *, contact_types: tuple[str, ...] = (),
                      progress: Callable[[str, int], None] | None = None) -> Organization:
    """Walk the OU tree, read account tags and alternate contacts."""
    from botocore.exceptions import ClientError

    org = clients.client("organizations")
    try:
        desc = clients.call(org, "describe_organization")["Organization"]
    except ClientError as exc:
        raise RemoteError(f"organizations DescribeOrganization: {error_code(exc) or exc} (run in the management "
                          "account or a delegated administrator account)") from exc
    accounts: list[OrgAccount] = []
    try:
        roots = [r for page in clients.pages(org, "list_roots") for r in page["Roots"]]
        queue: list[tuple[str, list[str], list[str]]] = [(r["Id"], [r.get("Name") or "Root"], [r["Id"]]) for r in roots]
        while queue:
            parent, path, ids = queue.pop(0)
            for page in clients.pages(org, "list_organizational_units_for_parent", ParentId=parent):
                for ou in page["OrganizationalUnits"]:
                    queue.append((ou["Id"], [*path, ou.get("Name") or ou["Id"]], [*ids, ou["Id"]]))
            for page in clients.pages(org, "list_accounts_for_parent", ParentId=parent):
                for a in page["Accounts"]:
                    accounts.append(OrgAccount(
                        account_id=a["Id"], name=a.get("Name"), email=a.get("Email"),
                        status=a.get("State") or a.get("Status"), arn=a.get("Arn"),
                        joined_method=a.get("JoinedMethod"), joined_at=_ts(a.get("JoinedTimestamp")),
                        ou_path="/".join(path), ou_ids=list(ids)))
                    if progress:
                        progress("accounts", 1)
        for acc in accounts:
            tags: dict[str, str] = {}
            for page in clients.pages(org, "list_tags_for_resource", ResourceId=acc.account_id):
                tags.update({t["Key"]: t.get("Value", "") for t in page.get("Tags", [])})
            acc.tags = tags
    except ClientError as exc:
        raise RemoteError(f"organizations: {error_code(exc) or exc}: {exc}") from exc
    if contact_types:
        _read_contacts(clients, accounts, contact_types, desc.get("MasterAccountId"), progress)
    accounts.sort(key=lambda a: a.account_id)
    return Organization(desc.get("Id"), desc.get("MasterAccountId"), accounts)


def _read_contacts(clients: Clients, accounts: list[OrgAccount], types: tuple[str, ...], management: str | None,
                   progress: Callable[[str, int], None] | None) -> None:
    from botocore.exceptions import ClientError

    acct = clients.client("account")
    caller = clients.caller()["Account"]
    for a in accounts:
        if (a.status or "ACTIVE") not in ("ACTIVE",):
            continue
        for t in types:
            kwargs: dict[str, Any] = {"AlternateContactType": t}
            if a.account_id != caller:  # the caller's own account is addressed without AccountId
                kwargs["AccountId"] = a.account_id
            try:
                c = clients.call(acct, "get_alternate_contact", **kwargs)["AlternateContact"]
            except ClientError as exc:
                code = error_code(exc)
                if code == "ResourceNotFoundException":
                    continue
                if code == "AccessDeniedException":
                    a.notes.append(f"alternate contact {t}: access denied")
                    break
                raise RemoteError(f"account GetAlternateContact {a.account_id} {t}: {code or exc}") from exc
            a.contacts[t] = {k: c[k] for k in ("Name", "Title", "EmailAddress", "PhoneNumber") if c.get(k)}
        if progress:
            progress("contacts", 1)
