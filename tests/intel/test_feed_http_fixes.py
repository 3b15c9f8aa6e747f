"""Feed downloads over HTTP: cut-off bodies, conditional requests after config changes, header values
kept out of messages, maltrail names from URLs, one ``--json`` document, no leftover downloads, headers
dropped on cross-host redirects. A real server on 127.0.0.1 answers like feed servers do."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from feeds_support import Route, Server, Store, http_server_fixture, no_sleep, st_fixture  # noqa: F401
from test_feed_formats import write_misp_feed

from cairn.errors import ConfigError, RemoteError, TransientError
from cairn.intel.feeds import FeedConfig, HttpClient, input_name, load_target, update_feed

BIG_V1 = "".join(f"45.{i // 200}.{i % 200}.1\n" for i in range(1000)).encode()
BIG_V2 = "".join(f"45.{i // 200}.{i % 200}.2\n" for i in range(1000)).encode()
LIST = b"45.155.205.1\n45.155.205.2\nevil.example\n"
SECRET = "SUPERSECRET42"


@dataclass
class Answer:
    """What :class:`FeedServer` answers for a path (the query string is ignored for routing)."""

    body: bytes = b""
    etag: str | None = None
    cut: int = 0
    """Answer this many requests with ``Content-Length`` of the whole body but only half of it."""
    chunked_cut: int = 0
    """Answer this many requests (-1: all) chunked, stopping after the first chunk (no last chunk)."""
    redirect: str | None = None


@dataclass
class FeedServer:
    url: str
    answers: dict[str, Answer] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def requests(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.log if p.split("?", 1)[0] == path]


def _serve(state: FeedServer) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            state.log.append((self.path, dict(self.headers.items())))
            a = state.answers.get(path)
            if a is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return
            if a.redirect:
                self.send_response(302)
                self.send_header("Location", a.redirect)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return
            if a.etag and self.headers.get("If-None-Match") == a.etag:
                self.send_response(304)
                self.send_header("ETag", a.etag)
                self.send_header("Connection", "close")
                self.end_headers()
                return
            self.send_response(200)
            if a.etag:
                self.send_header("ETag", a.etag)
            self.send_header("Connection", "close")
            if a.chunked_cut:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = a.body[: len(a.body) // 2]
                self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
                self.wfile.flush()
                if a.chunked_cut > 0:
                    a.chunked_cut -= 1
                return  # cut: no more chunks, no terminating 0-chunk
            self.send_header("Content-Length", str(len(a.body)))
            self.end_headers()
            if a.cut > 0:
                a.cut -= 1
                self.wfile.write(a.body[: len(a.body) // 2])
                self.wfile.flush()
                return
            self.wfile.write(a.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _running() -> Iterator[FeedServer]:
    """A :class:`FeedServer` on a port of its own, shut down afterwards."""
    state = FeedServer("")
    server, state.url = _serve(state)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(name="feed_server")
def feed_server_fixture() -> Iterator[FeedServer]:
    yield from _running()


@pytest.fixture(name="other_server")
def other_server_fixture() -> Iterator[FeedServer]:
    """A second server (another port: another host for redirects)."""
    yield from _running()


def _client(feed: FeedConfig) -> HttpClient:
    return HttpClient(feed.headers, timeout=5, retries=feed.retries, sleep=no_sleep())


def _downloads(st: Store) -> list[Path]:
    d = st.ws.root / "tmp" / "intel-downloads"
    return sorted(d.glob("*")) if d.exists() else []


def _toml(ws: Path, text: str) -> None:
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "cairn.toml").write_text(text)


# -- 1. a body shorter than its Content-Length -----------------------------------------------------------


def test_short_body_is_a_connection_error(feed_server: FeedServer, tmp_path: Path):
    feed_server.answers["/big.txt"] = Answer(BIG_V1, cut=99)
    sleep = no_sleep()
    with pytest.raises(TransientError, match=rf"ended after {len(BIG_V1) // 2:,} of {len(BIG_V1):,} bytes.*after 3 tries"):
        HttpClient(retries=2, sleep=sleep).get(feed_server.url + "/big.txt", dest=tmp_path / "d")
    assert len(feed_server.requests("/big.txt")) == 3 and sleep.waits == [0.5, 1.0]  # type: ignore[attr-defined]
    with pytest.raises(TransientError, match="cut short"):  # in memory (folder layouts): the same
        HttpClient(retries=0).get(feed_server.url + "/big.txt")
    feed_server.answers["/big.txt"].cut = 1  # cut once, then whole: the retry gets the feed
    r = HttpClient(retries=1, sleep=no_sleep()).get(feed_server.url + "/big.txt", dest=tmp_path / "d")
    assert r.status == 200 and (tmp_path / "d").read_bytes() == BIG_V1


def test_short_body_stores_nothing(st: Store, feed_server: FeedServer):
    answer = Answer(BIG_V1, etag='"v1"')
    feed_server.answers["/big.txt"] = answer
    feed = FeedConfig("big", url=feed_server.url + "/big.txt", format="plain", retries=2)
    first = update_feed(st.store, feed, client=_client(feed))
    assert (first.status, first.loaded) == ("loaded", 1000)
    answer.body, answer.etag, answer.cut = BIG_V2, '"v2"', 99
    with pytest.raises(TransientError, match="connection broken"):
        update_feed(st.store, feed, client=_client(feed))
    cur = st.store.current("big")
    assert (cur["feed_version"], cur["loaded"], cur["etag"]) == (first.feed_version, 1000, '"v1"')
    assert len(st.store.versions("big")) == 1 and not _downloads(st)
    answer.cut = 0
    again = update_feed(st.store, feed, client=_client(feed))
    assert (again.status, again.loaded, again.added, again.removed) == ("loaded", 1000, 1000, 1000)
    assert st.store.current("big")["etag"] == '"v2"'


# -- 4. cut-off chunked bodies and MISP members read into memory ------------------------------------------


def test_cut_chunked_body_is_retried(feed_server: FeedServer, tmp_path: Path):
    feed_server.answers["/c.txt"] = Answer(LIST, chunked_cut=-1)
    with pytest.raises(TransientError, match=r"connection broken.*after 2 tries"):
        HttpClient(retries=1, sleep=no_sleep()).get(feed_server.url + "/c.txt", dest=tmp_path / "d")
    with pytest.raises(TransientError, match="connection broken"):
        HttpClient(retries=0).get(feed_server.url + "/c.txt")
    feed_server.answers["/c.txt"] = Answer(LIST, chunked_cut=1)  # cut once, then whole
    assert HttpClient(retries=1, sleep=no_sleep()).get(feed_server.url + "/c.txt").body == LIST


@pytest.mark.parametrize("member", ["manifest.json", "event"])
def test_cut_misp_member_fails_the_feed(st: Store, feed_server: FeedServer, tmp_path: Path, member: str):
    files = sorted(write_misp_feed(tmp_path / "feed").iterdir())
    for f in files:
        feed_server.answers[f"/misp/{f.name}"] = Answer(f.read_bytes())
    name = "manifest.json" if member == "manifest.json" else next(
        f.name for f in files if f.name not in ("manifest.json", "hashes.csv"))
    feed_server.answers[f"/misp/{name}"].cut = 99
    feed = FeedConfig("mispcut", url=feed_server.url + "/misp/", retries=1)
    with pytest.raises(TransientError, match="cut short"):
        update_feed(st.store, feed, client=_client(feed))
    assert len(feed_server.requests(f"/misp/{name}")) == 2 and st.store.current("mispcut") is None


def test_update_tries_every_feed_after_a_cut_body(cli: Any, tmp_path: Path, feed_server: FeedServer):
    for f in write_misp_feed(tmp_path / "feed").iterdir():
        feed_server.answers[f"/misp/{f.name}"] = Answer(f.read_bytes())
    feed_server.answers["/misp/manifest.json"].chunked_cut = -1
    feed_server.answers["/l.txt"] = Answer(LIST)
    ws = tmp_path / "ws"
    _toml(ws, f'[intel.feeds.misp]\nurl = "{feed_server.url}/misp/"\nretries = 0\n'
              f'[intel.feeds.web]\nurl = "{feed_server.url}/l.txt"\nformat = "plain"\nretries = 0\n')
    r = cli("-w", ws, "--json", "intel", "update")
    assert r.code == 7, r.err
    out = r.json()
    assert [(x["source"], x["status"]) for x in out] == [("misp", "failed"), ("web", "loaded")]
    assert "connection broken" in out[0]["error"] and "Traceback" not in r.err
    assert "1 of 2 feed(s) failed" in r.err


# -- 2. a 304 never hides a configuration change ----------------------------------------------------------


def test_url_change_is_not_conditional(st: Store, feed_server: FeedServer):
    feed_server.answers["/a.txt"] = Answer(LIST, etag='"same"')
    feed_server.answers["/b.txt"] = Answer(b"185.220.101.0\nnew.example\n", etag='"same"')
    a = FeedConfig("moved", url=feed_server.url + "/a.txt", format="plain")
    assert update_feed(st.store, a).loaded == 3
    assert update_feed(st.store, a).status == "not-modified"
    b = FeedConfig("moved", url=feed_server.url + "/b.txt", format="plain")
    r = update_feed(st.store, b)
    assert "If-None-Match" not in feed_server.requests("/b.txt")[0]
    assert (r.status, r.origin, r.added, r.removed) == ("loaded", b.url, 2, 3)
    assert st.store.current("moved")["origin"] == b.url
    assert update_feed(st.store, b).status == "not-modified"  # from now on conditional again
    assert feed_server.requests("/b.txt")[-1]["If-None-Match"] == '"same"'


def test_load_setting_change_is_not_conditional(st: Store, feed_server: FeedServer):
    feed_server.answers["/l.txt"] = Answer(LIST, etag='"v1"')
    url = feed_server.url + "/l.txt"
    assert update_feed(st.store, FeedConfig("conf", url=url, confidence=50)).loaded == 3
    r = update_feed(st.store, FeedConfig("conf", url=url, confidence=80))
    assert "If-None-Match" not in feed_server.log[-1][1]
    assert (r.status, r.loaded) == ("loaded", 3)
    assert {c for (c,) in st.q("SELECT confidence FROM indicators WHERE source = 'conf'")} == {80}
    again = update_feed(st.store, FeedConfig("conf", url=url, confidence=80))
    assert again.status == "not-modified" and feed_server.log[-1][1]["If-None-Match"] == '"v1"'


def test_not_modified_applies_policy_and_reports_the_current_version(st: Store, feed_server: FeedServer):
    feed_server.answers["/l.txt"] = Answer(LIST, etag='"v1"')
    url = feed_server.url + "/l.txt"
    first = update_feed(st.store, FeedConfig("pol", url=url))  # format auto: detected as plain
    assert first.format == "plain"
    r = update_feed(st.store, FeedConfig("pol", url=url, max_age_days=30, decay_half_life_days=7))
    assert feed_server.log[-1][1]["If-None-Match"] == '"v1"'
    assert (r.status, r.feed_version, r.format, r.loaded, r.unchanged, r.content_hash) == (
        "not-modified", first.feed_version, "plain", 3, 3, first.content_hash)
    cur = st.store.current("pol")
    assert (cur["max_age_days"], cur["decay_half_life_days"]) == (30.0, 7.0)


def test_304_to_an_unconditional_request_is_an_error(st: Store, feed_server: FeedServer):
    feed_server.answers["/l.txt"] = Answer(LIST, etag='"v1"')
    url = feed_server.url + "/l.txt"
    update_feed(st.store, FeedConfig("odd", url=url, confidence=10))

    class Always304(HttpClient):
        def get(self, url: str, **kw: Any) -> Any:
            from cairn.intel.feeds import Response

            return Response(304)

    with pytest.raises(RemoteError, match="304"):  # settings changed: no conditional headers were sent
        update_feed(st.store, FeedConfig("odd", url=url, confidence=20), client=Always304())
    assert not _downloads(st)


# -- 3. header values never in messages -------------------------------------------------------------------


def test_bad_header_value_names_the_header(feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch):
    feed_server.answers["/l.txt"] = Answer(LIST)
    monkeypatch.setenv("CAIRN_TEST_TOKEN", SECRET + "\n")
    with pytest.raises(ConfigError) as info:
        HttpClient({"Authorization": "Bearer ${CAIRN_TEST_TOKEN}"}).get(feed_server.url + "/l.txt")
    msg = str(info.value)
    assert "header Authorization: value is not valid (contains a line break" in msg
    assert SECRET not in msg and "invalid URL" not in msg and not feed_server.log
    monkeypatch.setenv("CAIRN_TEST_TOKEN", SECRET + "\u20ac")
    with pytest.raises(ConfigError, match=r"X-Api-Key: value is not valid .*Latin-1") as info:
        HttpClient({"X-Api-Key": "${CAIRN_TEST_TOKEN}"}).get(feed_server.url + "/l.txt")
    assert SECRET not in str(info.value)


def test_bad_header_value_not_in_cli_output(cli: Any, tmp_path: Path, feed_server: FeedServer,
                                            monkeypatch: pytest.MonkeyPatch):
    feed_server.answers["/l.txt"] = Answer(LIST)
    monkeypatch.setenv("CAIRN_TEST_TOKEN", SECRET + "\n")
    ws = tmp_path / "ws"
    _toml(ws, f'[intel.feeds.tok]\nurl = "{feed_server.url}/l.txt"\n'
              'headers = { Authorization = "Bearer ${CAIRN_TEST_TOKEN}" }\n')
    r = cli("-w", ws, "--json", "intel", "update")
    assert r.code == 2 and SECRET not in r.out + r.err and "invalid URL" not in r.out + r.err
    assert "header Authorization" in r.json()[0]["error"]
    r = cli("-w", ws, "intel", "load", f"{feed_server.url}/l.txt", "--source", "tok")
    assert r.code == 2 and SECRET not in r.out + r.err and "header Authorization" in r.err


# -- 5. maltrail trail names from URLs with a query ---------------------------------------------------------


@pytest.mark.parametrize("query", ["?token=abc", "?raw=true", "#frag"])
def test_maltrail_trail_name_without_query(st: Store, feed_server: FeedServer, query: str):
    trail = (b"# Copyright (c) 2014-2026 Maltrail developers (https://maltrail.github.io/)\n"
             b"# Reference: https://example.org/report\nevil-emotet.example\n")
    feed_server.answers["/trails/static/malware/emotet.txt"] = Answer(trail)
    r = load_target(st.store, f"{feed_server.url}/trails/static/malware/emotet.txt{query}", "mt")
    assert (r.format, r.loaded) == ("maltrail", 1)
    [row] = st.dicts("SELECT malware_family, tags, threat_type FROM indicators WHERE source = 'mt'")
    assert row == {"malware_family": ["emotet"], "tags": ["maltrail:emotet"], "threat_type": "malware"}


def test_input_name():
    assert input_name("https://h.example/a/emotet.txt?token=abc#x") == "emotet.txt"
    assert input_name("https://h.example/misp/") == "misp"
    assert input_name("/data/feeds/x?.txt") == "x?.txt"  # a local name keeps its characters


# -- 6. one --json document for intel update ---------------------------------------------------------------


def test_update_json_is_one_list(cli: Any, tmp_path: Path, feed_server: FeedServer):
    feed_server.answers["/a.txt"] = Answer(LIST, etag='"a"')
    feed_server.answers["/b.txt"] = Answer(b"185.220.101.7\n", etag='"b"')
    ws = tmp_path / "ws"
    _toml(ws, f'[intel.feeds.a]\nurl = "{feed_server.url}/a.txt"\n'
              f'[intel.feeds.b]\nurl = "{feed_server.url}/b.txt"\nformat = "plain"\n')
    r = cli("-w", ws, "--json", "intel", "update", "a", "b")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert [(x["source"], x["status"], x["loaded"]) for x in out] == [("a", "loaded", 3), ("b", "loaded", 1)]
    one = json.loads(cli("-w", ws, "--json", "intel", "update", "a").out)
    assert isinstance(one, list) and len(one) == 1
    assert (one[0]["status"], one[0]["loaded"], one[0]["format"]) == ("not-modified", 3, "plain")
    assert one[0]["feed_version"] == out[0]["feed_version"]


# -- 7. no download files left behind ---------------------------------------------------------------------


def test_failed_downloads_leave_no_files(st: Store, feed_server: FeedServer, http_server: Server):
    feed_server.answers["/cut.txt"] = Answer(LIST, cut=99)
    http_server.routes["/503.txt"] = Route(LIST, fail_first=[503, 503])
    http_server.routes["/ok.txt"] = Route(LIST, etag='"e"')
    for url, retries in ((feed_server.url + "/cut.txt", 1), (http_server.url + "/503.txt", 1),
                         (http_server.url + "/missing.txt", 0)):
        feed = FeedConfig("leak", url=url, format="plain", retries=retries)
        with pytest.raises(RemoteError, match=r"connection broken|HTTP 503|HTTP 404"):
            update_feed(st.store, feed, client=_client(feed))
        assert not _downloads(st), url
    ok = FeedConfig("leak", url=http_server.url + "/ok.txt", format="plain")
    assert update_feed(st.store, ok).status == "loaded"
    assert update_feed(st.store, ok).status == "not-modified" and not _downloads(st)


# -- 8. configured headers dropped on a redirect to another host ---------------------------------------------


def test_configured_headers_dropped_on_cross_host_redirect(feed_server: FeedServer, other_server: FeedServer,
                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAIRN_TEST_TOKEN", SECRET)
    other_server.answers["/f.txt"] = Answer(LIST)
    feed_server.answers["/f.txt"] = Answer(LIST)
    feed_server.answers["/away"] = Answer(redirect=other_server.url + "/f.txt")
    feed_server.answers["/hop"] = Answer(redirect="/away")
    feed_server.answers["/here"] = Answer(redirect="/f.txt")
    client = HttpClient({"X-Api-Key": "${CAIRN_TEST_TOKEN}", "Authorization": "Bearer ${CAIRN_TEST_TOKEN}"},
                        retries=0)
    assert client.get(feed_server.url + "/here").body == LIST  # same host: kept
    sent = feed_server.requests("/f.txt")[-1]
    assert sent["X-Api-Key"] == SECRET and sent["Authorization"] == f"Bearer {SECRET}"
    for start in ("/away", "/hop"):  # another port (origin), directly or after a same-host hop
        assert client.get(feed_server.url + start).body == LIST
        sent = {k.lower(): v for k, v in other_server.requests("/f.txt")[-1].items()}
        assert "x-api-key" not in sent and "authorization" not in sent
        assert sent["user-agent"].startswith("cairn-intel/")
    basic = feed_server.url.replace("http://", "http://user:pw@")  # URL user info (Basic auth) too
    assert HttpClient(retries=0).get(basic + "/away").body == LIST
    assert "authorization" not in {k.lower() for k in other_server.requests("/f.txt")[-1]}
