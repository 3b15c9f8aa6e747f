"""Where a feed is read from: a local file, a local folder, or an HTTP(S) URL.

Parsers never open files themselves; they ask a :class:`FeedInput` for a stream
(gzip is undone transparently) or, for folder layouts such as a MISP feed, for a
member by relative name. The same parser therefore reads a MISP feed from a folder
or from a web server.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from cairn.errors import InputError, RemoteError, TransientError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def origin_path(origin: str) -> str:
    """The path of a file name or URL: a URL's query and fragment are not part of it
    (``.../malware/emotet.txt?raw=true`` -> ``/.../malware/emotet.txt``)."""
    return unquote(urlsplit(origin).path) if _SCHEME.match(origin) else origin


GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024


class FeedInput(Protocol):
    """A readable feed location."""

    origin: str
    """Path or URL, for messages and the feed-version record."""

    def open(self, member: str | None = None) -> BinaryIO:
        """The (decompressed) bytes of the input, or of ``member`` of a folder layout."""

    def exists(self, member: str) -> bool:
        """Whether a folder layout has ``member``."""

    def members(self, suffix: str) -> Iterator[str]:
        """Relative names of members ending in ``suffix`` (local folders only; else nothing)."""

    @property
    def is_dir(self) -> bool:
        """True for folder layouts (local folder or a URL ending in ``/``)."""


def _maybe_gunzip(fh: BinaryIO) -> BinaryIO:
    head = fh.read(2)
    fh.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
    return fh


class LocalInput:
    """A local file or folder."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise InputError("no such file or folder", origin=str(path))
        self.path = path
        self.origin = str(path)

    @property
    def is_dir(self) -> bool:
        return self.path.is_dir()

    def _target(self, member: str | None) -> Path:
        if member is None:
            if self.is_dir:
                raise InputError("is a folder; this format reads a single file", origin=self.origin)
            return self.path
        target = (self.path / member).resolve()
        if self.path.resolve() not in target.parents:
            raise InputError(f"member {member!r} is outside the feed folder", origin=self.origin)
        return target

    def open(self, member: str | None = None) -> BinaryIO:
        target = self._target(member)
        try:
            return _maybe_gunzip(open(target, "rb"))
        except OSError as exc:
            raise InputError(f"cannot read: {exc}", origin=str(target)) from exc

    def exists(self, member: str) -> bool:
        return self.is_dir and (self.path / member).is_file()

    def members(self, suffix: str) -> Iterator[str]:
        if self.is_dir:
            for p in sorted(self.path.rglob(f"*{suffix}")):
                if p.is_file():
                    yield p.relative_to(self.path).as_posix()


Fetch = Callable[[str], bytes]
"""Download a URL and return its body (see :class:`cairn.intel.feeds.HttpClient`)."""


class UrlInput:
    """An HTTP(S) resource; a URL ending in ``/`` is a folder layout (MISP feed)."""

    def __init__(self, url: str, fetch: Fetch, body: bytes | None = None,
                 cache: dict[str, bytes] | None = None) -> None:
        self.origin = url
        self._fetch = fetch
        self._body = body
        self._cache = dict(cache or {})
        """Members already fetched that are read more than once (a MISP feed's manifest.json)."""

    def _get(self, url: str) -> bytes:
        return self._cache[url] if url in self._cache else self._fetch(url)

    @property
    def is_dir(self) -> bool:
        return self.origin.endswith("/")

    def open(self, member: str | None = None) -> BinaryIO:
        if member is None:
            if self._body is None:
                self._body = self._fetch(self.origin)
            data = self._body
        else:
            data = self._get(urljoin(self.origin, member))
        return _maybe_gunzip(io.BytesIO(data))

    def exists(self, member: str) -> bool:
        if urljoin(self.origin, member) in self._cache:
            return True
        try:
            self._fetch(urljoin(self.origin, member))
        except TransientError:  # a broken connection or a timeout says nothing about the member
            raise
        except (InputError, RemoteError):
            return False
        return True

    def members(self, suffix: str) -> Iterator[str]:
        return iter(())


def head(inp: FeedInput, member: str | None = None, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` decompressed bytes (for format detection)."""
    with inp.open(member) as fh:
        return fh.read(size)


def content_hash(inp: FeedInput, members: list[str] | None = None) -> str:
    """sha256 over the decompressed content (and the names of folder members hashed)."""
    h = hashlib.sha256()
    for m in members if members is not None else [None]:  # type: ignore[list-item]
        if m is not None:
            h.update(m.encode() + b"\0")
        with inp.open(m) as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
