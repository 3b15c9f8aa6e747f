"""Configured feeds (``[intel.feeds.NAME]``) and their refresh over HTTP.

Settings of one feed (every key optional except ``url`` or ``path``)::

    [intel.feeds.feodo]
    url = "https://feodotracker.abuse.ch/downloads/ipblocklist.csv"
    format = "abusech"            # auto | stix | misp | csv | abusech | plain | ipsum | maltrail | guardduty-*
    max_age_days = 30             # indicators older than this (last_seen, else valid_from/first_seen/load) expire
    decay_half_life_days = 14     # effective_confidence halves every 14 days of age
    confidence = 80               # default when the feed gives none
    severity = "high"
    threat_type = "c2"
    tlp = "clear"
    internal = false              # true: the feed lists our own (private) ranges; skip that sanity check
    max_prefix_v4 = 8             # refuse broader CIDRs
    max_prefix_v6 = 32
    timeout = 30                  # seconds per request
    retries = 3                   # extra tries on 5xx, 429 and timeouts (exponential backoff)
    headers = { Authorization = "Bearer ${FEED_TOKEN}" }   # ${ENV} is read at request time
    options = { preset = "feodo" }                           # format options
    [intel.feeds.feodo.columns]   # csv: cairn field = feed column
    value = "dst_ip"

HTTP: ``If-None-Match`` / ``If-Modified-Since`` from the current version (304 = not
modified, nothing is parsed), retries with backoff ``0.5 s * 2^n`` (``Retry-After`` honoured
up to 60 s) on 5xx, 429 and timeouts; other 4xx fail at once. Only http:// and https:// URLs
are supported. User info in a URL (``https://user:password@host/...``) is sent as HTTP Basic auth
(an ``Authorization`` in ``headers`` wins) and is dropped when a redirect leaves the host. Header
values are never logged or stored; error messages and stored origins show URLs masked
(``user:***@``).
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from cairn.config import Config, redact_text, split_userinfo
from cairn.errors import ConfigError, RemoteError, TransientError
from cairn.intel.formats import ParseContext, check_arguments, detect, get_format
from cairn.intel.inputs import FeedInput, LocalInput, UrlInput
from cairn.intel.store import IntelStore, LoadReport, LoadSettings, Progress, check_settings

USER_AGENT = "cairn-intel/0.1"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
SCHEMES = ("http", "https")
"""URL schemes a feed can be fetched with."""


def url_scheme(target: str) -> str | None:
    """The lower-case scheme of ``scheme://...``, else None (a local path)."""
    m = _SCHEME.match(target)
    return m[1].lower() if m else None


def check_url(url: str, what: str) -> None:
    """Raise a :class:`ConfigError` naming ``what`` unless ``url`` is an http(s) URL with a host."""
    scheme = url_scheme(url)
    if scheme not in SCHEMES:
        found = f"not {scheme}://" if scheme else "got no URL"
        raise ConfigError(f"{what} {redact_text(url)}: only http:// and https:// URLs are supported, {found}")
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:
        raise ConfigError(f"{what} is not a valid URL ({exc}): {redact_text(url)}") from None
    if not host:
        raise ConfigError(f"{what} has no host: {redact_text(url)}")


@dataclass(frozen=True)
class FeedConfig:
    """``[intel.feeds.NAME]``."""

    name: str
    url: str = ""
    path: str = ""
    format: str = "auto"
    options: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    max_age_days: float = 0.0
    decay_half_life_days: float = 0.0
    confidence: int = -1
    severity: str = ""
    threat_type: str = ""
    tlp: str = ""
    max_prefix_v4: int = 8
    max_prefix_v6: int = 32
    timeout: float = 30.0
    retries: int = 3

    def settings(self) -> LoadSettings:
        """The store's view of these settings."""
        return LoadSettings(
            internal=self.internal, max_age_days=self.max_age_days,
            decay_half_life_days=self.decay_half_life_days,
            confidence=self.confidence if self.confidence >= 0 else None,
            severity=self.severity or None, threat_type=self.threat_type or None, tlp=self.tlp or None,
            max_prefix_v4=self.max_prefix_v4, max_prefix_v6=self.max_prefix_v6,
        )


def feed_configs(cfg: Config) -> dict[str, FeedConfig]:
    """All ``[intel.feeds.*]`` sections, validated (unknown keys and wrong types are errors)."""
    intel = cfg.extra.get("intel", {}) or {}
    feeds = intel.get("feeds", {}) if isinstance(intel, dict) else None
    if not isinstance(feeds, dict):
        raise ConfigError("[intel.feeds] must be a table of feed tables")
    base = cfg.source.parent if cfg.source else None
    return {name: parse_feed(name, values, base) for name, values in feeds.items()}


def parse_feed(name: str, values: Any, base: Path | None = None) -> FeedConfig:
    """One feed section as a :class:`FeedConfig`."""
    where = f"[intel.feeds.{name}]"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table")
    known = {f.name: f for f in fields(FeedConfig) if f.name != "name"}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}; valid keys are {', '.join(sorted(known))}")
    default = FeedConfig(name)
    for key, value in values.items():
        want = getattr(default, key)
        if isinstance(want, dict):
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{where} {key} must be a table of strings")
        elif isinstance(want, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{where} {key} must be a non-negative number, got {value!r}")
        elif isinstance(value, bool) != isinstance(want, bool) or not isinstance(value, type(want)):
            raise ConfigError(f"{where} {key} must be {type(want).__name__}, got {value!r}")
    values = {k: float(v) if isinstance(getattr(default, k), float) else v for k, v in values.items()}
    if "confidence" in values and values["confidence"] != -1 and not 0 <= values["confidence"] <= 100:
        raise ConfigError(f"{where} confidence must be 0-100 (-1: none), got {values['confidence']!r}")
    if "timeout" in values and not values["timeout"] > 0:
        raise ConfigError(f"{where} timeout must be a number of seconds > 0, got {values['timeout']!r}")
    if "retries" in values and values["retries"] < 0:
        raise ConfigError(f"{where} retries must be >= 0, got {values['retries']!r}")
    feed = FeedConfig(name, **values)
    check_settings(feed.settings(), lambda key: f"{where} {key}")
    if bool(feed.url) == bool(feed.path):
        raise ConfigError(f"{where} needs exactly one of url or path")
    if url_scheme(feed.path):
        raise ConfigError(f"{where} path must be a local file or folder, got a URL: {redact_text(feed.path)}; "
                          "use url = \"https://...\" (only http:// and https:// URLs are supported)")
    if feed.path and base is not None and not Path(feed.path).expanduser().is_absolute():
        feed = FeedConfig(**{**feed.__dict__, "path": str(base / Path(feed.path))})
    if feed.format != "auto":
        get_format(feed.format)
    if feed.url:
        check_url(feed.url, f"{where} url")
    return feed


def expand_env(value: str) -> str:
    """``${NAME}`` -> the environment variable (missing ones are a configuration error)."""
    def sub(m: re.Match[str]) -> str:
        if m[1] not in os.environ:
            raise ConfigError(f"environment variable {m[1]} (used in a feed header) is not set")
        return os.environ[m[1]]

    return _ENV.sub(sub, value)


@dataclass
class Response:
    """An HTTP result: 200 with a body (in memory or in ``path``) or 304."""

    status: int
    body: bytes | None = None
    path: Path | None = None
    etag: str | None = None
    last_modified: str | None = None


class HttpClient:
    """GET with conditional headers, timeouts and retries (urllib; no extra dependency)."""

    def __init__(self, headers: dict[str, str] | None = None, *, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.headers = dict(headers or {})
        self.timeout, self.retries, self.backoff, self.sleep = timeout, retries, backoff, sleep

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
            dest: Path | None = None) -> Response:
        """Fetch ``url`` (into ``dest`` when given, else into memory); user info in ``url`` becomes HTTP
        Basic auth. Errors show ``url`` masked."""
        shown = redact_text(url)
        check_url(url, "feed URL")
        url, basic = split_userinfo(url)
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                   **{k: expand_env(v) for k, v in self.headers.items()}}
        if basic is not None and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = basic
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            try:
                return self._once(url, shown, headers, dest)
            except TransientError as exc:
                if attempt >= self.retries:
                    tries = f"{attempt + 1} {'try' if attempt == 0 else 'tries'}"
                    raise TransientError(f"{shown}: {exc} (after {tries})") from None
                self.sleep(min(60.0, getattr(exc, "retry_after", None) or self.backoff * 2 ** attempt))
                attempt += 1

    def _once(self, url: str, shown: str, headers: dict[str, str], dest: Path | None) -> Response:
        req = urllib.request.Request(url, headers=headers)
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                meta = (resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
                if dest is None:
                    return Response(200, body=resp.read(), etag=meta[0], last_modified=meta[1])
                with open(dest, "wb") as fh:
                    while block := resp.read(1 << 20):
                        fh.write(block)
                return Response(200, path=dest, etag=meta[0], last_modified=meta[1])
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return Response(304, etag=exc.headers.get("ETag"), last_modified=exc.headers.get("Last-Modified"))
            if exc.code == 429 or exc.code >= 500:
                err = TransientError(f"HTTP {exc.code}")
                err.retry_after = _retry_after(exc.headers.get("Retry-After"))  # type: ignore[attr-defined]
                raise err from None
            raise RemoteError(f"{shown}: HTTP {exc.code} {exc.reason}") from None
        except TimeoutError as exc:
            raise TransientError(f"timed out after {self.timeout}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TransientError(f"timed out after {self.timeout}s") from exc
            if isinstance(exc.reason, ConnectionError):
                raise TransientError(f"connection failed: {exc.reason}") from exc
            raise RemoteError(f"{shown}: {exc.reason}") from exc
        except ConnectionError as exc:
            raise TransientError(f"connection failed: {exc}") from exc
        except ValueError as exc:  # http.client.InvalidURL and friends
            raise RemoteError(f"{shown}: invalid URL ({redact_text(str(exc))})") from None

    def fetch(self, url: str) -> bytes:
        """Body of ``url`` (for folder layouts such as MISP feeds)."""
        body = self.get(url).body
        return body or b""


class _DropAuthOnHostChange(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never send ``Authorization`` to another scheme, host or port."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        old, dest = urlsplit(req.full_url), urlsplit(new.full_url) if new is not None else None
        if new is not None and dest is not None and (old.scheme, old.netloc) != (dest.scheme, dest.netloc):
            for key in [k for k in new.headers if k.lower() == "authorization"]:
                del new.headers[key]
        return new


_OPENER = urllib.request.build_opener(_DropAuthOnHostChange())


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def is_url(target: str) -> bool:
    """True for ``scheme://...`` targets (only http and https are supported; see :func:`check_url`)."""
    return url_scheme(target) is not None


def open_target(target: str, client: HttpClient, scratch: Path, *, etag: str | None = None,
                last_modified: str | None = None) -> tuple[FeedInput | None, Response | None]:
    """A feed input for a path or URL; ``(None, response)`` when the server says 304."""
    if not is_url(target):
        return LocalInput(Path(target).expanduser()), None
    check_url(target, "feed URL")
    if target.endswith("/"):  # folder layout: the manifest decides "modified"
        resp = client.get(urljoin(target, "manifest.json"), etag=etag, last_modified=last_modified)
        if resp.status == 304:
            return None, resp
        shown = redact_text(target)  # the input's origin is shown and stored: members are fetched unmasked

        def fetch(url: str) -> bytes:
            return client.fetch(target + url[len(shown):] if url.startswith(shown) else url)

        return UrlInput(shown, fetch, cache={urljoin(shown, "manifest.json"): resp.body or b""}), resp
    scratch.mkdir(parents=True, exist_ok=True)
    dest = scratch / f"download-{uuid.uuid4().hex[:12]}"
    resp = client.get(target, etag=etag, last_modified=last_modified, dest=dest)
    if resp.status == 304:
        return None, resp
    inp = LocalInput(dest)
    inp.origin = redact_text(target)
    return inp, resp


def load_target(store: IntelStore, target: str, source: str, *, fmt: str = "auto",
                columns: dict[str, str] | None = None, options: dict[str, str] | None = None,
                settings: LoadSettings | None = None, client: HttpClient | None = None,
                conditional: bool = False, progress: Progress | None = None) -> LoadReport:
    """Load a file, folder or URL as a version of ``source``."""
    client = client or HttpClient()
    cur = store.current(source) if conditional else None
    scratch = store.ws.root / "tmp" / "intel-downloads"
    inp, resp = open_target(target, client, scratch, etag=cur and cur.get("etag"),
                            last_modified=cur and cur.get("last_modified"))
    try:
        if inp is None:
            store.mark_checked(source)
            return LoadReport(source=source, status="not-modified", origin=redact_text(target), format=fmt,
                              feed_version=cur and cur["feed_version"], unchanged=int((cur or {}).get("loaded") or 0))
        format_ = detect(inp) if fmt == "auto" else get_format(fmt)
        check_arguments(format_, columns or {}, options or {})
        ctx = ParseContext(columns=dict(columns or {}), options=dict(options or {}),
                           name=redact_text(target).rstrip("/").rsplit("/", 1)[-1])
        return store.load(inp, source, format_, ctx, settings or LoadSettings(),
                          etag=resp.etag if resp else None, last_modified=resp.last_modified if resp else None,
                          progress=progress)
    finally:
        if isinstance(inp, LocalInput) and inp.path.parent == scratch:
            inp.path.unlink(missing_ok=True)


def update_feed(store: IntelStore, feed: FeedConfig, *, client: HttpClient | None = None,
                progress: Progress | None = None) -> LoadReport:
    """Refresh one configured feed (conditional GET for URLs)."""
    client = client or HttpClient(feed.headers, timeout=feed.timeout, retries=feed.retries)
    return load_target(store, feed.url or feed.path, feed.name, fmt=feed.format, columns=feed.columns,
                       options=feed.options, settings=feed.settings(), client=client,
                       conditional=bool(feed.url), progress=progress)
