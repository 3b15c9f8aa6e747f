"""Floors of any CloudTrail ingest on this machine: what reading the corpus costs before any normalising.

For a corpus of gzipped trail files (``bench/ingest/generate.py``), each step on every core (one process
per core, files dealt round-robin), fastest of ``--repeat`` runs:

- ``gunzip``: decompress every file;
- ``gunzip + zstd(1)``: and re-compress the raw bytes with zstd level 1 (the least that keeping every
  record losslessly costs, with no parsing at all);
- ``gunzip + json``: and parse with the standard library (what the plain-loop baseline does, on all cores);
- ``gunzip + orjson``: and parse with orjson, when installed (the fastest JSON parser Python has).

Usage: ``python bench/ingest/floors.py bench/corpus/cloudtrail-1000000-seed1-k1000 [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa


def _gunzip(path: str) -> bytes:
    with open(path, "rb") as fh:
        return zlib.decompress(fh.read(), 31)


def gunzip(files: list[str]) -> int:
    """Decompressed bytes."""
    return sum(len(_gunzip(f)) for f in files)


def gunzip_zstd(files: list[str]) -> int:
    """Bytes after zstd level 1."""
    codec = pa.Codec("zstd", compression_level=1)
    return sum(len(codec.compress(_gunzip(f), asbytes=True)) for f in files)


def gunzip_json(files: list[str]) -> int:
    """Records, parsed by ``json``."""
    return sum(len(json.loads(_gunzip(f))["Records"]) for f in files)


def gunzip_orjson(files: list[str]) -> int:
    """Records, parsed by ``orjson``."""
    import orjson

    return sum(len(orjson.loads(_gunzip(f))["Records"]) for f in files)


def timed(fn: Callable[[list[str]], int], files: list[str], workers: int, repeat: int) -> tuple[float, int]:
    """(fastest wall seconds, summed result) of ``fn`` over ``files`` split across ``workers`` processes."""
    parts = [files[i::workers] for i in range(workers)]
    best, total = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        with ProcessPoolExecutor(workers) as pool:
            total = sum(pool.map(fn, parts))
        best = min(best, time.perf_counter() - start)
    return best, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    files = sorted(str(p) for p in a.corpus.rglob("*.json.gz"))
    steps: list[tuple[str, Callable[[list[str]], int], str]] = [
        ("gunzip", gunzip, "bytes out"), ("gunzip + zstd(1)", gunzip_zstd, "bytes out"),
        ("gunzip + json", gunzip_json, "records")]
    try:
        import orjson  # noqa: F401

        steps.append(("gunzip + orjson", gunzip_orjson, "records"))
    except ImportError:
        print("orjson not installed: its step is skipped")
    print(f"{len(files):,} files, {a.workers} processes, fastest of {a.repeat}")
    for name, fn, unit in steps:
        seconds, total = timed(fn, files, a.workers, a.repeat)
        print(f"{name:<18} {seconds:6.2f} s  ({total:,} {unit})")


if __name__ == "__main__":
    main()
