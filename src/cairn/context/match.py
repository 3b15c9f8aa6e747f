"""Matching observables to organisational context, in SQL.

Input: any relation with columns ``(type, value, ip_bin)``: the lake's
``observables`` table, or a small registered Arrow table. Only relation names
chosen by cairn go into statement text (checked by :func:`_relation`); values
are data. :func:`match_sql` gives one SELECT per kind; :func:`summary_sql`
folds the best match of every kind into one row per observable;
:func:`create_match_views` makes temp views of all of them. Every match row
starts with::

    type, value        the observable
    match_kind         how it matched (below)
    specificity        higher = more specific (networks: the prefix length)
    best               the most specific match of this kind for the observable (ties: all)

followed by the context row's columns, and ends with ``ctx_source``,
``ctx_file``, ``ctx_locator``, ``ctx_load_id`` (who wrote the context row, where).

Rules (docs/context.md):

- networks (``ip``): every network containing the address, same IP version;
  ``specificity`` = prefix length; ``best`` = longest prefix; ``depth`` 1 = most
  specific. Done as equi-joins: each address is cut to each prefix length the
  inventory uses and joined on (version, prefix length, network start).
- accounts: ``account`` values (``account_id``, 2), the account field of ARNs of
  type ``arn`` / ``resource`` (``arn_account``, 1) and Security Hub's
  ``AWS::::Account:ID`` (``resource_account``, 1).
- identities: exact principal ARN (``principal_arn``, 4), access key (``access_key``, 4);
  a role: an IAM role ARN (with or without a path) or any assumed-role session of it
  ``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`` (``role``, 3); a user name, also taken
  from IAM user ARNs (``user``, 2, case-insensitive, same account when both are known); a
  ``user`` / ``identity_store_user`` identity equal to the session name of an assumed-role
  ARN, as IAM Identity Center sessions are named (``session_name``, 1).
- assets (``resource``, ``arn``): exact id or ARN (``exact``, 3); ARN vs bare id, the
  resource part after ``type/`` or ``type:`` (``resource_id``, 2); S3 bucket name vs
  bucket ARN, and object ARNs vs their bucket (``bucket``, 2). Accounts must agree when
  both sides name one.
"""

from __future__ import annotations

import re

from cairn.engines.duckdb_engine import DuckDBEngine

MATCH_KINDS = ("networks", "accounts", "identities", "assets")
_V4_BASE = 0xFFFF << 32
_V4_TOP = _V4_BASE + 0xFFFFFFFF
_PROV = ("r.source AS ctx_source, r.source_file AS ctx_file, r.locator AS ctx_locator, "
         "r.load_id AS ctx_load_id")

_ROLE_ARN = r"^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:.*/)?([^/]+)$"
_SESSION_ARN = r"^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/(.+)$"
_USER_ARN = r"^arn:(aws[a-z-]*):iam::([0-9]{12}):user/(?:.*/)?([^/]+)$"
_ARN_ACCOUNT = r"^arn:[^:]*:[^:]*:[^:]*:([0-9]{12}):"


def _relation(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", name):
        raise ValueError(f"not a relation name: {name!r}")
    return name


def _role_key(x: str) -> str:
    """``partition:account:rolename`` (lower case) of a role ARN or an assumed-role session ARN."""
    return (f"CASE WHEN regexp_matches({x}, '{_ROLE_ARN}') THEN lower(regexp_replace({x}, '{_ROLE_ARN}', '\\1:\\2:\\3')) "
            f"WHEN regexp_matches({x}, '{_SESSION_ARN}') "
            f"THEN lower(regexp_replace({x}, '{_SESSION_ARN}', '\\1:\\2:\\3')) END")


def _account_of(x: str) -> str:
    return f"nullif(regexp_extract({x}, '{_ARN_ACCOUNT}', 1), '')"


def _best(order: str = "specificity") -> str:
    return f"{order} = max({order}) OVER (PARTITION BY type, value) AS best"


def networks_sql(obs: str) -> str:
    """Every network containing each ``ip`` observable."""
    return f"""
        WITH _p AS (
            SELECT DISTINCT type, value, ip_bin, CAST(CAST(ip_bin AS BIT) AS UHUGEINT) AS k
            FROM {_relation(obs)} WHERE type = 'ip' AND octet_length(ip_bin) = 16
        ),
        _n AS (
            SELECT *, CAST(CAST(range_start AS BIT) AS UHUGEINT) AS ks,
                   CAST(CASE WHEN ip_version = 4 THEN 32 ELSE 128 END - prefix_len AS UHUGEINT) AS shift
            FROM ctx_networks WHERE octet_length(range_start) = 16
        ),
        _c AS (
            SELECT p.type, p.value, p.ip_bin, l.ip_version, l.shift, (p.k >> l.shift) << l.shift AS ks
            FROM (SELECT *, CASE WHEN k BETWEEN {_V4_BASE} AND {_V4_TOP} THEN 4 ELSE 6 END AS v FROM _p) p
            JOIN (SELECT DISTINCT ip_version, shift FROM _n) l ON l.ip_version = p.v
        )
        SELECT c.type, c.value, c.ip_bin, 'cidr' AS match_kind, r.prefix_len AS specificity,
               r.prefix_len = max(r.prefix_len) OVER (PARTITION BY c.type, c.value) AS best,
               CAST(dense_rank() OVER (PARTITION BY c.type, c.value ORDER BY r.prefix_len DESC) AS INTEGER) AS depth,
               r.cidr, r.ip_version, r.prefix_len, r.range_start, r.range_end, r.name, r.zone, r.vpc_id,
               r.subnet_id, r.site, r.region, r.owner, r.account_id, r.environment, r.tags, {_PROV}
        FROM _c c JOIN _n r ON r.ip_version = c.ip_version AND r.shift = c.shift AND r.ks = c.ks
    """


def accounts_sql(obs: str) -> str:
    """The account of each ``account`` value, and of the account field of ARNs."""
    return f"""
        WITH _o AS (
            SELECT DISTINCT type, value FROM {_relation(obs)}
            WHERE type IN ('account', 'arn', 'resource') AND value IS NOT NULL
        ),
        _k AS (
            SELECT type, value, value AS key, 'account_id' AS match_kind, 2 AS specificity FROM _o
            WHERE type = 'account'
            UNION ALL
            SELECT type, value, {_account_of('value')}, 'arn_account', 1 FROM _o
            WHERE type IN ('arn', 'resource') AND value LIKE 'arn:%'
            UNION ALL
            SELECT type, value, regexp_extract(value, '^AWS::::Account:([0-9]{{12}})$', 1), 'resource_account', 1
            FROM _o WHERE type = 'resource' AND value LIKE 'AWS::::Account:%'
        )
        SELECT k.type, k.value, k.match_kind, k.specificity,
               k.specificity = max(k.specificity) OVER (PARTITION BY k.type, k.value) AS best,
               r.account_id, r.name, r.ou_path, r.ou_path_list, r.environment, r.owner, r.contacts, r.tags, {_PROV}
        FROM _k k JOIN ctx_accounts r ON r.account_id = k.key
    """


def identities_sql(obs: str) -> str:
    """The identities behind principal ARNs, role sessions, user names and access keys."""
    role = _role_key("value")
    return f"""
        WITH _o AS (
            SELECT DISTINCT type, value FROM {_relation(obs)}
            WHERE type IN ('arn', 'user', 'access_key') AND value IS NOT NULL
        ),
        _ok AS (
            SELECT type, value, 'arn' AS key_kind, value AS key, NULL AS account FROM _o WHERE type = 'arn'
            UNION ALL
            SELECT type, value, 'role', {role}, NULL FROM _o WHERE type = 'arn' AND {role} IS NOT NULL
            UNION ALL
            SELECT type, value, 'user', lower(regexp_replace(value, '{_USER_ARN}', '\\3')), {_account_of('value')}
            FROM _o WHERE type = 'arn' AND regexp_matches(value, '{_USER_ARN}')
            UNION ALL
            SELECT type, value, 'session', lower(regexp_replace(value, '{_SESSION_ARN}', '\\4')),
                   {_account_of('value')}
            FROM _o WHERE type = 'arn' AND regexp_matches(value, '{_SESSION_ARN}')
            UNION ALL
            SELECT type, value, 'user', lower(value), NULL FROM _o WHERE type = 'user'
            UNION ALL
            SELECT type, value, 'access_key', value, NULL FROM _o WHERE type = 'access_key'
        ),
        _ik AS (
            SELECT *, 'arn' AS key_kind, value AS key, 'principal_arn' AS match_kind, 4 AS specificity
            FROM ctx_identities WHERE kind = 'principal_arn'
            UNION ALL
            SELECT *, 'role', {role}, 'role', 3 FROM ctx_identities
            WHERE kind IN ('role_arn', 'principal_arn') AND regexp_matches(value, '{_ROLE_ARN}')
            UNION ALL
            SELECT *, 'access_key', value, 'access_key', 4 FROM ctx_identities WHERE kind = 'access_key'
            UNION ALL
            SELECT *, 'user', lower(value), 'user', 2 FROM ctx_identities
            WHERE kind IN ('user', 'identity_store_user')
            UNION ALL
            SELECT *, 'session', lower(value), 'session_name', 1 FROM ctx_identities
            WHERE kind IN ('user', 'identity_store_user')
        )
        SELECT o.type, o.value, r.match_kind, r.specificity,
               r.specificity = max(r.specificity) OVER (PARTITION BY o.type, o.value) AS best,
               r.kind AS identity_kind, r.value AS identity_value, r.person, r.email, r.team, r.account_id,
               r.tags, {_PROV}
        FROM _ok o JOIN _ik r ON r.key_kind = o.key_kind AND r.key = o.key
        WHERE o.account IS NULL OR r.account_id IS NULL OR o.account = r.account_id
    """


def _resource_keys(x: str, *, observed: bool) -> str:
    """is_arn, svc, acct and rkey of a resource id or ARN. S3: observed object ARNs key on their bucket,
    inventory object ARNs on bucket/key (so a bucket name never matches an object asset)."""
    s3 = "'^arn:[^:]*:s3:::([^/]+)'" if observed else "'^arn:[^:]*:s3:::(.+)$'"
    res = f"regexp_extract({x}, '^arn:[^:]*:[^:]*:[^:]*:[^:]*:(.+)$', 1)"
    return (f"{x} LIKE 'arn:%' AS is_arn, regexp_extract({x}, '^arn:[^:]*:([^:]*):', 1) AS svc, "
            f"{_account_of(x)} AS acct, "
            f"CASE WHEN {x} NOT LIKE 'arn:%' THEN {x} "
            f"WHEN regexp_extract({x}, '^arn:[^:]*:([^:]*):', 1) = 's3' THEN regexp_extract({x}, {s3}, 1) "
            f"ELSE coalesce(nullif(regexp_extract({res}, '^[^/:]+[/:](.+)$', 1), ''), {res}) END AS rkey")


def assets_sql(obs: str) -> str:
    """The assets behind resource ids and ARNs."""
    return f"""
        WITH _o AS (
            SELECT DISTINCT type, value, {_resource_keys('value', observed=True)} FROM {_relation(obs)}
            WHERE type IN ('resource', 'arn') AND value IS NOT NULL
        ),
        _a AS (SELECT *, {_resource_keys('resource_id', observed=False)} FROM ctx_assets),
        _m AS (
            SELECT o.type, o.value, 'exact' AS match_kind, 3 AS specificity, a.*
            FROM _o o JOIN _a a ON a.resource_id = o.value
            UNION ALL
            SELECT o.type, o.value, CASE WHEN 's3' IN (o.svc, a.svc) THEN 'bucket' ELSE 'resource_id' END, 2, a.*
            FROM _o o JOIN _a a ON a.rkey = o.rkey AND a.resource_id <> o.value
                 AND (NOT o.is_arn OR NOT a.is_arn OR (o.svc = 's3' AND a.svc = 's3'))
                 AND (o.acct IS NULL OR a.account_id IS NULL OR o.acct = a.account_id)
        )
        SELECT r.type, r.value, r.match_kind, r.specificity,
               r.specificity = max(r.specificity) OVER (PARTITION BY r.type, r.value) AS best,
               r.resource_id, r.resource_type, r.name, r.account_id, r.region, r.owner, r.team, r.criticality,
               r.criticality_rank, r.environment, r.tags, {_PROV}
        FROM _m r
    """


MATCHERS = {"networks": networks_sql, "accounts": accounts_sql, "identities": identities_sql, "assets": assets_sql}
"""Kind -> function(observables relation) -> SELECT of its matches."""


def match_sql(kind: str, observables: str) -> str:
    """The SELECT matching ``observables`` (a relation of ``type, value, ip_bin``) to context of ``kind``."""
    if kind not in MATCHERS:
        raise ValueError(f"unknown context kind {kind!r}; choose one of {', '.join(MATCHERS)}")
    return MATCHERS[kind](observables)


_SINGULAR = {"networks": "network", "accounts": "account", "identities": "identity", "assets": "asset"}


def locator_order_sql(col: str) -> str:
    """ORDER BY terms of a locator column (``line N``, ``account N``): by its number, then its text, so
    that line 9 comes before line 10."""
    return f"TRY_CAST(regexp_extract({col}, '([0-9]+)$', 1) AS DECIMAL(38, 0)), {col}"


def summary_sql(observables: str) -> str:
    """One row per matched ``(type, value)``: columns ``network``, ``account``, ``identity``, ``asset``,
    each the STRUCT of the best match of that kind (null when none; ties broken by file and line)."""
    parts = [f"_{k} AS ({MATCHERS[k](observables)})" for k in MATCH_KINDS]
    best = [
        f"_b{k} AS (SELECT type, value, first(m ORDER BY m.specificity DESC, m.ctx_source, m.ctx_file, "
        f"{locator_order_sql('m.ctx_locator')}) AS {_SINGULAR[k]} FROM _{k} m GROUP BY type, value)"
        for k in MATCH_KINDS
    ]
    keys = " UNION ".join(f"SELECT type, value FROM _b{k}" for k in MATCH_KINDS)
    joins = " ".join(f"LEFT JOIN _b{k} USING (type, value)" for k in MATCH_KINDS)
    cols = ", ".join(_SINGULAR[k] for k in MATCH_KINDS)
    return f"WITH {', '.join(parts + best)}, _keys AS ({keys}) SELECT type, value, {cols} FROM _keys {joins}"


def create_match_views(engine: DuckDBEngine, observables: str, prefix: str = "ctx_match") -> dict[str, str]:
    """Temp views ``{prefix}_networks``, ``_accounts``, ``_identities``, ``_assets`` and ``_summary``
    over ``observables``; returns kind (and ``summary``) -> view name."""
    names = {}
    for kind in (*MATCH_KINDS, "summary"):
        name = _relation(f"{prefix}_{kind}")
        body = summary_sql(observables) if kind == "summary" else match_sql(kind, observables)
        engine.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")
        names[kind] = name
    return names
