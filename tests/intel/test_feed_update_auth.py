"""``intel update`` keeps going past failed feeds; URL user info as HTTP Basic auth, never shown;
http(s) only; help text markup."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from feeds_support import Route, Server, Store, http_server_fixture, st_fixture  # noqa: F401
from test_feed_formats import write_misp_feed

from cairn.config import redact_text
from cairn.errors import ConfigError, RemoteError
from cairn.intel.feeds import FeedConfig, HttpClient, load_target, parse_feed, update_feed

SECRET = "hunter2"
BASIC = "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()
LIST = b"45.155.205.1\nevil.example\n"


@dataclass
class AuthServer:
    """127.0.0.1 server answering 401 unless ``Authorization`` is :data:`BASIC`; ``redirects`` maps a
    path to a ``Location``."""

    url: str
    files: dict[str, bytes]
    redirects: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture(name="auth_server")
def auth_server_fixture() -> Iterator[AuthServer]:
    state = AuthServer("", {})

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.log.append((self.path, self.headers.get("Authorization")))
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("Authorization") != BASIC:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="feeds"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://user:{SECRET}@127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_feed_urls_are_masked():
    assert redact_text("https://user:hunter2@h.example/f?x=1") == "https://user:***@h.example/f?x=1"
    assert redact_text("https://:tok@h.example/") == "https://:***@h.example/"
    # a user name alone is sent as Basic auth (https://TOKEN@host): it is the credential
    assert redact_text("https://tok3n@h.example/") == "https://***@h.example/"
    assert redact_text("/local/path.txt") == "/local/path.txt"


def test_basic_auth_from_url(auth_server: AuthServer):
    auth_server.files["/f.txt"] = LIST
    r = HttpClient(retries=0).get(auth_server.url + "/f.txt")
    assert r.body == LIST and auth_server.log[-1] == ("/f.txt", BASIC)
    bad = auth_server.url.replace(SECRET, "wrong")
    with pytest.raises(RemoteError, match="HTTP 401") as info:
        HttpClient(retries=0).get(bad + "/f.txt")
    assert "wrong" not in str(info.value) and "user:***@127.0.0.1" in str(info.value)
    # a configured Authorization header wins over the URL's user info
    with pytest.raises(RemoteError, match="HTTP 401"):
        HttpClient({"Authorization": "Bearer x"}, retries=0).get(auth_server.url + "/f.txt")
    assert auth_server.log[-1][1] == "Bearer x"


def test_auth_dropped_on_redirect_to_other_host(auth_server: AuthServer, http_server: Server):
    http_server.routes["/other.txt"] = Route(LIST)
    auth_server.files["/f.txt"] = LIST
    auth_server.redirects["/away"] = http_server.url + "/other.txt"
    auth_server.redirects["/here"] = "/f.txt"
    assert HttpClient(retries=0).get(auth_server.url + "/away").body == LIST
    assert "Authorization" not in http_server.log[-1][1]
    assert HttpClient(retries=0).get(auth_server.url + "/here").body == LIST  # same host: kept
    assert auth_server.log[-1] == ("/f.txt", BASIC)


def test_update_feed_with_credentials_stores_masked_origin(st: Store, auth_server: AuthServer):
    auth_server.files["/f.txt"] = LIST
    r = update_feed(st.store, FeedConfig("cred", url=auth_server.url + "/f.txt", format="plain"))
    assert r.loaded == 2 and SECRET not in r.origin and "user:***@" in r.origin
    origins = [o for (o,) in st.q("SELECT origin FROM _intel_feed_versions")]
    assert origins and not any(SECRET in o for o in origins)


def test_misp_folder_with_credentials(st: Store, auth_server: AuthServer, tmp_path: Path):
    for f in write_misp_feed(tmp_path / "feed").iterdir():
        auth_server.files[f"/misp/{f.name}"] = f.read_bytes()
    r = load_target(st.store, auth_server.url + "/misp/", "mispauth", client=HttpClient(retries=0))
    assert (r.format, r.loaded) == ("misp", 4) and SECRET not in r.origin
    assert all(auth == BASIC for _, auth in auth_server.log)


def test_credentials_never_in_cli_errors(cli: Any, tmp_path: Path):
    url = f"http://user:{SECRET}@127.0.0.1:{_dead_port()}/f.txt"
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "cairn.toml").write_text(f'[intel.feeds.t]\nurl = "{url}"\nretries = 0\n')
    r = cli("-w", ws, "intel", "load", url, "--source", "t")
    assert r.code == 7 and SECRET not in r.err + r.out and "user:***@127.0.0.1" in r.err
    assert "Name or service" not in r.err and "connection failed" in r.err
    r = cli("-w", ws, "--json", "intel", "update")
    assert r.code == 7 and SECRET not in r.err + r.out and "user:***@" in r.out


def test_update_continues_after_a_failed_feed(cli: Any, tmp_path: Path, http_server: Server):
    http_server.routes["/l.txt"] = Route(LIST)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "myfeed.txt").write_text("1.2.3.4\n")
    (ws / "cairn.toml").write_text(
        f'[intel.feeds.deadport]\nurl = "http://127.0.0.1:{_dead_port()}/feed.txt"\nretries = 0\n'
        f'[intel.feeds.missing]\npath = "nope.txt"\n'
        f'[intel.feeds.localok]\npath = "myfeed.txt"\n'
        f'[intel.feeds.web]\nurl = "{http_server.url}/l.txt"\nformat = "plain"\n')
    r = cli("-w", ws, "--json", "intel", "update")
    assert r.code == 7, r.err  # the first failure's exit code (RemoteError), as before
    out = {x["source"]: x for x in r.json()}
    assert [out[n]["status"] for n in ("deadport", "missing", "localok", "web")] == [
        "failed", "failed", "loaded", "loaded"]
    assert "connection failed" in out["deadport"]["error"] and "no such file" in out["missing"]["error"]
    assert "2 of 4 feed(s) failed" in r.err and "deadport" in r.err and "missing" in r.err
    assert {v["source"] for v in cli("-w", ws, "--json", "intel", "feeds").json()["versions"]} == {"localok", "web"}
    human = cli("-w", ws, "intel", "update")
    assert human.code == 7 and "failed" in human.out and "unchanged" in human.out
    assert cli("-w", ws, "--json", "intel", "update", "missing").code == 3
    assert cli("-w", ws, "--json", "intel", "update", "localok", "web").code == 0


def test_only_http_urls(cli: Any, tmp_path: Path):
    with pytest.raises(ConfigError, match=r"\[intel.feeds.x\] url ftp://127.0.0.1/feed.txt: only http:// and https://"):
        parse_feed("x", {"url": "ftp://127.0.0.1/feed.txt"})
    with pytest.raises(ConfigError, match=r"\[intel.feeds.x\] path must be a local file .* got a URL"):
        parse_feed("x", {"path": "ftp://127.0.0.1/feed.txt"}, tmp_path)
    with pytest.raises(ConfigError, match="has no host"):
        parse_feed("x", {"url": "https:///feed.txt"})
    with pytest.raises(ConfigError, match=r"user:\*\*\*@") as info:
        parse_feed("x", {"url": f"ftp://user:{SECRET}@127.0.0.1/f"})
    assert SECRET not in str(info.value)
    assert parse_feed("x", {"url": "HTTPS://h.example/f.txt"}).url == "HTTPS://h.example/f.txt"
    r = cli("-w", tmp_path / "ws", "intel", "load", "ftp://127.0.0.1/feed.txt", "--source", "t")
    assert r.code == 2 and "only http:// and https://" in r.err and "ftp://127.0.0.1/feed.txt" in r.err


def test_help_shows_brackets(cli: Any):
    for args in (("intel", "--help"), ("intel", "update", "--help")):
        r = cli(*args)
        assert r.code == 0 and "[intel.feeds.NAME]" in r.out, r.out
