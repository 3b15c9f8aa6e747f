"""Settings of the AWS context collectors: ``[context.aws]`` in ``cairn.toml``.

```toml
[context.aws]
role_name = "cairn-context-read"   # role assumed in each member account (resource tags); "" = caller's account only
ttl = "12h"                        # skip API calls for a scope loaded less than this long ago
regions = ["us-east-1", "eu-west-1"]  # EC2 regions; default: the session's region
resources = true                   # collect EC2 / IAM / S3 tags (false: Organizations only)
contact_types = ["SECURITY", "OPERATIONS"]
owner_tags = ["owner", "owner-email", "contact"]        # tag keys (any case) giving owner, team, ...
team_tags = ["team", "squad", "owner-team"]
environment_tags = ["environment", "env", "stage"]
criticality_tags = ["criticality", "business-criticality"]
max_attempts = 5                   # botocore retries (standard mode) per call
backoff_attempts = 4               # cairn's own backoff on throttling after botocore gave up
backoff_base = 1.0                 # seconds; doubled each time, with jitter, capped at 30s
```
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from cairn.config import Config
from cairn.errors import ConfigError
from cairn.timeparse import setting_seconds


def parse_duration(value: str | int | float, *, what: str = "[context.aws] ttl") -> float:
    """Seconds of ``"12h"``, ``"30m"``, ``"2d"``, ``"0"`` (always refresh) or a number of seconds."""
    return setting_seconds(value, what=what)


@dataclass(frozen=True)
class AwsContextSettings:
    """``[context.aws]``."""

    role_name: str = ""
    """Role assumed in every member account to read resource tags (sts:AssumeRole); empty: only the
    caller's own account is read for resources."""
    ttl: str = "12h"
    regions: tuple[str, ...] = ()
    resources: bool = True
    contact_types: tuple[str, ...] = ("SECURITY", "OPERATIONS", "BILLING")
    owner_tags: tuple[str, ...] = ("owner", "owner-email", "owner_email", "contact")
    team_tags: tuple[str, ...] = ("team", "owner-team", "owner_team", "squad")
    environment_tags: tuple[str, ...] = ("environment", "env", "stage")
    criticality_tags: tuple[str, ...] = ("criticality", "business-criticality", "business_criticality")
    max_attempts: int = 5
    backoff_attempts: int = 4
    backoff_base: float = 1.0
    session_name: str = "cairn-context-sync"

    @property
    def ttl_seconds(self) -> float:
        return parse_duration(self.ttl)

    def with_options(self, **options: Any) -> AwsContextSettings:
        """A copy with the options that are not None."""
        return replace(self, **{k: v for k, v in options.items() if v is not None})


_LISTS = {"regions", "contact_types", "owner_tags", "team_tags", "environment_tags", "criticality_tags"}


def aws_context_settings(cfg: Config) -> AwsContextSettings:
    """Read ``[context.aws]`` from a loaded config (unknown keys and wrong types are errors)."""
    section = (cfg.extra.get("context") or {}).get("aws", {}) or {}
    where = f"{cfg.source}: " if cfg.source else ""
    if not isinstance(section, dict):
        raise ConfigError(f"{where}[context.aws] must be a table")
    known = {f.name: f for f in fields(AwsContextSettings)}
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(f"{where}unknown key(s) in [context.aws]: {', '.join(unknown)}; valid keys are "
                          f"{', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    default = AwsContextSettings()
    for key, value in section.items():
        if key in _LISTS:
            if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
                raise ConfigError(f"{where}[context.aws] {key} must be a list of text, got {value!r}")
            values[key] = tuple(x.strip() for x in value)
        elif key == "ttl":
            parse_duration(value)
            values[key] = str(value)
        else:
            want = type(getattr(default, key))
            ok = isinstance(value, want) or (want is float and isinstance(value, int))
            if not ok or isinstance(value, bool) != (want is bool):
                raise ConfigError(f"{where}[context.aws] {key} must be {want.__name__}, got {value!r}")
            values[key] = float(value) if want is float else value
    return AwsContextSettings(**values)
