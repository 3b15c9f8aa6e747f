"""Finding inputs (local files, folders, S3 prefixes) and reading their bytes."""

from __future__ import annotations

import errno
import gzip
import os
import stat
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
    """One input: ``origin`` as the user knows it, ``path`` where its bytes are now.

    ``skip`` is set (with ``size`` -1) for a path met while walking that is not input,
    naming why: the caller counts it as skipped.
    """

    origin: str
    path: Path
    size: int
    skip: str | None = None

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


def _skipped(path: Path, reason: str) -> InputFile:
    return InputFile(str(path), path, -1, reason)


def _local_file(path: Path, *, walking: bool) -> InputFile:
    """``path`` as an input, or as skipped (broken link, link loop, FIFO, documentation...)."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _skipped(path, "symbolic link loop")
        if path.is_symlink():
            return _skipped(path, "broken symbolic link")
        return _skipped(path, f"cannot read file ({exc.strerror})")
    if not stat.S_ISREG(st.st_mode):
        return _skipped(path, "not a regular file")
    if walking and is_documentation(path):
        return _skipped(path, "documentation file")
    return InputFile(str(path), path, st.st_size)


def walk_local(target: str) -> Iterator[InputFile]:
    """Yield the files at a local path: the file itself or every file below a folder.

    Links to folders are followed; a link back to a folder being walked is yielded as
    skipped ("symbolic link loop"). Anything else that is not input (documentation, hidden
    files and folders such as ``.git``, broken links, FIFOs and devices, unreadable folders) is
    yielded with ``skip`` set; a hidden folder is not walked. A path given itself is never hidden.
    """
    p = Path(target)
    if not p.is_dir():
        if not p.exists() and not p.is_symlink():
            raise InputError("no such file or folder", origin=target)
        f = _local_file(p, walking=False)
        if f.skip == "broken symbolic link":
            raise InputError(f"broken symbolic link (to {os.readlink(p)})", origin=target)
        yield f
        return
    errors: list[OSError] = []
    chains: dict[str, frozenset[str]] = {str(p): frozenset({os.path.realpath(p)})}
    for root, dirs, names in os.walk(p, onerror=errors.append, followlinks=True):
        while errors:
            err = errors.pop(0)
            yield _skipped(Path(err.filename or root), f"cannot read folder ({err.strerror})")
        chain = chains.pop(root, frozenset({os.path.realpath(root)}))
        keep = []
        for name in sorted(dirs):
            sub = os.path.join(root, name)
            if name.startswith("."):
                yield _skipped(Path(sub), "hidden folder")
                continue
            real = os.path.realpath(sub)
            if real in chain:
                yield _skipped(Path(sub), "symbolic link loop")
                continue
            chains[sub] = chain | {real}
            keep.append(name)
        dirs[:] = keep
        for name in sorted(names):
            if name.startswith("."):
                yield _skipped(Path(root) / name, "hidden file")
                continue
            yield _local_file(Path(root) / name, walking=True)
    for err in errors:
        yield _skipped(Path(err.filename or target), f"cannot read folder ({err.strerror})")


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
