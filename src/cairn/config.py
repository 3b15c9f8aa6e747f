"""Typed settings loaded from one TOML file.

The file lives in the workspace (``<workspace>/cairn.toml``) or is given with
``--config``. Every key is optional; ``docs/config.md`` documents them all and
``cairn config show`` prints the effective values. Later stages add their own
sections (``[intel]``, ``[rules]``, ``[actions]``, ``[providers]``); unknown
sections are kept in :attr:`Config.extra` for them, unknown keys inside known
sections are an error so that typos do not pass silently.
"""

from __future__ import annotations

import base64
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from cairn.errors import ConfigError

CONFIG_FILE = "cairn.toml"


@dataclass(frozen=True)
class IngestSettings:
    """``[ingest]``: how files are read and written."""

    batch_files: int = 256
    """Files read by the engine in one batch."""
    batch_bytes: int = 256 * 1024 * 1024
    """Upper bound of decompressed bytes in one batch. A batch is typed and written in memory:
    peak memory is about 9x this (2.4 GB at the default); smaller batches use less memory and,
    below about 250k records, leave cores idle (the engine splits work by 122,880-row groups)."""
    strict: bool = False
    """Fail the run when any record is quarantined."""
    compression: str = "zstd"
    """Parquet compression codec for the lake."""
    threads: int = 0
    """Engine threads; 0 means one per core."""
    memory_limit: str = ""
    """Engine memory limit such as '4GB'; empty means the engine default."""


@dataclass(frozen=True)
class VpcFlowSettings:
    """``[sources.vpcflow]``: flow log settings."""

    default_format: str = (
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
        "packets bytes start end action log-status"
    )
    """Field order for files without a header line (CloudWatch Logs exports)."""


@dataclass(frozen=True)
class AwsSettings:
    """``[aws]``: how boto3 clients are made (credentials come from the usual chain)."""

    profile: str = ""
    region: str = ""
    endpoint_url: str = ""
    """Override the endpoint (a local S3-compatible server, for example)."""


@dataclass(frozen=True)
class Config:
    """All settings. Built by :func:`load_config`; immutable."""

    ingest: IngestSettings = field(default_factory=IngestSettings)
    vpcflow: VpcFlowSettings = field(default_factory=VpcFlowSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    extra: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    """The file these settings came from, if any."""


def load_config(path: Path | None) -> Config:
    """Read ``path`` (or return defaults when it is None or does not exist)."""
    if path is None or not path.exists():
        return _apply_env(Config(source=None))
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a settings file (give a TOML file such as cairn.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the settings file: {exc.strerror or exc}") from exc
    sources = data.pop("sources", {}) or {}
    ingest = _section(IngestSettings, data.pop("ingest", {}), path, "ingest")
    cfg = Config(
        ingest=_check_ingest(ingest, path),
        vpcflow=_section(VpcFlowSettings, sources.pop("vpcflow", {}), path, "sources.vpcflow"),
        aws=_section(AwsSettings, data.pop("aws", {}), path, "aws"),
        extra={**data, **({"sources": sources} if sources else {})},
        source=path,
    )
    return _apply_env(cfg)


def _section(cls: type, values: Any, path: Path, name: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) in [{name}]: {', '.join(unknown)}; "
            f"valid keys are {', '.join(sorted(known))}"
        )
    for key, value in values.items():
        default = getattr(cls(), key)
        if not isinstance(value, type(default)) or isinstance(value, bool) != isinstance(default, bool):
            raise ConfigError(
                f"{path}: [{name}] {key} must be {type(default).__name__}, got {value!r}"
            )
    return cls(**values)


PARQUET_CODECS = ("uncompressed", "snappy", "gzip", "zstd", "lz4", "lz4_raw", "brotli")
"""Parquet codecs DuckDB writes (``[ingest] compression``)."""


def _check_ingest(s: IngestSettings, path: Path) -> IngestSettings:
    """``s`` with ``compression`` in lower case, or a :class:`ConfigError` naming the first bad value."""
    def bad(key: str, rule: str) -> ConfigError:
        return ConfigError(f"{path}: [ingest] {key} {rule}, got {getattr(s, key)!r}")

    if s.batch_files < 1:
        raise bad("batch_files", "must be 1 or more")
    if s.batch_bytes < 1:
        raise bad("batch_bytes", "must be 1 or more (bytes)")
    if s.threads < 0:
        raise bad("threads", "must be 0 (one per core) or more")
    codec = s.compression.lower()
    if codec not in PARQUET_CODECS:
        raise bad("compression", f"must be one of {', '.join(PARQUET_CODECS)}")
    if s.memory_limit:
        import duckdb

        try:
            duckdb.connect(config={"memory_limit": s.memory_limit}).close()
        except duckdb.Error as exc:
            raise ConfigError(f"{path}: [ingest] memory_limit must be a memory size such as \"4GB\", "
                              f"\"512MiB\" or \"50%\", got {s.memory_limit!r}: {exc}") from exc
    return replace(s, compression=codec)


def _apply_env(cfg: Config) -> Config:
    """Environment overrides for AWS endpoint settings (handy in CI and tests)."""
    endpoint = os.environ.get("CAIRN_AWS_ENDPOINT_URL")
    if endpoint:
        aws = AwsSettings(profile=cfg.aws.profile, region=cfg.aws.region, endpoint_url=endpoint)
        return Config(ingest=cfg.ingest, vpcflow=cfg.vpcflow, aws=aws, extra=cfg.extra, source=cfg.source)
    return cfg


# -- redaction for display -------------------------------------------------------------------------------
_ENV_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_KEY_PARTS = re.compile(r"[a-z0-9]+")
SECRET_KEY_WORDS = frozenset({"secret", "password", "passwd", "passphrase", "pwd", "token", "key", "apikey",
                              "auth", "authorization", "credential", "credentials", "signature", "sig"})
"""A key with one of these words (split at ``_``, ``-``, ``.`` and camelCase) holds a secret."""
SECRET_KEYS = frozenset({"webhook_url"})
"""Keys that hold secrets although no word of theirs says so (a Slack webhook URL is its token)."""
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)([^/?#\s:@]*):([^/?#\s]+)@")
_URL_USER_ONLY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)([^/?#\s:@]+)@")
"""``scheme://TOKEN@host``: a user name alone is sent as HTTP Basic auth, so it is the credential."""
_SECRET_PARAM = re.compile(
    r"(?i)\b((?:[\w-]*[_-])?(?:access_?token|token|secret|password|passwd|pwd|api_?key|apikey|key|sig|"
    r"signature|auth|credential))=([^&\s'\"#]+)")
_SLACK_HOOK = re.compile(r"(?i)(\bhooks\.slack(?:-gov)?\.com/(?:services/|workflows/|triggers/)?)([\w/%.~-]+)")
_HARMLESS_REST = re.compile(r"(?i)(?:bearer|basic|token|bot)?[\s:]*")


def is_secret_key(key: str) -> bool:
    """Whether a setting named ``key`` holds a secret (``password``, ``api_key``, ``X-Auth-Token``, ...)."""
    words = _KEY_PARTS.findall(re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower())
    return key.lower() in SECRET_KEYS or any(w in SECRET_KEY_WORDS for w in words)


def redact_text(text: str) -> str:
    """``text`` with URL passwords (or the user name of a URL without one), secret-looking URL/query parameters (``token=``, ``sig=``, ...) and
    Slack webhook paths replaced by ``***``."""
    def hide(value: str) -> str:
        return value if _ENV_REF.fullmatch(value) else "***"  # a ${ENV} reference is no secret

    out = _SLACK_HOOK.sub(lambda m: f"{m.group(1)}{hide(m.group(2))}", text)
    out = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={hide(m.group(2))}", out)
    out = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{hide(m.group(3))}@", out)
    return _URL_USER_ONLY.sub(lambda m: f"{m.group(1)}{hide(m.group(2))}@", out)


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:password@`` and the HTTP Basic ``Authorization`` value made from it (None
    when the URL has no userinfo). User and password are percent-decoded, as RFC 3986 writes them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=hostport)), f"Basic {token}"


def secrets_in_text(text: str) -> set[str]:
    """The substrings :func:`redact_text` would hide (to scrub them wherever else they show up)."""
    found = {m.group(2) for m in _SLACK_HOOK.finditer(text)}
    found |= {m.group(2) for m in _SECRET_PARAM.finditer(text)}
    found |= {m.group(3) for m in _URL_USERINFO.finditer(text)}
    found |= {m.group(2) for m in _URL_USER_ONLY.finditer(text)}
    return {s for s in found if not _ENV_REF.fullmatch(s)}


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of a settings value (table, list, scalar) fit to show: values of secret-looking keys become
    ``***`` (``${ENV}`` references stay, as written), other strings go through :func:`redact_text`."""
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    secret = key is not None and is_secret_key(key)
    if isinstance(value, str):
        if secret and value and not (_ENV_REF.search(value) and _HARMLESS_REST.fullmatch(_ENV_REF.sub("", value))):
            return "***"
        return redact_text(value)
    if secret and value is not None and not isinstance(value, bool):
        return "***"
    return value


DEFAULT_CONFIG_TEXT = """\
# cairn settings. Every key is optional; see docs/config.md.

[ingest]
# batch_files = 256         # files read by the engine in one batch
# batch_bytes = 268435456   # max decompressed bytes per batch (peak memory ~9x this)
# strict = false            # any quarantined record fails the run
# compression = "zstd"      # Parquet codec: uncompressed, snappy, gzip, zstd, lz4, lz4_raw, brotli
# threads = 0               # engine threads (0 or more), 0 = one per core
# memory_limit = ""         # e.g. "4GB"

[sources.vpcflow]
# Field order for flow log files without a header line (CloudWatch Logs exports).
# default_format = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

[aws]
# profile = ""
# region = ""
# endpoint_url = ""         # e.g. a local S3-compatible server

# [context]
# files = []                # inventory files loaded by `cairn context load` without arguments

# Where alerts go (docs/actions.md); secrets as ${ENV_VAR}.
# [actions.soc-slack]
# type = "slack"
# webhook_url = "${SLACK_WEBHOOK_URL}"
# min_severity = "high"
"""
