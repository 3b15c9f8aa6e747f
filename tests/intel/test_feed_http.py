"""Feeds over HTTP (ETag / If-Modified-Since / 304, retries, timeouts), configured feeds and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from feeds_support import FIX, Route, Server, Store, http_server_fixture, no_sleep, st_fixture  # noqa: F401
from test_feed_formats import write_misp_feed

from cairn.config import Config
from cairn.errors import ConfigError, RemoteError, TransientError
from cairn.intel.feeds import FeedConfig, HttpClient, feed_configs, load_target, parse_feed, update_feed

LIST_V1 = b"45.155.205.1\n45.155.205.2\nevil.example\n"
LIST_V2 = b"45.155.205.2\nevil.example\nnew.example\n"


def test_etag_and_304(http_server: Server):
    http_server.routes["/l.txt"] = Route(LIST_V1, etag='"v1"')
    c = HttpClient()
    first = c.get(http_server.url + "/l.txt")
    assert (first.status, first.body, first.etag) == (200, LIST_V1, '"v1"')
    second = c.get(http_server.url + "/l.txt", etag='"v1"')
    assert second.status == 304 and http_server.log[-1][1]["If-None-Match"] == '"v1"'


def test_if_modified_since(http_server: Server):
    lm = "Wed, 01 May 2024 10:00:00 GMT"
    http_server.routes["/l.txt"] = Route(LIST_V1, last_modified=lm)
    assert HttpClient().get(http_server.url + "/l.txt", last_modified=lm).status == 304


def test_retry_on_503_then_200(http_server: Server):
    http_server.routes["/l.txt"] = Route(LIST_V1, fail_first=[503, 429])
    sleep = no_sleep()
    r = HttpClient(retries=3, sleep=sleep).get(http_server.url + "/l.txt")
    assert r.body == LIST_V1 and sleep.waits == [0.5, 1.0] and len(http_server.log) == 3


def test_retries_exhausted(http_server: Server):
    http_server.routes["/l.txt"] = Route(LIST_V1, fail_first=[503, 503, 503])
    with pytest.raises(TransientError, match="HTTP 503"):
        HttpClient(retries=2, sleep=no_sleep()).get(http_server.url + "/l.txt")
    assert len(http_server.log) == 3


def test_timeout_is_retried_then_fails(http_server: Server):
    http_server.routes["/slow"] = Route(LIST_V1, delay=1.5)
    with pytest.raises(TransientError, match="timed out"):
        HttpClient(timeout=0.3, retries=1, sleep=no_sleep()).get(http_server.url + "/slow")
    assert len(http_server.log) == 2


def test_client_errors_are_not_retried(http_server: Server):
    with pytest.raises(RemoteError, match="HTTP 404"):
        HttpClient(sleep=no_sleep()).get(http_server.url + "/missing")
    assert len(http_server.log) == 1


def test_headers_from_environment(http_server: Server, monkeypatch: pytest.MonkeyPatch):
    http_server.routes["/l.txt"] = Route(LIST_V1)
    monkeypatch.setenv("CAIRN_TEST_FEED_KEY", "s3cret")
    HttpClient({"X-Api-Key": "${CAIRN_TEST_FEED_KEY}"}).get(http_server.url + "/l.txt")
    assert http_server.log[-1][1]["X-Api-Key"] == "s3cret"
    monkeypatch.delenv("CAIRN_TEST_FEED_KEY")
    with pytest.raises(ConfigError, match="CAIRN_TEST_FEED_KEY"):
        HttpClient({"X-Api-Key": "${CAIRN_TEST_FEED_KEY}"}).get(http_server.url + "/l.txt")


def test_update_feed_conditional(st: Store, http_server: Server):
    route = Route(LIST_V1, etag='"v1"')
    http_server.routes["/l.txt"] = route
    feed = FeedConfig("remote", url=http_server.url + "/l.txt", format="plain")
    r1 = update_feed(st.store, feed)
    assert (r1.status, r1.loaded) == ("loaded", 3)
    assert st.store.current("remote")["etag"] == '"v1"'
    r2 = update_feed(st.store, feed)
    assert r2.status == "not-modified" and http_server.log[-1][1]["If-None-Match"] == '"v1"'
    route.body, route.etag = LIST_V2, '"v2"'
    r3 = update_feed(st.store, feed)
    assert (r3.status, r3.added, r3.removed, r3.unchanged) == ("loaded", 1, 1, 2)
    route.etag = '"v3"'  # new ETag, same bytes: fetched, then found unchanged by content hash
    assert update_feed(st.store, feed).status == "unchanged"
    assert not list((st.ws.root / "tmp" / "intel-downloads").glob("*"))


def test_misp_feed_over_http(st: Store, http_server: Server, tmp_path: Path):
    feed = write_misp_feed(tmp_path / "feed")
    for f in feed.iterdir():
        http_server.routes[f"/misp/{f.name}"] = Route(f.read_bytes(), etag='"m1"' if f.name == "manifest.json" else None)
    r = load_target(st.store, http_server.url + "/misp/", "mispweb", conditional=True)
    assert (r.format, r.loaded) == ("misp", 4)
    assert sum(1 for p, _ in http_server.log if p.endswith("manifest.json")) == 1
    again = load_target(st.store, http_server.url + "/misp/", "mispweb", conditional=True)
    assert again.status == "not-modified"


def test_feed_config_parsing(tmp_path: Path):
    cfg = Config(extra={"intel": {"ownership": {}, "feeds": {
        "feodo": {"url": "https://x.example/ipblocklist.csv", "format": "abusech", "max_age_days": 30,
                  "decay_half_life_days": 7, "confidence": 80, "headers": {"Auth": "${TOKEN}"},
                  "columns": {"value": "dst_ip"}},
        "local": {"path": "lists/a.txt", "internal": True}}}}, source=tmp_path / "cairn.toml")
    feeds = feed_configs(cfg)
    assert feeds["feodo"].max_age_days == 30.0 and feeds["feodo"].settings().confidence == 80
    assert feeds["local"].path == str(tmp_path / "lists" / "a.txt") and feeds["local"].settings().internal
    bad = [({"url": "u", "colour": 1}, "unknown key"), ({"url": "u", "internal": "yes"}, "must be bool"),
           ({}, "exactly one of url or path"), ({"url": "u", "format": "nope"}, "unknown feed format"),
           ({"url": "u", "max_age_days": -1}, "non-negative"), ({"url": "u", "headers": {"a": 1}}, "table of strings")]
    for values, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            parse_feed("x", values)


def _toml(ws: Path, text: str) -> None:
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "cairn.toml").write_text(text)


def test_cli_load_update_feeds_rejects(cli: Any, tmp_path: Path, http_server: Server):
    ws = tmp_path / "ws"
    http_server.routes["/l.txt"] = Route(LIST_V1 + b"10.0.0.1\n", etag='"a"')
    _toml(ws, f'[intel.feeds.web]\nurl = "{http_server.url}/l.txt"\nformat = "plain"\ndecay_half_life_days = 30\n')
    r = cli("-w", ws, "--json", "intel", "update")
    assert r.code == 0, r.err
    [out] = r.json()  # --json gives a list, one object per feed, also for one feed
    assert (out["source"], out["status"], out["loaded"], out["sanity_dropped"]) == ("web", "loaded", 3, 1)
    r = cli("-w", ws, "--json", "intel", "update", "web")
    assert r.json()[0]["status"] == "not-modified"
    r = cli("-w", ws, "--json", "intel", "load", FIX / "ipsum" / "ipsum-head.txt", "--source", "ipsum")
    assert r.code == 0 and r.json()["loaded"] == 201
    feeds = cli("-w", ws, "--json", "intel", "feeds").json()
    assert {v["source"] for v in feeds["versions"]} == {"web", "ipsum"} and feeds["configured"] == ["web"]
    rej = cli("-w", ws, "--json", "intel", "rejects", "--source", "web").json()
    assert [(x["kind"], x["raw"]) for x in rej] == [("sanity", "10.0.0.1")]
    tables = {t["table"]: t["rows"] for t in cli("-w", ws, "--json", "tables").json()}
    assert tables["indicators"] == 204 and tables["intel_feed_versions"] == 2
    human = cli("-w", ws, "intel", "feeds")
    assert human.code == 0 and "ipsum" in human.out
    assert cli("-w", ws, "intel", "update", "nope").code == 2


def test_cli_csv_map_and_errors(cli: Any, tmp_path: Path):
    f = tmp_path / "x.csv"
    f.write_text("# ioc,kind\nevil.example,domain\n45.155.205.3,ip\n")
    r = cli("-w", tmp_path / "ws", "--json", "intel", "load", f, "--source", "mapped", "--format", "csv",
            "--map", "value=ioc,type=kind", "--confidence", "55")
    assert r.code == 0, r.err
    assert (r.json()["loaded"], r.json()["format"]) == (2, "csv")
    r = cli("-w", tmp_path / "ws", "intel", "load", f, "--source", "m2", "--format", "csv")
    assert r.code == 3 and "column mapping" in r.err
    r = cli("-w", tmp_path / "ws", "intel", "load", f, "--source", "m3", "--format", "bogus")
    assert r.code == 2 and "unknown feed format" in r.err
    r = cli("-w", tmp_path / "ws", "intel", "load", f, "--source", "m4", "--map", "nokeyvalue", "--format", "csv")
    assert r.code == 2 and "key=value" in r.err
    assert json.loads(cli("-w", tmp_path / "ws", "--json", "intel", "formats").out)[0]["name"] == "stix"
