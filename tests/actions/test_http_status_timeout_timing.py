"""HTTP delivery details: every 5xx is retried, a timeout must be positive, ``delivered_at`` is when each
item was delivered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from actions.conftest import HttpServer, Reply, Workplace, make_alert
from cairn.actions import actions_settings, deliver_pending, dispatch
from cairn.actions.destinations.http import retriable
from cairn.errors import ConfigError


def _hook(http: HttpServer, **extra: Any) -> Any:
    return actions_settings({"hook": {"type": "webhook", "url": f"{http.url}/in", "sign": False,
                                      "backoff": "10s", **extra}})


@pytest.mark.parametrize("status", [501, 507])
def test_every_5xx_is_retried(place: Workplace, http: HttpServer, status: int) -> None:
    cfg = _hook(http)
    http.script = [Reply(status, b"not now")]
    t0 = dt.datetime.now(dt.UTC)
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg, now=t0)
    assert (s.delivered, s.retrying, s.failed) == (0, 1, 0)
    assert s.errors[0]["outcome"] == "retrying" and f"HTTP {status}" in s.errors[0]["error"]
    [row] = place.outbox()
    assert (row["status"], row["attempts"]) == ("pending", 1)
    s2 = deliver_pending(place.engine, place.ws, cfg, now=t0 + dt.timedelta(seconds=11))
    assert (s2.attempted, s2.delivered) == (1, 1)
    [row] = place.outbox()
    assert (row["status"], row["attempts"], row["receipt"]) == ("delivered", 2, "HTTP 200")
    assert len(http.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_4xx_fail_for_good(place: Workplace, http: HttpServer, status: int) -> None:
    http.script = [Reply(status, b"no")]
    s = dispatch(place.engine, place.ws, [make_alert(1)], _hook(http))
    assert (s.delivered, s.retrying, s.failed) == (0, 0, 1)
    [row] = place.outbox()
    assert (row["status"], row["attempts"]) == ("failed", 1)


def test_retriable_statuses() -> None:
    assert [c for c in (400, 401, 403, 404, 408, 409, 425, 429, 499) if retriable(c)] == [408, 425, 429]
    assert all(retriable(c) for c in range(500, 600))
    assert not any(retriable(c) for c in (200, 301, 302, 600))


@pytest.mark.parametrize("value", ["0s", 0, "0ms", 0.0])
def test_a_timeout_of_zero_is_refused(value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        actions_settings({"hook": {"type": "webhook", "url": "http://127.0.0.1/in", "sign": False,
                                   "timeout": value}})
    assert str(err.value) == f"[actions.hook] timeout must be more than 0 seconds, got {value!r}"


def test_a_zero_default_timeout_is_refused_naming_the_action() -> None:
    with pytest.raises(ConfigError) as err:
        actions_settings({"timeout": "0s", "out": {"type": "stdout"}})
    assert str(err.value) == "[actions] (default of [actions.out]) timeout must be more than 0 seconds, got '0s'"


@pytest.mark.parametrize("value", [-1, "-5s"])
def test_a_negative_timeout_is_refused(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"\[actions\.hook\] timeout"):
        actions_settings({"hook": {"type": "webhook", "url": "http://127.0.0.1/in", "sign": False,
                                   "timeout": value}})


def test_a_small_positive_timeout_is_kept() -> None:
    assert actions_settings({"out": {"type": "stdout", "timeout": "250ms"}}).get("out").timeout == 0.25


def test_delivered_at_is_when_each_item_was_sent(place: Workplace, http: HttpServer) -> None:
    http.default = Reply(200, delay=1.0)
    before = dt.datetime.now(dt.UTC)
    s = dispatch(place.engine, place.ws, [make_alert(1), make_alert(2)], _hook(http, timeout="5s"))
    after = dt.datetime.now(dt.UTC)
    assert s.delivered == 2
    first, second = sorted(r["delivered_at"] for r in place.outbox())
    assert before + dt.timedelta(seconds=0.9) <= first <= after - dt.timedelta(seconds=0.9)
    assert 0.9 <= (second - first).total_seconds() <= 1.9
    assert second <= after
