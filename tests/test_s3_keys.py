"""S3 keys that are awkward as local paths, and URLs naming one object, through a local moto server.

Each object is downloaded to a folder of its own in the run's staging folder: the key's path
segments (``..``, a leading ``/``, ``//``, a key that is also another key's "folder") never
decide where its bytes land, and everything that has a meaning in the key (digest folders, VPC
flow delivery names, delivery days) is read from the origin ``s3://bucket/key``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import stratus_records
from ctdata import gz, records_doc, rekeyed, trail_key

BUCKET = "key-bucket"
RECORDS = stratus_records()
TRAIL = trail_key("us-east-1", "2024-11-26T15:40")
ESCAPE = "../" * 40


def s3_client(endpoint: str) -> Any:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return s3


def origins(cli: Any, ws: Path, table: str = "cloudtrail") -> dict[str, int]:
    q = cli("-w", ws, "query", f"SELECT origin, count(*) AS n FROM {table} GROUP BY 1", "--format", "jsonl")
    assert q.code == 0, q.err
    return {r["origin"]: r["n"] for r in map(json.loads, q.out.splitlines())}


# name -> keys, each a distinct object ({victim} is an absolute path outside the workspace, without
# its leading "/"). Every object holds two records of its own.
KEY_SETS: dict[str, list[str]] = {
    "dot-dot escape": [f"AWSLogs/{ESCAPE}{{victim}}", TRAIL],
    "leading slash": ["/{victim}", TRAIL],
    "double slash": [f"trail/{TRAIL}", f"trail//{TRAIL}", f"trail/{TRAIL.replace('/', '//')}"],
    "dot segments": ["logs/x.json.gz", "logs/./x.json.gz", ".../x.json.gz", ".../././x.json.gz"],
    "file and folder": ["logs/x", "logs/x/y.json", "logs/x/y.json/z"],
    "folder then file": ["logs/x/y.json", "logs/x"],
    "dot names": ["logs/..", "logs/.", "logs/.hidden.json", "logs/..json.gz", "./..", "../.."],
    "glob and odd characters": ["logs/a b*?[x].json", "logs/a b?*[x].json", "logs/{a,b}.json",
                                "logs/qu'ote\"s\\.json", "logs/ünï\u00a0cödé.json.gz", "logs/x:y|z<>.json"],
    "long last segment": ["logs/" + "a" * 900 + ".json.gz", "logs/" + "a" * 899 + "b.json.gz"],
}


@pytest.mark.parametrize("name", KEY_SETS)
def test_awkward_keys_stay_in_staging_and_apart(cli: Any, moto: str, tmp_path: Path, name: str) -> None:
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    keys = [k.replace("{victim}", str(victim).lstrip("/")) for k in KEY_SETS[name]]
    assert len(set(keys)) == len(keys)
    s3 = s3_client(moto)
    for n, key in enumerate(keys):
        body = records_doc(rekeyed(RECORDS[:2], n + 1))
        s3.put_object(Bucket=BUCKET, Key=key, Body=gz(body) if n % 2 == 0 else body)
    ws = tmp_path / "ws"
    r = cli("-w", ws, "--json", "ingest", f"s3://{BUCKET}/")
    assert r.code == 0, r.err
    s = r.json()
    assert (s["files"], s["records_read"], s["loaded"], s["duplicates"], s["quarantined"]) == (
        len(keys), 2 * len(keys), 2 * len(keys), 0, 0)
    # Every record keeps the origin of the object it came from.
    assert origins(cli, ws) == {f"s3://{BUCKET}/{k}": 2 for k in keys}
    assert victim.read_bytes() == b"precious" and [p.name for p in victim.parent.iterdir()] == ["victim.txt"]
    assert not list((ws / "staging").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "ws"]


def test_local_paths_never_collide_or_escape(tmp_path: Path) -> None:
    from cairn.sources.s3 import S3Object, local_path

    keys = {k.replace("{victim}", "tmp/x/victim.txt") for ks in KEY_SETS.values() for k in ks}
    keys |= {"", "/", "a/", "a//", ".", "..", "a/../b", "b"}
    root = tmp_path / "s3"
    paths = [local_path(S3Object(b, k, 1), root) for b in ("b1", "b2") for k in keys]
    assert len(set(paths)) == len(paths)
    for p in paths:
        assert p.parent.parent == root and p.name not in ("", ".", "..") and not p.name.startswith(".")
        assert len(p.name.encode()) <= 100
    # The end of the name is kept for readers that look at it.
    ends = {k: local_path(S3Object("b", k, 1), root).name for k in
            ("a/f.json.gz", "a/f.log.parquet", "x/" + "y" * 500 + ".log", "a/b c.json")}
    assert ends == {"a/f.json.gz": "f.json.gz", "a/f.log.parquet": "f.log.parquet",
                    "x/" + "y" * 500 + ".log": "y" * 96 + ".log", "a/b c.json": "b_c.json"}


def test_meaning_comes_from_the_origin_not_the_local_name(cli: Any, moto: str, tmp_path: Path) -> None:
    """Digest folders, VPC flow delivery names (time and flow log) and delivery days are read
    from the key, not from the staged file."""
    s3 = s3_client(moto)
    head = "srcaddr dstaddr srcport dstport protocol packets bytes action log-status"
    line = "10.3.0.1 10.3.0.2 40000 443 6 10 840 ACCEPT OK"
    flow_keys = [
        f"AWSLogs/111122223333/vpcflowlogs/us-east-1/2023/11/14/"
        f"111122223333_vpcflowlogs_us-east-1_fl-aaaa_20231114T2215Z_h{n}.log.gz"
        for n in (1, 2)
    ] + ["AWSLogs/444455556666/vpcflowlogs/eu-west-1/2023/11/14/"
         "444455556666_vpcflowlogs_eu-west-1_fl-bbbb_20231114T2220Z_h3.log.gz"]
    for key in flow_keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=gz(f"{head}\n{line}\n".encode()))
    # A trail file under a digest folder is skipped by its key alone.
    s3.put_object(Bucket=BUCKET, Key="AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/11/26/d.json.gz",
                  Body=gz(records_doc(RECORDS[:2])))
    ws = tmp_path / "ws"
    s = cli("-w", ws, "--json", "ingest", f"s3://{BUCKET}/AWSLogs/").json()
    assert s["skipped"] == {"CloudTrail digest file": 1}
    # The two files of flow log fl-aaaa hold one record; fl-bbbb's equal line is another.
    assert (s["records_read"], s["loaded"], s["duplicates"], s["quarantined"]) == (3, 2, 1, 0)
    q = cli("-w", ws, "query", "SELECT strftime(event_time, '%H:%M') AS t FROM vpcflow ORDER BY 1",
            "--format", "jsonl")
    assert [json.loads(x)["t"] for x in q.out.splitlines()] == ["22:15", "22:20"]


# -- a URL that is exactly a key names that object only ----------------------------------------------

LISTED = ["trail/a.json", "trail/a.json.old", "trail/a.json/inner.json", "trail/a.jsonl", "trail/b.json",
          "trail/sub/", "trail/sub/c.json", "trail"]

# URL path -> the keys it names
URLS: dict[str, list[str]] = {
    "trail/a.json": ["trail/a.json"],
    "trail/a.json.old": ["trail/a.json.old"],
    "trail/sub/c.json": ["trail/sub/c.json"],
    "trail": ["trail"],
    "trail/a.json/": ["trail/a.json/inner.json"],
    "trail/a": ["trail/a.json", "trail/a.json.old", "trail/a.json/inner.json", "trail/a.jsonl"],
    "trail/": [k for k in LISTED if k.startswith("trail/") and not k.endswith("/")],
    "trail/sub": ["trail/sub/c.json"],
    "trail/sub/": ["trail/sub/c.json"],
    "": [k for k in LISTED if not k.endswith("/")],
}


@pytest.fixture
def listed(moto: str) -> Any:
    s3 = s3_client(moto)
    for key in LISTED:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"" if key.endswith("/") else b"{}")
    return s3


@pytest.mark.parametrize("path", URLS)
def test_url_naming_a_key_lists_that_object_only(listed: Any, path: str) -> None:
    from cairn.sources.s3 import list_objects

    found = [o.key for o in list_objects(listed, f"s3://{BUCKET}/{path}")]
    assert found == sorted(URLS[path])


def test_ingest_of_one_object_url(cli: Any, moto: str, tmp_path: Path) -> None:
    s3 = s3_client(moto)
    s3.put_object(Bucket=BUCKET, Key="trail/a.json", Body=records_doc(rekeyed(RECORDS[:3], 1)))
    s3.put_object(Bucket=BUCKET, Key="trail/a.json.old", Body=records_doc(rekeyed(RECORDS[:4], 2)))
    ws = tmp_path / "ws"
    s = cli("-w", ws, "--json", "ingest", f"s3://{BUCKET}/trail/a.json").json()
    assert (s["files"], s["records_read"], s["loaded"]) == (1, 3, 3)
    assert origins(cli, ws) == {f"s3://{BUCKET}/trail/a.json": 3}
    s = cli("-w", ws, "--json", "ingest", f"s3://{BUCKET}/trail/a").json()
    assert (s["files"], s["records_read"], s["loaded"], s["duplicates"]) == (2, 7, 4, 3)


# -- local write failures are cairn errors naming the object -------------------------------------------


def test_download_write_failure_is_a_workspace_error(moto: str, tmp_path: Path) -> None:
    from cairn.errors import WorkspaceError
    from cairn.sources.s3 import S3Object, download

    s3 = s3_client(moto)
    s3.put_object(Bucket=BUCKET, Key="logs/x.json", Body=b"{}")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"")
    with pytest.raises(WorkspaceError, match=rf"^s3://{BUCKET}/logs/x\.json: cannot store the download"):
        download(s3, S3Object(BUCKET, "logs/x.json", 2), not_a_folder)


def test_ingest_write_failure_is_a_clean_error(cli: Any, moto: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.sources import s3 as s3io

    s3 = s3_client(moto)
    s3.put_object(Bucket=BUCKET, Key="logs/x.json", Body=records_doc(RECORDS[:1]))
    monkeypatch.setattr(s3io, "local_name", lambda obj: "n" * 400)  # longer than any file system allows
    ws = tmp_path / "ws"
    r = cli("-w", ws, "ingest", f"s3://{BUCKET}/logs/")
    assert r.code == 6, r.err
    assert f"s3://{BUCKET}/logs/x.json: cannot store the download" in r.err and "Traceback" not in r.err
    assert not list((ws / "staging").iterdir())
