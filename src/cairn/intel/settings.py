"""Settings of ownership and warninglists: ``[intel.ownership]`` and ``[intel.warninglists]``.

``cairn.config`` keeps ``[intel]`` in ``Config.extra`` for the intel stage; this
module reads the two sub-tables it owns (other ``[intel]`` keys belong to the
feeds and are ignored here). Unknown keys inside these sub-tables are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cairn.config import Config
from cairn.errors import ConfigError


@dataclass(frozen=True)
class OwnershipSettings:
    """``[intel.ownership]``."""

    mmdb: list[str] = field(default_factory=list)
    """The user's MaxMind / DB-IP / IPinfo .mmdb files (ASN and/or country); they win over bundled data."""
    aws_url: str = "https://ip-ranges.amazonaws.com/ip-ranges.json"
    """Where ``cairn intel update aws-ip-ranges`` downloads from."""
    tor_url: str = "https://check.torproject.org/torbulkexitlist"
    """Where the Tor exit-node list is refreshed from."""


@dataclass(frozen=True)
class WarninglistSettings:
    """``[intel.warninglists]``."""

    include: list[str] = field(default_factory=lambda: ["default"])
    """List ids to load; ``default`` is cairn's default set, ``all`` every list."""
    exclude: list[str] = field(default_factory=list)
    """List ids to leave out."""
    path: str = ""
    """A folder of MISP warninglists (``<id>/list.json`` or ``lists/<id>/list.json``) to use
    instead of the copy bundled in pymispwarninglists."""


@dataclass(frozen=True)
class IntelSettings:
    """The parts of ``[intel]`` read by ownership, warninglists and lookup."""

    ownership: OwnershipSettings = field(default_factory=OwnershipSettings)
    warninglists: WarninglistSettings = field(default_factory=WarninglistSettings)
    base: Path | None = None
    """Folder relative paths are resolved against (the config file's folder)."""

    def mmdb_paths(self) -> list[Path]:
        """The configured .mmdb files as absolute paths."""
        return [self._abs(p) for p in self.ownership.mmdb]

    def warninglist_path(self) -> Path | None:
        """The configured warninglists folder, if any."""
        return self._abs(self.warninglists.path) if self.warninglists.path else None

    def _abs(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() or self.base is None else self.base / path


def _section(cls: type, values: Any, name: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(unknown)}; valid keys are {', '.join(sorted(known))}")
    for key, value in values.items():
        default = getattr(cls(), key)
        if isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[{name}] {key} must be a list of strings, got {value!r}")
        elif not isinstance(value, type(default)):
            raise ConfigError(f"[{name}] {key} must be {type(default).__name__}, got {value!r}")
    return cls(**values)


def intel_settings(cfg: Config) -> IntelSettings:
    """Read ``[intel.ownership]`` and ``[intel.warninglists]`` from a loaded config."""
    intel = cfg.extra.get("intel", {}) or {}
    if not isinstance(intel, dict):
        raise ConfigError("[intel] must be a table")
    return IntelSettings(
        ownership=_section(OwnershipSettings, intel.get("ownership", {}), "intel.ownership"),
        warninglists=_section(WarninglistSettings, intel.get("warninglists", {}), "intel.warninglists"),
        base=cfg.source.parent if cfg.source else None,
    )
