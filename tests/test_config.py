"""Settings: bad files and out-of-range values are configuration errors naming the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from cairn.config import PARQUET_CODECS, load_config
from cairn.errors import ConfigError


def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cairn.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_config_option_naming_a_folder_is_a_config_error(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "settings"
    folder.mkdir()
    r = cli("-w", tmp_path / "ws", "--config", folder, "tables")
    err = " ".join(r.err.split())
    assert r.code == 2 and f"{folder}: is a folder, not a settings file" in err
    assert "Traceback" not in r.err + r.out


@pytest.mark.parametrize(("line", "message"), [
    ("threads = -5", "[ingest] threads must be 0 (one per core) or more, got -5"),
    ('compression = "bogus"', "[ingest] compression must be one of uncompressed, snappy, gzip, zstd, lz4, "
                              "lz4_raw, brotli, got 'bogus'"),
    ("batch_files = 0", "[ingest] batch_files must be 1 or more, got 0"),
    ("batch_bytes = -1", "[ingest] batch_bytes must be 1 or more (bytes), got -1"),
    ('memory_limit = "lots"', "[ingest] memory_limit must be a memory size such as \"4GB\""),
])
def test_out_of_range_ingest_values_name_the_key(line: str, message: str, cli: Any, tmp_path: Path) -> None:
    path = _toml(tmp_path, f"[ingest]\n{line}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(f"{path}: {message}")
    r = cli("-w", tmp_path / "ws", "--config", path, "tables")
    assert r.code == 2 and message in " ".join(r.err.split())
    assert "DuckDB" not in r.err and "COPY" not in r.err


@pytest.mark.parametrize("codec", PARQUET_CODECS)
def test_every_allowed_codec_is_one_duckdb_writes(codec: str, tmp_path: Path) -> None:
    cfg = load_config(_toml(tmp_path, f'[ingest]\ncompression = "{codec.upper()}"\n'))
    assert cfg.ingest.compression == codec
    out = tmp_path / "x.parquet"
    duckdb.connect().execute(f"COPY (SELECT 1 AS a) TO '{out}' (FORMAT parquet, COMPRESSION {codec})")
    assert out.stat().st_size > 0


def test_valid_values_are_kept(cli: Any, tmp_path: Path) -> None:
    path = _toml(tmp_path, '[ingest]\nthreads = 0\nbatch_files = 1\nbatch_bytes = 1\nmemory_limit = "512MiB"\n')
    cfg = load_config(path).ingest
    assert (cfg.threads, cfg.batch_files, cfg.batch_bytes, cfg.memory_limit) == (0, 1, 1, "512MiB")
    r = cli("-w", tmp_path / "ws", "--config", path, "--json", "config", "show")
    assert r.code == 0 and r.json()["ingest"]["memory_limit"] == "512MiB"
    assert load_config(_toml(tmp_path, '[ingest]\nthreads = 2\nmemory_limit = "50%"\n')).ingest.threads == 2
