"""A small parser for the STIX 2.1 patterning language, and its reduction to IOCs.

Why not ``stix2-patterns``: it pulls in an ANTLR runtime pinned to the grammar's generator
version and parses far more than cairn can use. cairn needs to *reduce* a pattern to
literal indicators or say precisely why it cannot; this module does both in ~250 lines
and covers the whole grammar's syntax (so unsupported constructs are recognised and named,
not mis-parsed).

Grammar (STIX 2.1 part 5, precedence low to high)::

    pattern      := obs_or (FOLLOWEDBY obs_or)*
    obs_or       := obs_and (OR obs_and)*
    obs_and      := obs (AND obs)*
    obs          := ( '[' comp_or ']' | '(' pattern ')' ) qualifier*
    qualifier    := WITHIN n SECONDS | REPEATS n TIMES | START t'..' STOP t'..'
    comp_or      := comp_and (OR comp_and)*
    comp_and     := test (AND test)*
    test         := '(' comp_or ')' | EXISTS path | path [NOT] op literal
    op           := = != < > <= >= IN LIKE MATCHES ISSUBSET ISSUPERSET

Reduction (:func:`reduce`): OR at either level is a union (each side alone satisfies the
pattern, so supported sides load even when another side is unsupported); ``=``, ``IN`` and
``ISSUBSET`` on the paths in :data:`PATHS` give indicators; ``AND`` inside one observation
is accepted for several hashes of one file and for a network-traffic ``*_ref.value`` with
its ``*_ref.type`` (ipv4-addr/ipv6-addr -> ip, domain-name -> domain) and ``dst_port`` (kept
with ``dst_ref`` only: a ``src_ref`` value does not take the destination port); everything else (AND across objects or observations,
FOLLOWEDBY, qualifiers, NOT, !=, <, >, LIKE, MATCHES, ISSUPERSET, EXISTS, other paths) is
unsupported with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATHS: dict[str, str] = {
    "ipv4-addr:value": "ip",
    "ipv6-addr:value": "ip",
    "domain-name:value": "domain",
    "url:value": "url",
    "email-addr:value": "email",
    "email-message:from_ref.value": "email",
    "email-message:sender_ref.value": "email",
    "network-traffic:dst_ref.value": "ip",
    "network-traffic:src_ref.value": "ip",
}
REF_TYPES = {"ipv4-addr": "ip", "ipv6-addr": "ip", "domain-name": "domain"}
"""network-traffic ``*_ref.type`` values and the indicator type they give (the default is ip)."""
HASH_KEYS = {"md5": "md5", "sha-1": "sha1", "sha1": "sha1", "sha-256": "sha256", "sha256": "sha256",
             "sha-512": "sha512", "sha512": "sha512"}


class PatternError(ValueError):
    """The pattern is not valid STIX patterning syntax."""


@dataclass(frozen=True)
class Ioc:
    """One literal indicator from a pattern."""

    type: str
    value: str
    port: int | None = None


@dataclass
class Comparison:
    path: str
    op: str
    value: object
    negated: bool = False


@dataclass
class Node:
    op: str  # AND | OR (comparison level), OBS_AND | OBS_OR | FOLLOWEDBY, OBS, QUAL
    children: list[object]
    detail: str = ""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:\\.|[^'\\])*')
    | (?P<ts>t'[^']*')
    | (?P<bin>[bh]'[^']*')
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|=|<|>|\[|\]|\(|\)|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*(?::[A-Za-z0-9_\-]+)?(?:(?:\.|\[)[^\s=!<>()\],]*)?)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "FOLLOWEDBY", "IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET",
             "EXISTS", "WITHIN", "SECONDS", "REPEATS", "TIMES", "START", "STOP", "true", "false"}
_OPS = {"=", "!=", "<", ">", "<=", ">=", "IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` tokens; kind is str, ts, bin, num, op, kw or path."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise PatternError(f"unexpected text at position {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        tok = m.group(kind)
        if kind == "word":
            kind = "kw" if tok in _KEYWORDS or tok.upper() in _KEYWORDS - {"true", "false"} else "path"
            if kind == "kw" and tok not in ("true", "false"):
                tok = tok.upper()
        out.append((kind, tok))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (text is not None and tok[1] != text):
            raise PatternError(f"expected {text or 'more'}, found {tok[1] if tok else 'end of pattern'}")
        self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] in texts and tok[0] in ("kw", "op")

    def _chain(self, op: str, sub: object, node: str) -> object:
        items = [sub()]  # type: ignore[operator]
        while self.at(op):
            self.take()
            items.append(sub())  # type: ignore[operator]
        return items[0] if len(items) == 1 else Node(node, items)

    def pattern(self) -> object:
        return self._chain("FOLLOWEDBY", self.obs_or, "FOLLOWEDBY")

    def obs_or(self) -> object:
        return self._chain("OR", self.obs_and, "OBS_OR")

    def obs_and(self) -> object:
        return self._chain("AND", self.obs, "OBS_AND")

    def obs(self) -> object:
        if self.at("["):
            self.take("[")
            inner = self.comp_or()
            self.take("]")
            node: object = Node("OBS", [inner])
        elif self.at("("):
            self.take("(")
            node = self.pattern()
            self.take(")")
        else:
            raise PatternError(f"expected [ or (, found {self.peek()[1] if self.peek() else 'end of pattern'}")
        while self.at("WITHIN", "REPEATS", "START"):
            kw = self.take()[1]
            if kw == "WITHIN":
                detail = f"WITHIN {self.take()[1]} {self.take('SECONDS')[1]}"
            elif kw == "REPEATS":
                detail = f"REPEATS {self.take()[1]} {self.take('TIMES')[1]}"
            else:
                detail = f"START {self.take()[1]} STOP {(self.take('STOP'), self.take())[1][1]}"
            node = Node("QUAL", [node], detail)
        return node

    def comp_or(self) -> object:
        return self._chain("OR", self.comp_and, "OR")

    def comp_and(self) -> object:
        return self._chain("AND", self.test, "AND")

    def test(self) -> object:
        if self.at("("):
            self.take("(")
            inner = self.comp_or()
            self.take(")")
            return inner
        if self.at("EXISTS"):
            self.take()
            return Comparison(self.take()[1], "EXISTS", None)
        kind, path = self.take()
        if kind != "path":
            raise PatternError(f"expected an object path, found {path}")
        negated = False
        if self.at("NOT"):
            self.take()
            negated = True
        op = self.take()[1]
        if op not in _OPS:
            raise PatternError(f"unknown comparison operator {op}")
        if op == "IN":
            self.take("(")
            values = [self.literal()]
            while self.at(","):
                self.take(",")
                values.append(self.literal())
            self.take(")")
            return Comparison(path, op, values, negated)
        return Comparison(path, op, self.literal(), negated)

    def literal(self) -> object:
        kind, tok = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", tok[1:-1])
        if kind == "num":
            return float(tok) if "." in tok else int(tok)
        if kind in ("ts", "bin") or tok in ("true", "false"):
            return tok
        raise PatternError(f"expected a literal, found {tok}")


def parse(text: str) -> object:
    """The syntax tree of a pattern (raises :class:`PatternError`)."""
    p = _Parser(tokenize(text))
    tree = p.pattern()
    if p.peek() is not None:
        raise PatternError(f"unexpected {p.peek()[1]} after the pattern")  # type: ignore[index]
    return tree


def reduce(text: str) -> tuple[list[Ioc], list[str]]:
    """Literal indicators of a pattern and the reasons for the parts that are not representable."""
    try:
        tree = parse(text)
    except PatternError as exc:
        return [], [f"invalid pattern: {exc}"]
    iocs: list[Ioc] = []
    reasons: list[str] = []
    _reduce(tree, iocs, reasons)
    return list(dict.fromkeys(iocs)), reasons


def _reduce(node: object, iocs: list[Ioc], reasons: list[str]) -> None:
    if isinstance(node, Node) and node.op == "OBS_OR":
        for c in node.children:
            _reduce(c, iocs, reasons)
    elif isinstance(node, Node) and node.op == "OBS":
        _observation(node.children[0], iocs, reasons)
    elif isinstance(node, Node) and node.op == "QUAL":
        reasons.append(f"qualifier {node.detail} is not supported")
    elif isinstance(node, Node) and node.op == "OBS_AND":
        reasons.append("AND between observation expressions is not supported")
    elif isinstance(node, Node) and node.op == "FOLLOWEDBY":
        reasons.append("FOLLOWEDBY is not supported")


def _observation(node: object, iocs: list[Ioc], reasons: list[str]) -> None:
    if isinstance(node, Node) and node.op == "OR":
        for c in node.children:
            _observation(c, iocs, reasons)
    elif isinstance(node, Node) and node.op == "AND":
        _conjunction(node, iocs, reasons)
    elif isinstance(node, Comparison):
        got = _comparison(node)
        if isinstance(got, str):
            reasons.append(got)
        else:
            iocs.extend(got)


def _conjunction(node: Node, iocs: list[Ioc], reasons: list[str]) -> None:
    comps = [c for c in node.children if isinstance(c, Comparison)]
    if len(comps) != len(node.children):
        reasons.append("OR nested inside AND is not supported")
        return
    if all(c.path.startswith("file:hashes.") for c in comps):
        for c in comps:
            _observation(c, iocs, reasons)
        return
    if all(c.path.startswith("network-traffic:") for c in comps) and _network_traffic(comps, iocs, reasons):
        return
    objects = sorted({c.path.split(":", 1)[0] for c in comps})
    reasons.append(f"AND across {' and '.join(objects)} properties is not supported")


def _network_traffic(comps: list[Comparison], iocs: list[Ioc], reasons: list[str]) -> bool:
    """A network-traffic ``*_ref.value`` with its ``*_ref.type`` and ``dst_port``; False when the
    conjunction is not of that shape. The ref type sets the indicator type; ``dst_port`` is kept
    only with ``dst_ref`` (it is not the source address's port)."""
    values = [c for c in comps if c.path.endswith("_ref.value")]
    if len(values) != 1:
        return False
    side = values[0].path.removesuffix(".value")
    types = [c for c in comps if c.path == f"{side}.type" and c.op == "=" and not c.negated]
    ports = [c for c in comps if c.path == "network-traffic:dst_port" and c.op == "=" and not c.negated]
    other = [c for c in comps if c.path.endswith("_ref.type") and not c.path.startswith(f"{side}.")]
    if len(types) > 1 or len(ports) > 1 or len(types) + len(ports) + len(other) + 1 != len(comps):
        return False
    got = _comparison(values[0])
    if isinstance(got, str):
        reasons.append(got)
        return True
    type_ = None
    if types:
        type_ = REF_TYPES.get(str(types[0].value))
        if type_ is None:
            reasons.append(f"{side}.type {types[0].value!r} is not supported")
            return True
    port = ports[0].value if ports and isinstance(ports[0].value, int) and side.endswith(":dst_ref") else None
    iocs.extend(Ioc(type_ or i.type, i.value, port) for i in got)
    return True


def _comparison(c: Comparison) -> list[Ioc] | str:
    if c.negated:
        return f"NOT {c.op} on {c.path} is not supported"
    type_ = PATHS.get(c.path)
    if c.path.startswith("file:hashes."):
        key = c.path.removeprefix("file:hashes.").strip("'").lower()
        if key not in HASH_KEYS:
            return f"hash algorithm {key.upper()} is not supported"
        type_ = HASH_KEYS[key]  # a hash of the declared algorithm (its length is checked)
    if type_ is None:
        return f"object path {c.path} is not supported"
    if c.op == "ISSUBSET" and type_ != "ip":
        return f"ISSUBSET on {c.path} is not supported"
    if c.op not in ("=", "IN", "ISSUBSET"):
        return f"operator {c.op} on {c.path} is not supported"
    values = c.value if isinstance(c.value, list) else [c.value]
    if not all(isinstance(v, str) for v in values):
        return f"non-string value compared with {c.path}"
    return [Ioc(type_, str(v)) for v in values]
