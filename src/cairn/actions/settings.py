"""``[actions]`` settings: one ``[actions.NAME]`` table per action (kept by ``cairn.config`` in
``Config.extra``; documented in docs/actions.md and docs/config.md).

Scalar keys directly under ``[actions]`` are defaults for every action (retry policy, timeout).
Option values may hold ``${ENV}`` references; they are resolved only when a delivery runs
(:func:`resolve`) and every resolved value is treated as a secret (:class:`Scrubber`).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cairn.config import Config, is_secret_key, redact, redact_text, secrets_in_text
from cairn.errors import ConfigError
from cairn.timeparse import setting_seconds

SEVERITIES = ("informational", "low", "medium", "high", "critical")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
COMMON_KEYS = frozenset({"type", "enabled", "rules", "exclude_rules", "min_severity", "severities",
                         "max_attempts", "backoff", "max_backoff", "timeout"})
RETRY_DEFAULTS: dict[str, Any] = {"max_attempts": 12, "backoff": "30s", "max_backoff": "6h", "timeout": "10s"}


def duration(value: Any, *, what: str) -> float:
    """Seconds of ``value``: a number (seconds) or text like ``500ms``, ``30s``, ``10m``, ``6h``, ``1d``
    (:func:`cairn.timeparse.setting_seconds`)."""
    return setting_seconds(value, what=what)


@dataclass(frozen=True)
class Match:
    """Which alerts an action takes: rule id globs, excluded globs, a severity floor or list."""

    rules: tuple[str, ...] = ("*",)
    exclude_rules: tuple[str, ...] = ()
    min_severity: str = "informational"
    severities: tuple[str, ...] = ()

    def accepts(self, alert: Mapping[str, Any]) -> bool:
        """Whether ``alert`` (an ``Alert.to_dict()``) matches."""
        rule = str(alert.get("rule_id") or "")
        sev = str(alert.get("severity") or "informational").lower()
        if not any(fnmatch.fnmatchcase(rule, p) for p in self.rules):
            return False
        if any(fnmatch.fnmatchcase(rule, p) for p in self.exclude_rules):
            return False
        if self.severities:
            return sev in self.severities
        rank = SEVERITIES.index(sev) if sev in SEVERITIES else 0
        return rank >= SEVERITIES.index(self.min_severity)

    def describe(self) -> str:
        """A short human description."""
        parts = []
        if self.rules != ("*",):
            parts.append("rules " + ",".join(self.rules))
        if self.exclude_rules:
            parts.append("not " + ",".join(self.exclude_rules))
        parts.append("severity " + ("|".join(self.severities) if self.severities else f">= {self.min_severity}"))
        return "; ".join(parts)


@dataclass(frozen=True)
class ActionConfig:
    """One ``[actions.NAME]``."""

    name: str
    type: str
    match: Match = field(default_factory=Match)
    options: dict[str, Any] = field(default_factory=dict)
    """Destination options as written (``${ENV}`` unresolved)."""
    enabled: bool = True
    max_attempts: int = 12
    backoff: float = 30.0
    max_backoff: float = 6 * 3600.0
    timeout: float = 10.0


@dataclass(frozen=True)
class ActionsSettings:
    """All configured actions, by name."""

    actions: dict[str, ActionConfig] = field(default_factory=dict)

    def enabled(self) -> list[ActionConfig]:
        """The enabled actions, by name."""
        return [a for _, a in sorted(self.actions.items()) if a.enabled]

    def get(self, name: str) -> ActionConfig:
        """One action by name (ConfigError naming the configured ones otherwise)."""
        if name not in self.actions:
            known = ", ".join(sorted(self.actions)) or "none configured"
            raise ConfigError(f"no action named {name!r} in [actions] ({known})")
        return self.actions[name]


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} must be a string or a list of strings, got {value!r}")


def _severity(value: Any, what: str) -> str:
    if not isinstance(value, str) or value.lower() not in SEVERITIES:
        raise ConfigError(f"{what} must be one of {', '.join(SEVERITIES)}, got {value!r}")
    return value.lower()


def _timeout(value: Any, where: str) -> float:
    """The network timeout of one attempt: a duration of more than 0 (0 or less makes every socket
    operation fail at once, so every delivery would fail)."""
    seconds = duration(value, what=f"{where} timeout")
    if not seconds > 0:
        raise ConfigError(f"{where} timeout must be more than 0 seconds, got {value!r}")
    return seconds


def parse_action(name: str, values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> ActionConfig:
    """Check and build one action from its TOML table (``defaults``: the ``[actions]`` scalars)."""
    from cairn.actions.destinations import DESTINATIONS

    where = f"[actions.{name}]"
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a table")
    kind = values.get("type")
    if kind not in DESTINATIONS:
        raise ConfigError(f"{where} type must be one of {', '.join(sorted(DESTINATIONS))}, got {kind!r}")
    dest = DESTINATIONS[kind]
    allowed = COMMON_KEYS | set(dest.allowed_options())
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys for type {kind!r} are "
                          f"{', '.join(sorted(allowed))}")
    missing = sorted(k for k in dest.REQUIRED if k not in values)
    if missing:
        raise ConfigError(f"{where}: type {kind!r} needs {', '.join(missing)}")
    merged = {**RETRY_DEFAULTS, **(defaults or {}), **values}
    max_attempts = merged["max_attempts"]
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ConfigError(f"{where} max_attempts must be a positive integer, got {max_attempts!r}")
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where} enabled must be true or false")
    match = Match(
        rules=_strings(values.get("rules", ["*"]), f"{where} rules"),
        exclude_rules=_strings(values.get("exclude_rules", []), f"{where} exclude_rules"),
        min_severity=_severity(values.get("min_severity", "informational"), f"{where} min_severity"),
        severities=tuple(_severity(s, f"{where} severities")
                         for s in _strings(values.get("severities", []), f"{where} severities")),
    )
    options = {k: v for k, v in values.items() if k not in COMMON_KEYS}
    cfg = ActionConfig(
        name=name, type=kind, match=match, options=options, enabled=enabled, max_attempts=max_attempts,
        backoff=duration(merged["backoff"], what=f"{where} backoff"),
        max_backoff=duration(merged["max_backoff"], what=f"{where} max_backoff"),
        timeout=_timeout(merged["timeout"], where if "timeout" in values else f"[actions] (default of {where})"),
    )
    dest.check(cfg)
    return cfg


def actions_settings(cfg: Config | Mapping[str, Any] | None) -> ActionsSettings:
    """Read ``[actions]`` from a :class:`Config` (or the ``[actions]`` mapping itself)."""
    if cfg is None:
        return ActionsSettings()
    section = cfg.extra.get("actions", {}) if isinstance(cfg, Config) else cfg
    if not isinstance(section, Mapping):
        raise ConfigError("[actions] must be a table")
    defaults = {k: v for k, v in section.items() if not isinstance(v, Mapping)}
    bad = sorted(set(defaults) - set(RETRY_DEFAULTS))
    if bad:
        raise ConfigError(f"[actions]: unknown key(s) {', '.join(bad)}; actions go in [actions.NAME] tables, "
                          f"defaults for all of them are {', '.join(sorted(RETRY_DEFAULTS))}")
    actions = {name: parse_action(name, v, defaults) for name, v in section.items() if isinstance(v, Mapping)}
    return ActionsSettings(actions=actions)


# -- secrets ---------------------------------------------------------------------------------------------
class Scrubber:
    """Removes known secret values, then what :func:`cairn.config.redact_text` hides, from text."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        self.secrets: set[str] = {s for s in (secrets or set()) if s}

    def add(self, value: str) -> None:
        """Treat ``value`` as a secret from now on."""
        if value and len(value) >= 3:
            self.secrets.add(value)

    def __call__(self, text: Any) -> str:
        out = str(text)
        for s in sorted(self.secrets, key=len, reverse=True):
            out = out.replace(s, "***")
        return redact_text(out)


def resolve(value: Any, scrubber: Scrubber, *, what: str, env: Mapping[str, str] | None = None) -> Any:
    """``value`` with ``${ENV}`` references replaced (recursively in lists and tables). Every resolved
    value becomes a secret of ``scrubber``; a missing variable is a ConfigError naming it."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            var = m.group(1)
            if var not in env:
                raise ConfigError(f"{what}: environment variable {var} is not set")
            scrubber.add(env[var])
            return env[var]

        out = _ENV.sub(sub, value)
        if out != value:
            scrubber.add(out)
        return out
    if isinstance(value, list):
        return [resolve(v, scrubber, what=what, env=env) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, scrubber, what=f"{what}.{k}", env=env) for k, v in value.items()}
    return value


def resolved_options(cfg: ActionConfig, scrubber: Scrubber) -> dict[str, Any]:
    """The action's options with ``${ENV}`` resolved. Values of secret-looking keys (at any depth, e.g. a
    Slack webhook URL or an ``Authorization`` header) and URL passwords/tokens become secrets of
    ``scrubber`` even when written in clear."""
    out = {k: resolve(v, scrubber, what=f"[actions.{cfg.name}] {k}") for k, v in cfg.options.items()}
    _learn(out, None, scrubber)
    return out


def _learn(value: Any, key: str | None, scrubber: Scrubber) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _learn(v, str(k), scrubber)
    elif isinstance(value, list | tuple):
        for v in value:
            _learn(v, key, scrubber)
    elif isinstance(value, str):
        if key is not None and is_secret_key(key):
            scrubber.add(value)
        for s in secrets_in_text(value):
            scrubber.add(s)
            scrubber.add(unquote(s))
    elif key is not None and is_secret_key(key) and value is not None and not isinstance(value, bool):
        scrubber.add(str(value))


def redacted_options(cfg: ActionConfig) -> dict[str, Any]:
    """Options for display (:func:`cairn.config.redact`): ``${ENV}`` references as written, secret-looking
    values, URL passwords and tokens, Slack webhook paths hidden."""
    return {k: redact(v, k) for k, v in cfg.options.items()}
