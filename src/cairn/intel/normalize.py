"""Canonical forms of indicator values, and why a value is refused.

One set of rules serves two paths that must agree (a test checks they do):

- per value, in Python (:func:`normalize`): for lookups, tests, and the bulk path's
  distinct IP values and non-ASCII host names;
- in bulk, in SQL (:mod:`cairn.intel.normsql`): every feed load. The regular
  expressions below are written in the common subset of Python ``re`` and RE2
  (DuckDB), and the checks are ordered tables that both paths walk.

Canonical forms:

- **refang** first: ``hxxp(s)://``, ``fxp://``, ``[.]`` ``(.)`` ``{.}`` ``[dot]``, ``[:]``,
  ``[://]``, ``[/]``, ``[@]`` ``(@)`` ``[at]`` (see :data:`REFANG_RULES`);
- **ip**: ``ipaddress`` text (IPv6 compressed lower-case, zone id ``%eth0`` dropped), IPv4-mapped IPv6 becomes IPv4,
  ``ip:port`` / ``[v6]:port`` split into value and port, a CIDR keeps its prefix unless it is a
  single address (``/32``, ``/128``). **A CIDR with host bits set is accepted and
  canonicalised** to its network (``10.1.2.3/8`` -> ``10.0.0.0/8``; feeds mean the network),
  and counted as ``cidr_host_bits_cleared`` in the load report;
- **domain**: lower-case, trailing dots removed, non-ASCII names to their IDNA 2008 (UTS 46)
  ASCII form ``xn--...``; the unicode form is not kept. ``name:port`` splits off the port;
- **url**: lower-case scheme and host (IDNA as for domains), default port (80 http, 443
  https) removed, empty path becomes ``/``, fragment dropped; user info, path and query are
  case-sensitive and kept as they are (after refanging).
  A URL without scheme (``evil.example/x.php``) is taken as ``http://``; a bare path
  (``/x.php``, maltrail "path trails") has no host and cannot be represented;
- **hash**: lower-case hex; the algorithm comes from the length (md5 32, sha1 40, sha256 64,
  sha512 128); a parser may declare the algorithm (type ``md5``, ``sha1``, ``sha256``,
  ``sha512``), and a value whose length is another algorithm's is refused;
- **email**: lower-case (local part included: mail systems treat it case-insensitively in
  practice), domain part as for domains.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import idna

from cairn.intel.model import HASH_TYPES
from cairn.lake.addresses import ip_to_bin

RULES_VERSION = 2
"""Bumped when a canonical form changes (2: URL user info keeps its case), so that reloading
unchanged feed content re-normalises it instead of being a no-op."""

# (pattern, replacement) applied in order; RE2-compatible, replacement groups as \1.
REFANG_RULES: tuple[tuple[str, str], ...] = (
    (r"\[://\]", "://"),
    (r"\[:\]", ":"),
    (r"\[/\]", "/"),
    (r"(?i) *(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}) *", "."),
    (r"(?i) *(?:\[@\]|\(@\)|\{@\}|\[at\]|\(at\)) *", "@"),
    (r"(?i)^h(?:xx|\*\*)p(s?)://", r"http\1://"),
    (r"(?i)^fxp://", "ftp://"),
)

REFANG_NEEDED = r"[\[({]|^[hHfF][xX*]"
"""Values without a match are left alone by every refang rule (a fast path for bulk work)."""

# Type inference on a refanged, trimmed value (first match wins).
HASH_LIKE = r"^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}|[0-9A-Fa-f]{128})$"
URL_LIKE = r"^[A-Za-z][A-Za-z0-9+.-]*://"
WS = r"[\t\n\v\f\r ]"
"""White space as both engines see it (``\\s`` differs between Python and RE2)."""
EMAIL_LIKE = r"^[^@\t\n\v\f\r /:]+@[^@\t\n\v\f\r /]+$"
ZONE_ID = r"%[0-9A-Za-z._~-]+"
"""An IPv6 zone id (``fe80::1%eth0``): accepted and dropped, as ingest and ``context match`` do."""
IP_LIKE = (
    r"^(?:\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,6})?"
    rf"|\[?[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:{ZONE_ID})?\]?(?:/\d{{1,3}})?"
    rf"|\[[0-9A-Fa-f:.]+(?:{ZONE_ID})?\](?:/\d{{1,3}})?(?::\d{{1,6}})?)$"
)
PATHISH = r"/"
INFER_RULES: tuple[tuple[str, str], ...] = (
    (HASH_LIKE, "hash"),
    (URL_LIKE, "url"),
    (EMAIL_LIKE, "email"),
    (IP_LIKE, "ip"),
    (PATHISH, "url"),
)
TYPES = ("ip", "domain", "url", "hash", "email")
HASH_ALGORITHMS = {t: n for n, t in HASH_TYPES.items()}
"""Hex digits of each hash algorithm a parser may declare as the type (``sha256``: a hash of 64)."""

# Checks on a lower-case ASCII host name without trailing dots: (invalid-if-found, reason).
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
DOMAIN_VALID = rf"^(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?$"
DOMAIN_CHECKS: tuple[tuple[str, str], ...] = (
    (r"^$", "empty value"),
    (r"[*^$\\()\[\]|+?{}]", "wildcard or regular expression, not a literal name"),
    (r"[\t\n\v\f\r ]", "contains white space"),
    (r"^[^.]*$", "not a fully qualified domain name (no dot)"),
    (r"^.{254,}$", "domain name longer than 253 characters"),
    (r"\.[0-9]+$", "last label is numeric (not a domain name)"),
)
DOMAIN_INVALID = "not a valid domain name"
HASH_CHECKS: tuple[tuple[str, str], ...] = (
    (r"^$", "empty value"),
    (r"[^0-9a-f]", "hash is not hexadecimal"),
)
EMAIL_LOCAL_VALID = r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+$"
URL_PARTS = r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^#]*)"
SCHEMELESS_URL = r"^[^/?#:@\t\n\v\f\r ]+(?::[0-9]{1,5})?(?:[/?]|$)"
PORT_SUFFIX = r"^(.*[^:]):([0-9]{1,5})$"
HOSTPORT = r"^(\[[^\]]*\]|[^:]*)(?::([0-9]*))?$"
IPV4_LITERAL = r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$"
IPV6_LITERAL = r"^\[[0-9A-Fa-f:.]+\]$"
BAD_IP_LITERAL = "not a valid IP literal"
STRIP = r"^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$"


def _search(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.ASCII)


def strip(text: str) -> str:
    """Remove leading and trailing ASCII white space (what the SQL path removes too)."""
    return re.sub(STRIP, "", text)


def refang(text: str) -> str:
    """Undo common defanging (``hxxp``, ``[.]``, ``[@]``, ...)."""
    for pattern, repl in REFANG_RULES:
        text = re.sub(pattern, repl, text, flags=re.ASCII)
    return text


def defang(text: str) -> str:
    """The usual defanged form (inverse of :func:`refang` on plain values)."""
    text = re.sub(r"(?i)^http(s?)://", r"hxxp\1[://]", text)
    text = re.sub(r"(?i)^ftp://", "fxp[://]", text)
    return text.replace(".", "[.]").replace("@", "[@]")


def infer_type(value: str, declared: str | None = None) -> str:
    """The indicator type of a refanged value, honouring a parser's ``declared`` guess."""
    d = (declared or "").lower()
    if d == "domain" and _search(IP_LIKE, value):
        return "ip"
    if d in TYPES:
        return d
    if d in HASH_ALGORITHMS:
        return "hash"
    for pattern, t in INFER_RULES:
        if _search(pattern, value):
            return t
    return "domain"


@dataclass(frozen=True)
class Normalized:
    """A canonical indicator value, or the reason it has none (``reason`` set)."""

    type: str
    value: str | None
    reason: str | None = None
    port: int | None = None
    hash_type: str | None = None
    ip_version: int | None = None
    prefix_len: int | None = None
    range_start: bytes | None = None
    range_end: bytes | None = None
    note: str | None = None
    """Set when the value was canonicalised in a way worth counting (``cidr_host_bits_cleared``)."""


def _fail(t: str, reason: str) -> Normalized:
    return Normalized(type=t, value=None, reason=reason)


def normalize(value: str | None, declared: str | None = None) -> Normalized:
    """Refang, infer the type and canonicalise one value."""
    v = refang(strip(value or ""))
    if not v:
        return _fail((declared or "domain").lower(), "empty value")
    t = infer_type(v, declared)
    if t == "ip":
        return normalize_ip(v)
    if t == "hash":
        h = normalize_hash(v)
        want = (declared or "").lower()
        if h.reason is None and want in HASH_ALGORITHMS and h.hash_type != want:
            return _fail("hash", declared_hash_reason(want, len(h.value or "")))
        return h
    if t == "email":
        return normalize_email(v)
    if t == "url":
        return normalize_url(v)
    return normalize_domain(v)


_V4_PORT = re.compile(r"^([0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2})?):([0-9]+)$")
_V6_BRACKET = re.compile(r"^\[([^\]]+)\](?:/([0-9]{1,3}))?(?::([0-9]+))?$")


_PLAIN_V4 = re.compile(r"^([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})(?::([0-9]{1,5}))?$")


def normalize_ip(text: str) -> Normalized:
    """An address or CIDR (IPv4 or IPv6), optionally with ``:port`` / ``[v6]:port``."""
    t = strip(text)
    m = _PLAIN_V4.match(t)
    if m:  # fast path: the common single IPv4 address, with or without a port
        try:
            a = ipaddress.IPv4Address(m[1])
        except ValueError:
            return _fail("ip", "not a valid IP address or network")
        port = int(m[2]) if m[2] else None
        if port is not None and port > 65535:
            return _fail("ip", f"port {port} out of range")
        b = b"\x00" * 10 + b"\xff\xff" + a.packed
        return Normalized(type="ip", value=m[1], port=port, ip_version=4, prefix_len=32, range_start=b, range_end=b)
    port: int | None = None
    m = _V6_BRACKET.match(t)
    if m:
        t = m[1] + (f"/{m[2]}" if m[2] else "")
        port = int(m[3]) if m[3] else None
    else:
        m = _V4_PORT.match(t)
        if m:
            t, port = m[1], int(m[2])
    if port is not None and port > 65535:
        return _fail("ip", f"port {port} out of range")
    addr_part, _, prefix = t.partition("/")
    addr_part = addr_part.split("%", 1)[0]
    try:
        host = ipaddress.ip_address(addr_part)
        net = ipaddress.ip_network(f"{addr_part}/{prefix}" if prefix else addr_part, strict=False)
    except ValueError:
        return _fail("ip", "not a valid IP address or network")
    note = "cidr_host_bits_cleared" if prefix and host != net.network_address else None
    if net.version == 6 and net.prefixlen >= 96 and net.network_address.ipv4_mapped is not None:
        net = ipaddress.IPv4Network((net.network_address.ipv4_mapped, net.prefixlen - 96))
    single = net.prefixlen == net.max_prefixlen
    return Normalized(
        type="ip",
        value=str(net.network_address) if single else str(net),
        port=port,
        ip_version=net.version,
        prefix_len=net.prefixlen,
        range_start=ip_to_bin(net.network_address),
        range_end=ip_to_bin(net.broadcast_address),
        note=note,
    )


def normalize_hash(text: str) -> Normalized:
    """Lower-case hex; algorithm by length."""
    v = strip(text).lower()
    for pattern, reason in HASH_CHECKS:
        if _search(pattern, v):
            return _fail("hash", reason)
    if len(v) not in HASH_TYPES:
        return _fail("hash", hash_length_reason(len(v)))
    return Normalized(type="hash", value=v, hash_type=HASH_TYPES[len(v)])


def hash_length_reason(n: int) -> str:
    """Reason for a hex string of a length no algorithm has."""
    return f"hash length {n} matches no supported algorithm (md5 32, sha1 40, sha256 64, sha512 128)"


def declared_hash_reason(algorithm: str, n: int) -> str:
    """Reason for a hash declared as ``algorithm`` whose ``n`` hex digits are another algorithm's."""
    return f"declared {algorithm} ({HASH_ALGORITHMS[algorithm]} hex digits) but the value has {n} ({HASH_TYPES[n]})"


def idna_host(host: str) -> tuple[str | None, str | None]:
    """ASCII (IDNA 2008 / UTS 46) form of a lower-cased non-ASCII host: ``(ascii, reason)``."""
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii"), None
    except (idna.IDNAError, UnicodeError) as exc:
        return None, f"invalid internationalised domain name: {exc}"


def check_host(host: str) -> str | None:
    """Reason a lower-case ASCII host name is not a domain, or None."""
    for pattern, reason in DOMAIN_CHECKS:
        if _search(pattern, host):
            return reason
    return None if _search(DOMAIN_VALID, host) else DOMAIN_INVALID


def host_or_reason(text: str) -> tuple[str | None, str | None]:
    """Canonical host name (lower-case, no trailing dot, IDNA ASCII) or the reason it is invalid."""
    host = text.lower().rstrip(".")
    if not host.isascii():
        ascii_host, reason = idna_host(host)
        if ascii_host is None:
            return None, reason
        host = ascii_host
    reason = check_host(host)
    return (None, reason) if reason else (host, None)


def normalize_domain(text: str) -> Normalized:
    """A host name; ``name:port`` keeps the port."""
    v = strip(text)
    port = None
    m = _search(PORT_SUFFIX, v)
    if m:
        v, port = m[1], int(m[2])
        if port > 65535:
            return _fail("domain", f"port {port} out of range")
    host, reason = host_or_reason(v)
    if host is None:
        return _fail("domain", reason or DOMAIN_INVALID)
    return Normalized(type="domain", value=host, port=port)


def normalize_email(text: str) -> Normalized:
    """``local@domain``, lower-case, IDNA domain."""
    raw_local = strip(text).rpartition("@")[0]
    v = strip(text).lower()
    local, at, domain = v.rpartition("@")
    if not at or not raw_local.isascii() or not _search(EMAIL_LOCAL_VALID, local):
        return _fail("email", "not a valid e-mail address")
    host, reason = host_or_reason(domain)
    if host is None:
        return _fail("email", f"e-mail domain: {reason}")
    return Normalized(type="email", value=f"{local}@{host}")


_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalize_url(text: str) -> Normalized:
    """``scheme://host[:port]/path?query`` with lower-case scheme and host."""
    v = strip(text)
    if v.startswith("/"):
        return _fail("url", "URL path without host (cannot be matched)")
    if not _search(URL_LIKE, v) and _search(SCHEMELESS_URL, v):
        v = "http://" + v
    m = _search(URL_PARTS, v)
    if not m:
        return _fail("url", "not a valid URL")
    scheme, authority, rest = m[1].lower(), m[2], m[3]
    userinfo, _, hostport = authority.rpartition("@")
    hm = _search(HOSTPORT, hostport)
    if not hm or not hm[1]:
        return _fail("url", "URL without host")
    raw_host, port = hm[1], hm[2] or ""
    if raw_host.startswith("["):
        if not _search(IPV6_LITERAL, raw_host):
            return _fail("url", f"URL host: {BAD_IP_LITERAL}")
        host = raw_host.lower()
    elif _search(IPV4_LITERAL, raw_host):
        host = raw_host
    else:
        h, reason = host_or_reason(raw_host)
        if h is None:
            return _fail("url", f"URL host: {reason}")
        host = h
    port_txt = "" if port in ("", _DEFAULT_PORTS.get(scheme)) else f":{port}"
    if not rest.startswith("/"):
        rest = "/" + rest
    user = f"{userinfo}@" if userinfo else ""  # user names and passwords are case-sensitive
    return Normalized(type="url", value=f"{scheme}://{user}{host}{port_txt}{rest}")
