"""Log and finding sources, in an explicit registry.

Each module defines one :class:`~cairn.sources.base.Source` named ``SOURCE``;
:data:`SOURCES` maps the names users type (``--source``) to them.
"""

from __future__ import annotations

from cairn.errors import ConfigError
from cairn.sources import cloudtrail, generic, guardduty, route53, securityhub, vpcflow
from cairn.sources.base import Source

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (cloudtrail.SOURCE, vpcflow.SOURCE, route53.SOURCE, guardduty.SOURCE, securityhub.SOURCE, generic.SOURCE)
}


def register(source: Source) -> None:
    """Add a source to the registry (used by the modules below and by plugins)."""
    SOURCES[source.name] = source


def get_source(name: str) -> Source:
    """The source called ``name``; unknown names list the valid ones."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(
            f"unknown source {name!r}; valid sources are auto, {', '.join(sorted(SOURCES))}"
        ) from None


def all_tables() -> dict[str, object]:
    """Every lake table of every source, by name."""
    return {t.name: t for s in SOURCES.values() for t in s.tables}
