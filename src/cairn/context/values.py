"""Checking and normalising the values of inventory fields.

Every function takes a raw value as read from YAML or CSV (text, a list, a
mapping, or None) and returns the normalised value, or raises
:class:`ValueError` whose message is shown to the user after the file, line,
record and field. YAML scalars arrive as their source text, so ``no`` stays
``"no"`` and ``012345678901`` keeps its leading zero.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

Raw = str | list[Any] | dict[str, Any] | None
"""A value as read from a file."""

CRITICALITY = ("low", "medium", "high", "critical")
"""The criticality scale, rank 1 to 4 (numbers 1-4 are accepted for the words)."""

ARN_RE = re.compile(r"^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):([0-9]{12}|aws)?:(.+)$")
"""``arn:partition:service:region:account:resource``."""
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/(?:[^/]+/)*[^/]+$")
ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
_DASHED_ACCOUNT = re.compile(r"^[0-9]{4}-[0-9]{4}-[0-9]{4}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_VPC_RE = re.compile(r"^vpc-[0-9a-f]+$")
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]+$")


def text(raw: Raw) -> str | None:
    """Free text, stripped; empty is None."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got a {_what(raw)}")
    return raw.strip() or None


def lower_text(raw: Raw) -> str | None:
    """Free text normalised to lower case (environments)."""
    t = text(raw)
    return t.lower() if t else None


def account_id(raw: Raw) -> str | None:
    """A 12-digit AWS account id (``1234-5678-9012`` is accepted and written without dashes)."""
    t = text(raw)
    if t is None:
        return None
    if _DASHED_ACCOUNT.match(t):
        t = t.replace("-", "")
    if not ACCOUNT_RE.match(t):
        raise ValueError(f"{t!r} is not an AWS account id (12 digits)")
    return t


def arn(raw: Raw) -> str | None:
    """An ARN shaped ``arn:partition:service:region:account:resource``."""
    t = text(raw)
    if t is None:
        return None
    if not ARN_RE.match(t):
        raise ValueError(f"{t!r} is not an ARN (arn:partition:service:region:account:resource)")
    return t


def principal_arn(raw: Raw) -> str | None:
    """An IAM or STS principal ARN (user, role, root, assumed-role session, federated user)."""
    t = arn(raw)
    if t is not None and ARN_RE.match(t).group(2) not in ("iam", "sts"):  # type: ignore[union-attr]
        raise ValueError(f"{t!r} is not an IAM or STS principal ARN")
    return t


def role_arn(raw: Raw) -> str | None:
    """An IAM role ARN, with or without a path: ``arn:aws:iam::123456789012:role/[path/]Name``."""
    t = text(raw)
    if t is not None and not ROLE_ARN_RE.match(t):
        raise ValueError(f"{t!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
    return t


def access_key(raw: Raw) -> str | None:
    """An access key id: AKIA (long-term) or ASIA (temporary) and 16 letters or digits."""
    t = text(raw)
    if t is not None and not ACCESS_KEY_RE.match(t):
        raise ValueError(f"{t!r} is not an access key id (AKIA or ASIA and 16 more letters or digits)")
    return t


def email(raw: Raw) -> str | None:
    """An e-mail address (lower-cased)."""
    t = text(raw)
    if t is not None and not _EMAIL_RE.match(t):
        raise ValueError(f"{t!r} is not an e-mail address")
    return t.lower() if t else None


def vpc_id(raw: Raw) -> str | None:
    """``vpc-`` and hex digits."""
    t = lower_text(raw)
    if t is not None and not _VPC_RE.match(t):
        raise ValueError(f"{t!r} is not a VPC id (vpc- and hex digits)")
    return t


def subnet_id(raw: Raw) -> str | None:
    """``subnet-`` and hex digits."""
    t = lower_text(raw)
    if t is not None and not _SUBNET_RE.match(t):
        raise ValueError(f"{t!r} is not a subnet id (subnet- and hex digits)")
    return t


def resource_id(raw: Raw) -> str | None:
    """A resource ARN or a bare id or name (``i-0abc...``, a bucket name); no spaces."""
    t = text(raw)
    if t is None:
        return None
    if t.startswith("arn:"):
        return arn(t)
    if any(c.isspace() for c in t):
        raise ValueError(f"{t!r} is not a resource id or ARN (it has spaces)")
    return t


def criticality(raw: Raw) -> str | None:
    """One of :data:`CRITICALITY` (any case) or its rank 1-4."""
    t = lower_text(raw)
    if t is None:
        return None
    if t in CRITICALITY:
        return t
    if t in ("1", "2", "3", "4"):
        return CRITICALITY[int(t) - 1]
    raise ValueError(f"{t!r} is not a criticality; use low, medium, high, critical or 1-4")


def criticality_rank(level: str | None) -> int | None:
    """1 (low) to 4 (critical)."""
    return CRITICALITY.index(level) + 1 if level else None


def ou_path(raw: Raw) -> str | None:
    """An organisational-unit path such as ``Root/Workloads/Prod`` (blank parts dropped)."""
    t = text(raw)
    if t is None:
        return None
    parts = [p.strip() for p in t.split("/") if p.strip()]
    return "/".join(parts) or None


def text_list(raw: Raw) -> list[str]:
    """A list of text: a YAML list, a JSON array, or text separated by ``;``."""
    if raw is None:
        return []
    if isinstance(raw, str):
        t = raw.strip()
        if t.startswith("["):
            try:
                raw = json.loads(t)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON array: {exc.msg}") from None
        else:
            return [p.strip() for p in t.split(";") if p.strip()]
    if not isinstance(raw, list):
        raise ValueError(f"expected a list or text separated by ';', got a {_what(raw)}")
    out = []
    for item in raw:
        if isinstance(item, dict | list):
            raise ValueError(f"list items must be text, got a {_what(item)}")
        if item is not None and str(item).strip():
            out.append(str(item).strip())
    return out


def tags(raw: Raw) -> dict[str, str]:
    """Tags: a mapping, a JSON object, or ``key=value;key2=value2``."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        t = raw.strip()
        if not t:
            return {}
        if t.startswith("{"):
            try:
                raw = json.loads(t)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON object: {exc.msg}") from None
        else:
            out: dict[str, str] = {}
            for part in t.split(";"):
                if not part.strip():
                    continue
                key, sep, value = part.partition("=")
                if not sep or not key.strip():
                    raise ValueError(f"expected key=value pairs separated by ';' or a JSON object, got {t!r}")
                out[key.strip()] = value.strip()
            return out
    if not isinstance(raw, dict):
        raise ValueError(f"expected a mapping of tags, got a {_what(raw)}")
    result: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, dict | list):
            raise ValueError(f"tag {key!r}: values must be text, got a {_what(value)}")
        result[str(key).strip()] = "" if value is None else str(value).strip()
    return result


def network(raw: Raw) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An IPv4 or IPv6 network; a single address is a /32 or /128; IPv4-mapped IPv6 becomes IPv4.

    Host bits set (``10.1.2.3/16``) are cleared; the caller reports it.
    """
    t = text(raw)
    if t is None:
        return None
    try:
        net = ipaddress.ip_network(t, strict=False)
    except ValueError:
        raise ValueError(f"{t!r} is not an IPv4 or IPv6 network") from None
    if net.version == 6 and net.network_address.ipv4_mapped is not None and net.prefixlen >= 96:
        net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    return net


def _what(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__
