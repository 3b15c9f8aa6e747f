"""POSTing to HTTP endpoints with the standard library: no redirects, timeouts, classified failures."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from cairn.actions.destinations.base import PermanentDeliveryError, transient
from cairn.actions.settings import Scrubber
from cairn.config import secrets_in_text, split_userinfo
from cairn.errors import ConfigError

RETRY_STATUSES = frozenset({408, 425, 429})
"""4xx statuses that are retried; every 5xx is retried too (:func:`retriable`), other statuses are not."""
USER_AGENT = "cairn-actions"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirected POST would lose its body: report the 3xx instead


_OPENER = urllib.request.build_opener(_NoRedirect())


def check_url(url: Any, what: str) -> None:
    """An ``http(s)://host...`` URL or ``${ENV}`` (checked when resolved)."""
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{what} must be a URL")
    if url.startswith("${"):
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{what} must be an http:// or https:// URL")


def retriable(status: int) -> bool:
    """Whether an HTTP error status is worth retrying: 408, 425, 429 and every 5xx."""
    return status in RETRY_STATUSES or 500 <= status <= 599


def retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, what: str) -> tuple[int, str]:
    """POST ``body``; returns (status, response text) for 2xx, raises a transient error for timeouts,
    connection failures, 408/425/429/5xx, and :class:`PermanentDeliveryError` for other statuses.
    Userinfo in ``url`` is sent as HTTP Basic auth (an ``Authorization`` in ``headers`` wins). Messages
    name ``what`` (never the URL, which may hold a token) and never hold the credentials."""
    check_url(url, what)
    target, basic = split_userinfo(url)
    scrub = Scrubber()
    for secret in secrets_in_text(url) | ({basic.split(" ", 1)[1]} if basic else set()):
        scrub.add(secret)
        scrub.add(unquote(secret))
    headers = {"User-Agent": USER_AGENT, **headers}
    if basic is not None and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = basic
    try:
        req = urllib.request.Request(target, data=body, method="POST", headers=headers)
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        text = exc.read(512).decode("utf-8", "replace").strip() if exc.fp else ""
        msg = scrub(f"{what}: HTTP {exc.code} {exc.reason}" + (f": {text[:200]}" if text else ""))
        if retriable(exc.code):
            raise transient(msg, retry_after=retry_after(exc.headers.get("Retry-After"))) from None
        raise PermanentDeliveryError(msg) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise transient(f"{what}: timed out after {timeout:g}s") from None
        raise transient(scrub(f"{what}: cannot connect: {reason}")) from None
    except TimeoutError:
        raise transient(f"{what}: timed out after {timeout:g}s") from None
    except (ConnectionError, OSError) as exc:
        raise transient(scrub(f"{what}: connection failed: {exc}")) from None
    except ValueError:  # http.client.InvalidURL and friends quote the URL: say no more than this
        raise PermanentDeliveryError(f"{what}: invalid URL or header value") from None
