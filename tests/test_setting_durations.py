"""Duration settings (rule windows, retry backoffs, context TTLs) share one grammar with ``--since`` and
friends: numbers are seconds, text is ``500ms``/``30s``/``2h30m``/``1d``; anything else names the setting."""

from __future__ import annotations

import pytest

from cairn.actions.settings import duration
from cairn.context.aws.settings import parse_duration as context_ttl
from cairn.detect.settings import parse_duration as rule_window
from cairn.errors import ConfigError
from cairn.timeparse import setting_seconds


@pytest.mark.parametrize(("value", "seconds"), [
    (0, 0.0), (90, 90.0), (1.5, 1.5), ("90", 90.0), (" 2.5 ", 2.5), ("500ms", 0.5), ("30s", 30.0),
    ("10m", 600.0), ("1.5h", 5400.0), ("2h30m", 9000.0), ("1d", 86400.0), ("1w", 604800.0), ("1 h 30 m", 5400.0),
    ("6H", 21600.0),
])
def test_setting_seconds(value: object, seconds: float) -> None:
    assert setting_seconds(value, what="x") == seconds


@pytest.mark.parametrize("value", ["soon", "-1h", "-5", -1, True, None, [], "5 minutes", "1h-", "", float("nan"),
                                   float("inf"), "h"])
def test_setting_seconds_refuses(value: object) -> None:
    with pytest.raises(ConfigError) as err:
        setting_seconds(value, what="[detect] suppression")
    assert str(err.value).startswith("[detect] suppression: expected a duration")


def test_every_setting_uses_the_same_grammar() -> None:
    """Each kind of setting accepted only its own subset before (no 2h30m for rule windows, no 1w for
    retries, no fractions for windows); now they agree, with the type each caller needs."""
    assert duration("1w", what="backoff") == 604800.0
    assert rule_window("2h30m", what="threshold.window") == 9000
    assert rule_window("1.5m", what="threshold.window") == 90
    assert context_ttl("12h") == 43200.0
    with pytest.raises(ConfigError, match=r"^--ttl: expected a duration.*'sometime' is not a duration"):
        context_ttl("sometime", what="--ttl")
