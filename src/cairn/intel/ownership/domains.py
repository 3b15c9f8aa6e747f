"""Domains: registrable domain (eTLD+1) from the public suffix list, and parent-domain matching.

The list is the copy bundled in the ``publicsuffixlist`` package, read as a file
(cairn never calls that package's updater, so nothing is downloaded). It
becomes the ``own_public_suffixes`` table, and both jobs are SQL over the
distinct observed domains:

- :func:`suffixes_sql` turns each domain into its parent suffixes
  (``a.b.example.co.uk`` -> ``uk``, ``co.uk``, ``example.co.uk``, ...); an
  equi-join of those against domain indicators or hostname warninglists is the
  "a subdomain of a listed domain matches it" rule;
- :func:`registrable_sql` applies the PSL algorithm (longest matching rule,
  wildcards ``*.ck``, exceptions ``!www.ck``, default rule ``*``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pyarrow as pa

PSL_SCHEMA = pa.schema(
    [("rule", pa.string()), ("kind", pa.string()), ("labels", pa.int32()), ("section", pa.string())]
)


def psl_file() -> Path:
    """The public_suffix_list.dat bundled in the publicsuffixlist package."""
    return Path(str(resources.files("publicsuffixlist") / "public_suffix_list.dat"))


def to_ascii(name: str) -> str | None:
    """IDNA (UTS 46) ASCII form of a domain name, lower case; None when it has none."""
    name = name.strip().rstrip(".").lower()
    if name.isascii():
        return name
    try:
        import idna

        return idna.encode(name, uts46=True).decode("ascii")
    except Exception:
        try:
            return name.encode("idna").decode("ascii")
        except UnicodeError:
            return None


def psl_rows(path: Path | None = None) -> pa.Table:
    """Rules of the public suffix list as :data:`PSL_SCHEMA` rows (IDNA ASCII form)."""
    rows: dict[tuple[str, str], tuple[str, str, int, str]] = {}
    section = "icann"
    for line in (path or psl_file()).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("//"):
            if "BEGIN PRIVATE DOMAINS" in line:
                section = "private"
            continue
        if not line:
            continue
        rule = line.split()[0]
        kind = "normal"
        if rule.startswith("!"):
            kind, rule = "exception", rule[1:]
        elif rule.startswith("*."):
            kind, rule = "wildcard", rule[2:]
        ascii_rule = to_ascii(rule)
        if ascii_rule:
            rows[(ascii_rule, kind)] = (ascii_rule, kind, ascii_rule.count(".") + 1, section)
    return pa.table(list(map(list, zip(*rows.values(), strict=True))), schema=PSL_SCHEMA)


def suffixes_sql(relation: str, column: str = "domain") -> str:
    """SELECT ``(domain, n_labels, n, suffix)``: every parent suffix of each distinct domain.

    ``n`` counts labels from the right (``n = n_labels`` is the domain itself).
    """
    return f"""
        SELECT domain, len(l) AS n_labels, CAST(n AS INTEGER) AS n,
               array_to_string(list_slice(l, len(l) - n + 1, len(l)), '.') AS suffix
        FROM (SELECT DISTINCT {column} AS domain, string_split({column}, '.') AS l
              FROM {relation} WHERE {column} IS NOT NULL AND {column} <> '') d,
             unnest(range(1, len(l) + 1)) t(n)
    """


def registrable_sql(relation: str, column: str = "domain", psl: str = "own_public_suffixes") -> str:
    """SELECT ``(domain, public_suffix, registrable_domain)`` per distinct domain (PSL algorithm).

    ``registrable_domain`` is null when the domain is itself a public suffix.
    """
    return f"""
        WITH s AS ({suffixes_sql(relation, column)}),
        m AS (
            SELECT s.domain,
                   max(CASE WHEN r.kind = 'normal' THEN s.n END) AS normal_n,
                   max(CASE WHEN r.kind = 'wildcard' AND s.n < s.n_labels THEN s.n + 1 END) AS wild_n,
                   max(CASE WHEN r.kind = 'exception' THEN s.n - 1 END) AS exc_n
            FROM s JOIN {psl} r ON r.rule = s.suffix
            GROUP BY s.domain
        ),
        p AS (
            SELECT d.domain, d.n_labels,
                   coalesce(m.exc_n, greatest(coalesce(m.normal_n, 1), coalesce(m.wild_n, 0))) AS ps_n
            FROM (SELECT DISTINCT domain, n_labels FROM s) d LEFT JOIN m ON m.domain = d.domain
        )
        SELECT p.domain,
               (SELECT suffix FROM s WHERE s.domain = p.domain AND s.n = p.ps_n) AS public_suffix,
               CASE WHEN p.ps_n < p.n_labels
                    THEN (SELECT suffix FROM s WHERE s.domain = p.domain AND s.n = p.ps_n + 1) END
                 AS registrable_domain
        FROM p
    """


def registrable_domain(domain: str) -> str | None:
    """eTLD+1 of one domain in Python (the reference for the SQL path; no download)."""
    from publicsuffixlist import PublicSuffixList

    global _PSL
    if _PSL is None:
        with psl_file().open("rb") as fh:
            _PSL = PublicSuffixList(fh)
    ascii_name = to_ascii(domain)
    return _PSL.privatesuffix(ascii_name) if ascii_name else None


_PSL = None
