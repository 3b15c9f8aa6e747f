"""Times and durations given by users (``--since 24h``, ``--before 2026-01-31T12:00:00Z``,
``--baseline 14d``): one parser for every command and API, with errors naming the option."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import overload

from cairn.errors import ConfigError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdw])")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_TIME_HELP = "ISO 8601 such as 2026-01-31T12:00:00Z, or a duration back from now such as 24h, 7d, 30m"


def _duration_parts(text: str) -> list[tuple[str, str]] | None:
    """``[(number, unit), ...]`` of ``2h30m``-style text (no whitespace), or None when it is not one."""
    parts = _DURATION_PART.findall(text)
    return parts if text and "".join(n + u for n, u in parts) == text else None


def parse_duration(value: str | timedelta, *, option: str = "duration") -> timedelta:
    """A non-negative duration from ``500ms``, ``90s``, ``30m``, ``1.5h``, ``2h30m``, ``14d``, ``1w`` (or a ``timedelta``).

    Raises :class:`ConfigError` naming ``option`` when the text is not a duration, is negative or reaches
    back further than the calendar goes (``datetime`` starts at year 1)."""
    if isinstance(value, timedelta):
        d = value
    else:
        text = re.sub(r"\s+", "", str(value).lower())
        if text.startswith("-") and _duration_parts(text[1:]):
            raise ConfigError(f"{option}: {value} is negative; give a duration such as 30m, 1h, 14d")
        parts = _duration_parts(text)
        if parts is None:
            raise ConfigError(f"{option}: {value!r} is not a duration (examples: 30m, 1h, 2h30m, 14d)")
        try:
            d = timedelta(seconds=sum(float(n) * _SECONDS[u] for n, u in parts))
        except OverflowError:
            raise ConfigError(f"{option}: {value} is out of range") from None
    if d < timedelta(0):
        raise ConfigError(f"{option}: {value} is negative; give a duration such as 30m, 1h, 14d")
    try:
        datetime.now(UTC) - d
    except OverflowError:
        raise ConfigError(f"{option}: {value} is out of range") from None
    return d


@overload
def parse_time(value: str | datetime, *, now: datetime | None = None, option: str = "time") -> datetime: ...


@overload
def parse_time(value: None, *, now: datetime | None = None, option: str = "time") -> None: ...


def parse_time(value: str | datetime | None, *, now: datetime | None = None, option: str = "time") -> datetime | None:
    """A time from ``datetime``, ISO 8601 text (UTC when no offset) or a duration back from now (``24h``,
    ``7d``, ``2h30m``: see :func:`parse_duration`). Bad input raises :class:`ConfigError` naming ``option``."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ConfigError(f"{option}: expected a time ({_TIME_HELP}), got {value!r}")
    text = re.sub(r"\s+", "", value.lower())
    if _duration_parts(text.removeprefix("-")):
        d = parse_duration(value, option=option)
        try:
            return (now or datetime.now(UTC)) - d
        except OverflowError:
            raise ConfigError(f"{option}: {value} is out of range") from None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option}: not a time: {value!r} ({_TIME_HELP})") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def setting_seconds(value: object, *, what: str) -> float:
    """Seconds of a duration setting (rule windows, retry backoffs, cache TTLs): a number of seconds, or
    text as :func:`parse_duration` reads it (``500ms``, ``30s``, ``2h30m``, ``1d``; a bare ``90`` is seconds).

    Raises :class:`ConfigError` naming the setting ``what`` for anything else, negatives included."""
    help_text = f"{what}: expected a duration such as 30s, 10m, 2h30m or a number of seconds"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{help_text}; {value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0 or value != value or value == float("inf"):
            raise ConfigError(f"{help_text}; {value!r} is not a duration (negative or not finite)")
        return float(value)
    text = re.sub(r"\s+", "", value.lower())
    if _BARE_NUMBER.fullmatch(text):
        return float(text)
    if text.startswith("-") or _duration_parts(text) is None:
        raise ConfigError(f"{help_text}; {value!r} is not a duration")
    return parse_duration(text, option=what).total_seconds()
