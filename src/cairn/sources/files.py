"""Finding inputs (local files, folders, S3 prefixes) and reading their bytes."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cairn.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class InputFile:
    """One input: ``origin`` as the user knows it, ``path`` where its bytes are now."""

    origin: str
    path: Path
    size: int

    @property
    def compressed(self) -> bool:
        """True when the file is gzip (by magic bytes, not by name)."""
        with open(self.path, "rb") as fh:
            return fh.read(2) == GZIP_MAGIC


DOC_NAMES = ("readme", "license", "licence", "notice", "changelog", "copying")
DOC_SUFFIXES = (".md", ".rst", ".yml", ".yaml", ".toml", ".html", ".pdf")


def is_documentation(path: Path) -> bool:
    """True for README/LICENSE-like files met while walking a folder."""
    name = path.name.lower()
    return name.startswith(DOC_NAMES) or name.endswith(DOC_SUFFIXES)


def walk_local(target: str) -> Iterator[InputFile]:
    """Yield the files at a local path: the file itself or every file below a folder.

    While walking a folder, documentation files (README, LICENSE, *.md, ...) are
    yielded with size -1 so that the caller can count them as skipped.
    """
    p = Path(target)
    if not p.exists():
        raise InputError("no such file or folder", origin=target)
    if p.is_file():
        yield InputFile(str(p), p, p.stat().st_size)
        return
    for root, dirs, names in os.walk(p):
        dirs.sort()
        for name in sorted(names):
            if name.startswith("."):
                continue
            fp = Path(root) / name
            yield InputFile(str(fp), fp, -1 if is_documentation(fp) else fp.stat().st_size)


def read_head(path: Path, limit: int = SNIFF_BYTES) -> bytes:
    """Up to ``limit`` decompressed bytes from the start of a file (tolerates damage)."""
    with open(path, "rb") as fh:
        start = fh.read(2)
        fh.seek(0)
        if start != GZIP_MAGIC:
            return fh.read(limit)
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b""
        while len(out) < limit:
            chunk = fh.read(65536)
            if not chunk:
                break
            try:
                out += d.decompress(chunk, limit - len(out))
            except zlib.error:
                break
            if d.eof:
                break
        return out[:limit]


def read_all(path: Path) -> tuple[bytes, str | None]:
    """All decompressed bytes, and a description of damage (truncation, bad gzip) if any.

    Damaged gzip streams give what could be decompressed before the damage.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] != GZIP_MAGIC:
        return data, None
    try:
        return gzip.decompress(data), None
    except (EOFError, OSError, zlib.error) as exc:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        pos = 0
        try:
            while pos < len(data):
                out += d.decompress(data[pos : pos + 65536])
                pos += 65536
                if d.eof:
                    # concatenated gzip members
                    rest = d.unused_data
                    if not rest:
                        break
                    data = rest
                    pos = 0
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        except zlib.error:
            pass
        return bytes(out), f"damaged gzip stream ({exc}); {len(out)} bytes recovered"
