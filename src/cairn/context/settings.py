"""Settings of the context stage: ``[context]`` in ``cairn.toml``.

``cairn.config`` keeps unknown sections in ``Config.extra``; this module reads
``[context]`` into a typed, frozen :class:`ContextSettings`. Unknown keys are errors.

```toml
[context]
files = ["inventory/accounts.yaml", "inventory/networks.csv"]   # relative to this file's folder
```
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from cairn.config import Config
from cairn.errors import ConfigError


@dataclass(frozen=True)
class ContextSettings:
    """``[context]``."""

    files: tuple[str, ...] = ()
    """Inventory files that ``cairn context load`` without arguments (and the demo) loads."""
    base: Path | None = None
    """Folder relative paths are resolved against (the config file's folder)."""

    def file_paths(self) -> list[Path]:
        """The configured files as paths (relative ones against :attr:`base`)."""
        out = []
        for f in self.files:
            p = Path(f).expanduser()
            out.append(p if p.is_absolute() or self.base is None else self.base / p)
        return out


def context_settings(cfg: Config) -> ContextSettings:
    """Read ``[context]`` from a loaded config."""
    section = cfg.extra.get("context", {}) or {}
    where = f"{cfg.source}: " if cfg.source else ""
    if not isinstance(section, dict):
        raise ConfigError(f"{where}the context section must be a table")
    known = ({f.name for f in fields(ContextSettings)} - {"base"}) | {"aws"}  # [context.aws]: cairn.context.aws
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{where}unknown key(s) in the context section: {', '.join(unknown)}; valid keys are "
                          f"{', '.join(sorted(known))}")
    files = section.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) and f.strip() for f in files):
        raise ConfigError(f"{where}files in the context section must be a list of file names, got {files!r}")
    return ContextSettings(files=tuple(files), base=cfg.source.parent if cfg.source else None)


def bundled_inventory() -> list[Path]:
    """The example inventory bundled with cairn (``cairn/data/context``, a copy of
    ``examples/inventory``), fitting the bundled samples: for ``cairn demo``."""
    folder = Path(str(resources.files("cairn") / "data" / "context"))
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".csv"))
