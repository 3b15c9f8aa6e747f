"""``[detect]`` settings (kept by ``cairn.config`` in ``Config.extra``; documented in docs/config.md)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cairn.config import Config
from cairn.detect.intel_match import WARNINGLIST_MODES
from cairn.errors import ConfigError
from cairn.timeparse import setting_seconds


def parse_duration(value: Any, *, what: str) -> int:
    """Whole seconds of ``value``: a number (seconds) or text like ``90s``, ``10m``, ``1h30m``, ``2d``, ``1w``
    (:func:`cairn.timeparse.setting_seconds`, rounded)."""
    return round(setting_seconds(value, what=what))


@dataclass(frozen=True)
class DetectSettings:
    """``[detect]``."""

    sigma: list[str] = field(default_factory=list)
    """Folders/files of Sigma rules run by ``cairn detect``."""
    native: list[str] = field(default_factory=lambda: ["builtin"])
    """Folders/files of native rules; ``builtin`` is the set shipped in cairn/data/rules."""
    intel_match: bool = True
    """Run the built-in intel-match rule."""
    intel_min_score: int = 8
    """Verdict (OCSF reputation score_id 0-10) at or above which an observable raises an intel alert."""
    intel_warninglists: str = "all"
    """Warninglist hits the intel-match rule leaves out: ``all`` or only ``demote`` lists (then a value on a
    context list, such as cloud ranges or dynamic DNS, alerts)."""
    suppression: str = "1h"
    """Window of rules that do not set their own (Sigma rules): matches with one dedup key in one window
    make one alert."""
    enrich: bool = True
    """Bring the enrichment tables up to date before detecting."""
    dispatch: bool = True
    """Hand new alerts to cairn.actions when that package is installed."""
    base: Path | None = None

    def suppression_seconds(self) -> int:
        """``suppression`` in seconds."""
        return parse_duration(self.suppression, what="[detect] suppression")

    def paths(self, items: list[str]) -> list[Path]:
        """Configured paths, relative ones against the config file's folder."""
        out = []
        for p in items:
            path = Path(p).expanduser()
            out.append(path if path.is_absolute() or self.base is None else self.base / path)
        return out


def detect_settings(cfg: Config) -> DetectSettings:
    """Read and check ``[detect]``."""
    values = cfg.extra.get("detect", {}) or {}
    if not isinstance(values, dict):
        raise ConfigError("[detect] must be a table")
    known = {f.name: f for f in fields(DetectSettings) if f.name != "base"}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) in [detect]: {', '.join(unknown)}; "
                          f"valid keys are {', '.join(sorted(known))}")
    defaults = DetectSettings()
    for key, value in values.items():
        default = getattr(defaults, key)
        if isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[detect] {key} must be a list of strings, got {value!r}")
        elif not isinstance(value, type(default)) or isinstance(value, bool) != isinstance(default, bool):
            raise ConfigError(f"[detect] {key} must be {type(default).__name__}, got {value!r}")
    s = DetectSettings(**values, base=cfg.source.parent if cfg.source else None)
    if not 0 <= s.intel_min_score <= 10:
        raise ConfigError(f"[detect] intel_min_score must be 0-10, got {s.intel_min_score}")
    if s.intel_warninglists not in WARNINGLIST_MODES:
        raise ConfigError(f"[detect] intel_warninglists must be one of {', '.join(WARNINGLIST_MODES)}, "
                          f"got {s.intel_warninglists!r}")
    s.suppression_seconds()
    return s
