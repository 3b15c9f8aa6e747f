"""SQL text for values that come from rules: string literals, LIKE patterns, JSON paths, CIDR bounds.

Everything a rule author writes reaches SQL through these functions and nowhere else. DuckDB
string literals are standard SQL: a single quote is doubled, a backslash is an ordinary character
(no ``E''`` strings are ever produced). LIKE patterns escape ``%``, ``_`` and ``\\`` with ``\\`` and
are always used with ``ESCAPE '\\'``. JSON path keys are always double-quoted with ``"`` and ``\\``
escaped, so a key can hold dots, brackets or quotes.
"""

from __future__ import annotations

import ipaddress

from sigma.types import Placeholder, SigmaString, SpecialChars

from cairn.detect.sigma.errors import SigmaUnsupported

LIKE_ESCAPE = "\\"


def sql_str(text: str) -> str:
    """A DuckDB string literal holding exactly ``text``."""
    if "\x00" in text:
        raise SigmaUnsupported("values containing NUL characters are not supported")
    return "'" + text.replace("'", "''") + "'"


def plain_text(s: SigmaString) -> str | None:
    """The text of a SigmaString without wildcards (None when it has any special part)."""
    if s.contains_special() or any(isinstance(p, Placeholder) for p in s.s):
        return None
    return "".join(p for p in s.s if isinstance(p, str))


def like_pattern(s: SigmaString, *, lower: bool) -> str:
    """A LIKE pattern (to use with ``ESCAPE '\\'``) for a SigmaString with wildcards."""
    out: list[str] = []
    for part in s.s:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        elif isinstance(part, str):
            text = part.lower() if lower else part
            for ch in text:
                out.append(LIKE_ESCAPE + ch if ch in "%_\\" else ch)
        else:
            raise SigmaUnsupported(f"unresolved placeholder %{part.name}% (give its values)")
    return sql_str("".join(out))


def check_no_placeholder(s: SigmaString) -> None:
    """Refuse strings that still hold an unresolved ``%placeholder%``."""
    for part in s.s:
        if isinstance(part, Placeholder):
            raise SigmaUnsupported(f"unresolved placeholder %{part.name}% (give its values)")


def json_path(segments: list[str]) -> str:
    """A DuckDB JSON path for keys (``"[*]"`` marks "every element of the array so far")."""
    out = ["$"]
    for seg in segments:
        if seg == "[*]":
            out.append("[*]")
        else:
            out.append('."' + seg.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "".join(out)


def ip_bounds(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str, str]:
    """First and last address of a network as 16-byte blob literals (IPv4 mapped into IPv6),
    the form of cairn's ``*_bin`` columns."""
    lo, hi = network.network_address, network.broadcast_address
    if isinstance(network, ipaddress.IPv4Network):
        lo = ipaddress.IPv6Address("::ffff:" + str(lo))
        hi = ipaddress.IPv6Address("::ffff:" + str(hi))
    return f"unhex('{lo.packed.hex()}')", f"unhex('{hi.packed.hex()}')"
