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

HTTP: ``If-None-Match`` / ``If-Modified-Since`` from the current version, sent only when that
version was loaded from the same (masked) URL with the same load settings (304 = not modified,
nothing is parsed; a changed lifecycle policy is still applied), retries with backoff
``0.5 s * 2^n`` (``Retry-After`` honoured up to 60 s) on 5xx, 429, timeouts and connection
errors (refused, reset, a body shorter than its ``Content-Length``, a cut-off chunked body);
other 4xx fail at once. Only http:// and https:// URLs are supported. User info in a URL
(``https://user:password@host/...``) is sent as HTTP Basic auth (an ``Authorization`` in
``headers`` wins); Basic auth and every configured header are dropped when a redirect leaves the
scheme, host or port. Header values are never logged, stored or shown in messages (an invalid
value is reported by the header's name); error messages and stored origins show URLs masked
(``user:***@``).
"""

from __future__ import annotations

import http.client
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
from cairn.intel.inputs import FeedInput, LocalInput, UrlInput, origin_path
from cairn.intel.store import IntelStore, LoadReport, LoadSettings, Progress, check_settings, settings_hash

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


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP header name (RFC 9110 token)."""


def check_header(name: str, value: str) -> None:
    """Raise a :class:`ConfigError` naming the header (never showing its value) unless ``name: value``
    can be sent: a token name, a value of Latin-1 characters without line breaks or NUL."""
    if not _HEADER_NAME.fullmatch(name):
        raise ConfigError(f"feed header {name!r}: not a valid HTTP header name")
    why = ("contains a line break" if "\r" in value or "\n" in value
           else "contains a NUL character" if "\0" in value
           else "contains characters outside Latin-1" if any(ord(c) > 255 for c in value)
           else "contains control characters" if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value)
           else None)
    if why:
        raise ConfigError(f"feed header {name}: value is not valid ({why}; check the setting and the "
                          "environment variables it uses)")


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
        own = {k: expand_env(v) for k, v in self.headers.items()}
        for k, v in own.items():
            check_header(k, v)
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **own}
        if basic is not None and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = basic
        private = frozenset({"authorization", *(k.lower() for k in own)})
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            try:
                return self._once(url, shown, headers, dest, private)
            except TransientError as exc:
                if attempt >= self.retries:
                    tries = f"{attempt + 1} {'try' if attempt == 0 else 'tries'}"
                    raise TransientError(f"{shown}: {exc} (after {tries})") from None
                self.sleep(min(60.0, getattr(exc, "retry_after", None) or self.backoff * 2 ** attempt))
                attempt += 1

    def _once(self, url: str, shown: str, headers: dict[str, str], dest: Path | None,
              private: frozenset[str] = frozenset({"authorization"})) -> Response:
        req = urllib.request.Request(url, headers=headers)
        req.cairn_private = private  # type: ignore[attr-defined]  # dropped on a redirect to another host
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                meta = (resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
                expected = _content_length(resp.headers)
                if dest is None:
                    body = resp.read()
                    _check_length(len(body), expected)
                    return Response(200, body=body, etag=meta[0], last_modified=meta[1])
                got = 0
                with open(dest, "wb") as fh:
                    while block := resp.read(1 << 20):
                        fh.write(block)
                        got += len(block)
                _check_length(got, expected)
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
            if isinstance(exc.reason, ValueError):  # e.g. a header refused by http.client: no text, it may hold it
                raise RemoteError(f"{shown}: the request could not be sent ({type(exc.reason).__name__})") from None
            raise RemoteError(f"{shown}: {exc.reason}") from exc
        except ConnectionError as exc:
            raise TransientError(f"connection failed: {exc}") from exc
        except http.client.IncompleteRead as exc:  # a cut-off body (Content-Length or chunked)
            raise TransientError(f"connection broken: response body cut short after {len(exc.partial):,} "
                                 "byte(s) of the current part") from None
        except http.client.HTTPException as exc:  # bad status line, header lines too long, ...
            raise TransientError(f"connection broken: {type(exc).__name__}") from None
        except ValueError as exc:  # http.client.InvalidURL, a header value http.client refuses, ...
            if "header" in str(exc).lower():  # never show a header's value
                raise RemoteError(f"{shown}: a request header was refused ({type(exc).__name__})") from None
            raise RemoteError(f"{shown}: invalid URL ({redact_text(str(exc))})") from None

    def fetch(self, url: str) -> bytes:
        """Body of ``url`` (for folder layouts such as MISP feeds)."""
        body = self.get(url).body
        return body or b""


class _DropAuthOnHostChange(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never send credentials to another scheme, host or port: ``Authorization``
    (from ``headers`` or the URL's user info) and every configured header (``req.cairn_private``: the
    lower-case names) are removed, for this hop and the ones after it."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        private = getattr(req, "cairn_private", frozenset({"authorization"}))
        new.cairn_private = private  # type: ignore[attr-defined]
        if _origin(req.full_url) != _origin(new.full_url):
            for hdrs in (new.headers, new.unredirected_hdrs):
                for key in [k for k in hdrs if k.lower() in private or k.lower() == "authorization"]:
                    del hdrs[key]
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, lower case, default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return scheme, parts.netloc.lower(), None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _content_length(headers: Any) -> int | None:
    """The ``Content-Length`` a body must have, or None (chunked, missing or unreadable)."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return None
    try:
        n = int(headers.get("Content-Length") or "")
    except ValueError:
        return None
    return n if n >= 0 else None


def _check_length(got: int, expected: int | None) -> None:
    """A body shorter than its ``Content-Length`` is a broken connection (retried), never a feed."""
    if expected is not None and got < expected:
        raise TransientError(f"connection broken: response body ended after {got:,} of {expected:,} bytes "
                             "(Content-Length)")


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
    try:
        resp = client.get(target, etag=etag, last_modified=last_modified, dest=dest)
        if resp.status == 304:
            dest.unlink(missing_ok=True)
            return None, resp
        inp = LocalInput(dest)
    except BaseException:  # a failed download leaves nothing behind
        dest.unlink(missing_ok=True)
        raise
    inp.origin = redact_text(target)
    return inp, resp


def input_name(target: str) -> str:
    """The file (or folder) name of a path or URL, without a URL's query and fragment
    (``.../malware/emotet.txt?raw=true`` -> ``emotet.txt``)."""
    return origin_path(redact_text(target)).rstrip("/").rsplit("/", 1)[-1]


def _same_load(cur: dict[str, Any], origin: str, fmt: str, columns: dict[str, str], options: dict[str, str],
               settings: LoadSettings) -> bool:
    """Whether the current version ``cur`` was loaded from ``origin`` with the load settings given now
    (then a 304 keeps it as it is; otherwise the feed must be downloaded again)."""
    if cur.get("origin") != origin or not cur.get("settings_hash"):
        return False
    try:
        format_ = get_format(cur["format"] if fmt == "auto" else fmt)
    except ConfigError:
        return False
    ctx = ParseContext(columns=dict(columns), options=dict(options))
    return bool(cur["settings_hash"] == settings_hash(format_, ctx, settings))


def load_target(store: IntelStore, target: str, source: str, *, fmt: str = "auto",
                columns: dict[str, str] | None = None, options: dict[str, str] | None = None,
                settings: LoadSettings | None = None, client: HttpClient | None = None,
                conditional: bool = False, progress: Progress | None = None) -> LoadReport:
    """Load a file, folder or URL as a version of ``source``.

    With ``conditional``, the current version's ETag / Last-Modified are sent when that version came
    from the same origin with the same load settings; a 304 then keeps it (applying a changed
    lifecycle policy) and reports it as ``not-modified`` with its counts."""
    client = client or HttpClient()
    settings = settings or LoadSettings()
    shown = redact_text(target)
    cur = store.current(source) if conditional else None
    etag = last_modified = None
    if cur and _same_load(cur, shown, fmt, columns or {}, options or {}, settings):
        etag, last_modified = cur.get("etag"), cur.get("last_modified")
    scratch = store.ws.root / "tmp" / "intel-downloads"
    inp, resp = open_target(target, client, scratch, etag=etag, last_modified=last_modified)
    try:
        if inp is None:
            if cur is None or not (etag or last_modified):
                raise RemoteError(f"{shown}: HTTP 304 Not Modified to a request that was not conditional")
            store.mark_checked(source, resp.etag if resp else None, resp.last_modified if resp else None)
            store.set_policy(source, check_settings(settings))
            loaded = int(cur.get("loaded") or 0)
            return LoadReport(source=source, status="not-modified", origin=shown, format=cur.get("format") or fmt,
                              feed_version=cur["feed_version"], content_hash=cur.get("content_hash"),
                              loaded=loaded, unchanged=loaded, loaded_at=cur.get("loaded_at"))
        format_ = detect(inp) if fmt == "auto" else get_format(fmt)
        check_arguments(format_, columns or {}, options or {})
        ctx = ParseContext(columns=dict(columns or {}), options=dict(options or {}), name=input_name(target))
        return store.load(inp, source, format_, ctx, settings,
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
