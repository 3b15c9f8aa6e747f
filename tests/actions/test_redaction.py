"""Secrets on display (``cairn config show``, ``cairn actions list``, errors) and URL userinfo sent as HTTP
Basic auth: redaction hides them everywhere while deliveries still use the real values."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from actions.conftest import SECRET, HttpServer, Received, Reply, Workplace, free_port, make_alert
from cairn.actions import actions_settings, dispatch
from cairn.actions.destinations.http import split_userinfo
from cairn.actions.settings import Scrubber, parse_action, redacted_options
from cairn.config import is_secret_key, redact, redact_text
from cairn.errors import ConfigError

PASSWORD = "hunter2pw"
TOKEN = "tok3nvalue"
SMTP_PASSWORD = "literalSMTPpass"
SLACK_PATH = "T0AAA/B0BBB/slackpath9secret"
BASIC = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
LEAKS = (PASSWORD, TOKEN, SMTP_PASSWORD, "slackpath9secret", BASIC.split()[1], SECRET, "literal-api-key-77")


def _basic_auth_required(expected: str) -> Any:
    """A responder: 200 with the right Authorization, else 401 echoing what it got (as bad servers do)."""
    def answer(req: Received) -> Reply:
        got = req.headers.get("Authorization", "")
        if got == expected:
            return Reply(200, b"ok")
        return Reply(401, f"bad credentials {got} for {req.path} ({PASSWORD})".encode())
    return answer


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_REDACT_HOOK_SECRET", SECRET)
    monkeypatch.setenv("COLUMNS", "400")  # wide tables: no secret split or cut by wrapping


# -- the redaction function --------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["password", "secret", "token", "api_key", "apiKey", "X-Api-Key", "Authorization",
                                 "webhook_url", "client_secret", "smtp_passwd", "access_token", "signing_key"])
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["url", "host", "username", "from", "to", "sign", "max_tokens", "sigma", "keys",
                                 "endpoint_url", "default_format", "author"])
def test_plain_keys(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(("text", "shown"), [
    (f"http://admin:{PASSWORD}@127.0.0.1:8/hook?token={TOKEN}&x=1", "http://admin:***@127.0.0.1:8/hook?token=***&x=1"),
    (f"https://h/p?access_token={TOKEN}#frag", "https://h/p?access_token=***#frag"),
    (f"https://h/p?X-Amz-Signature={TOKEN}&X-Amz-Credential=AKIA", "https://h/p?X-Amz-Signature=***&X-Amz-Credential=***"),
    (f"https://h/p?client_secret={TOKEN}&api_key={TOKEN}", "https://h/p?client_secret=***&api_key=***"),
    (f"https://hooks.slack.com/services/{SLACK_PATH}", "https://hooks.slack.com/services/***"),
    (f"error posting to https://hooks.slack.com/workflows/{SLACK_PATH}: 404",
     "error posting to https://hooks.slack.com/workflows/***: 404"),
    ("http://admin:${HOOK_PW}@h/p?token=${HOOK_TOKEN}", "http://admin:${HOOK_PW}@h/p?token=${HOOK_TOKEN}"),
    ("https://siem.example.com/hooks/cairn?monkey=1", "https://siem.example.com/hooks/cairn?monkey=1"),
    (f"https://{TOKEN}@h:8/hook", "https://***@h:8/hook"),
    (f"see https://{TOKEN}@h/x and http://${{HOOK_USER}}@h/y", "see https://***@h/x and http://${HOOK_USER}@h/y"),
])
def test_redact_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_redact_settings_tree() -> None:
    settings = {
        "hook": {"type": "webhook", "url": f"http://admin:{PASSWORD}@h:1/hook?token={TOKEN}",
                 "secret": "${HOOK_SECRET}", "sign": True,
                 "headers": {"Authorization": "Bearer ${PARTNER_TOKEN}", "X-Api-Key": "literal-api-key-77",
                             "X-Team": "soc"}},
        "mail": {"type": "email", "port": 587, "username": "u", "password": SMTP_PASSWORD, "to": ["b@example.com"]},
        "chat": {"type": "slack", "webhook_url": f"https://hooks.slack.com/services/{SLACK_PATH}"},
        "other": {"pin": 1234, "password": 987654, "tokens": [TOKEN], "auth": {"token": "Bearer abc123"}, "key": ""},
    }
    shown = redact(settings)
    assert shown == {
        "hook": {"type": "webhook", "url": "http://admin:***@h:1/hook?token=***", "secret": "${HOOK_SECRET}",
                 "sign": True,
                 "headers": {"Authorization": "Bearer ${PARTNER_TOKEN}", "X-Api-Key": "***", "X-Team": "soc"}},
        "mail": {"type": "email", "port": 587, "username": "u", "password": "***", "to": ["b@example.com"]},
        "chat": {"type": "slack", "webhook_url": "***"},
        "other": {"pin": 1234, "password": "***", "tokens": [TOKEN], "auth": {"token": "***"}, "key": ""},
    }
    assert settings["mail"]["password"] == SMTP_PASSWORD  # a copy: the settings themselves are untouched


def test_redacted_options_and_config_errors() -> None:
    cfg = parse_action("hook", {"type": "webhook", "url": f"http://admin:{PASSWORD}@h/x?sig={TOKEN}",
                                "secret": "${S}", "headers": {"X-Auth-Token": "literal-api-key-77"}})
    assert redacted_options(cfg) == {"url": "http://admin:***@h/x?sig=***", "secret": "${S}",
                                     "headers": {"X-Auth-Token": "***"}}
    assert cfg.options["url"].startswith(f"http://admin:{PASSWORD}@")  # as written, for delivery
    with pytest.raises(ConfigError) as err:
        parse_action("hook", {"type": "webhook", "url": "http://h/x", "secret": 918273645})
    assert "secret must be str" in str(err.value) and "918273645" not in str(err.value)


def test_scrubber_learns_url_secrets_of_the_options() -> None:
    from cairn.actions.settings import resolved_options

    scrub = Scrubber()
    cfg = parse_action("hook", {"type": "webhook", "url": f"http://admin:p%40{PASSWORD}@h/x?token={TOKEN}",
                                "sign": False, "headers": {"Authorization": "Bearer literal-api-key-77"}})
    resolved_options(cfg, scrub)
    text = scrub(f"echo: {TOKEN} p@{PASSWORD} p%40{PASSWORD} Bearer literal-api-key-77")
    assert all(s not in text for s in LEAKS), text


# -- HTTP Basic auth from URL userinfo ---------------------------------------------------------------
def test_split_userinfo() -> None:
    assert split_userinfo("http://h:1/p?q=1") == ("http://h:1/p?q=1", None)
    url, auth = split_userinfo("https://ad%3Amin:p%40ss:w@[::1]:8443/p?token=t")
    assert url == "https://[::1]:8443/p?token=t"
    assert auth is not None and base64.b64decode(auth.removeprefix("Basic ")) == b"ad:min:p@ss:w"


def test_webhook_userinfo_is_basic_auth(place: Workplace, http: HttpServer) -> None:
    http.responder = _basic_auth_required(BASIC)
    url = f"http://admin:{PASSWORD}@{http.url.removeprefix('http://')}/hook?token={TOKEN}"
    cfg = actions_settings({"hook": {"type": "webhook", "url": url, "secret": "${CAIRN_REDACT_HOOK_SECRET}"}})
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert (s.delivered, s.retrying, s.failed) == (1, 0, 0), s.errors
    [req] = http.requests
    assert req.path == f"/hook?token={TOKEN}"  # the token still reaches the server
    assert req.headers["Authorization"] == BASIC
    assert "@" not in req.headers["Host"] and PASSWORD not in json.dumps(req.headers)


def test_percent_encoded_userinfo_and_explicit_header(place: Workplace, http: HttpServer) -> None:
    expected = "Basic " + base64.b64encode(b"ops@example.com:p@ss/w0rd").decode()
    http.responder = _basic_auth_required(expected)
    base = http.url.removeprefix("http://")
    cfg = actions_settings({
        "a": {"type": "webhook", "url": f"http://ops%40example.com:p%40ss%2Fw0rd@{base}/a", "sign": False},
        "b": {"type": "webhook", "url": f"http://x:wrong@{base}/b", "sign": False,
              "headers": {"authorization": expected}},  # an explicit header wins over the userinfo
    })
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert (s.delivered, s.failed) == (2, 0), s.errors
    assert [r.headers["Authorization"] for r in sorted(http.requests, key=lambda r: r.path)] == [expected] * 2


def test_refused_credentials_never_in_errors(place: Workplace, http: HttpServer) -> None:
    http.responder = _basic_auth_required("Basic nope")  # refuses, echoing the header and password
    url = f"http://admin:{PASSWORD}@{http.url.removeprefix('http://')}/hook?token={TOKEN}"
    cfg = actions_settings({"hook": {"type": "webhook", "url": url, "sign": False},
                            "down": {"type": "webhook", "url": f"http://admin:{PASSWORD}@127.0.0.1:{free_port()}/x",
                                     "sign": False}})
    s = dispatch(place.engine, place.ws, [make_alert(1)], cfg)
    assert (s.failed, s.retrying) == (1, 1)
    texts = [e["error"] for e in s.errors] + [r["last_error"] for r in place.outbox()]
    assert any("HTTP 401" in t for t in texts) and any("cannot connect" in t for t in texts)
    for text in texts:
        assert all(leak not in text for leak in LEAKS), text


# -- the CLI -----------------------------------------------------------------------------------------
def _config(tmp_path: Path, http_url: str) -> Path:
    hostport = http_url.removeprefix("http://")
    p = tmp_path / "a.toml"
    p.write_text(f"""
[actions.hook]
type = "webhook"
url = "http://admin:{PASSWORD}@{hostport}/hook?token={TOKEN}"
secret = "${{CAIRN_REDACT_HOOK_SECRET}}"

[actions.mail]
type = "email"
host = "127.0.0.1"
port = 9
from = "a@example.com"
to = ["b@example.com"]
username = "u"
password = "{SMTP_PASSWORD}"

[actions.chat]
type = "slack"
webhook_url = "https://hooks.slack.com/services/{SLACK_PATH}"

[actions.tokenhook]
type = "webhook"
url = "https://{TOKEN}@{hostport}/token-hook"
sign = false

[actions.slackhook]
type = "webhook"
url = "https://hooks.slack.com/services/{SLACK_PATH}"
sign = false

[intel.feeds.partner]
headers = {{ Authorization = "Bearer ${{PARTNER_TOKEN}}", X-Api-Key = "literal-api-key-77" }}
""")
    return p


def test_config_show_and_actions_list_hide_secrets(cli: Any, tmp_path: Path, http: HttpServer) -> None:
    conf = _config(tmp_path, http.url)
    base = ("-w", tmp_path / "ws", "-c", conf)
    for args in (("config", "show"), ("--json", "config", "show"), ("actions", "list"), ("--json", "actions", "list")):
        r = cli(*base, *args)
        assert r.code == 0, r.err
        for leak in LEAKS:
            assert leak not in r.out + r.err, (args, leak)
        assert "***" in r.out
    shown = json.loads(cli(*base, "--json", "config", "show").out)
    assert shown["actions"]["hook"]["url"].endswith(f"@{http.url.removeprefix('http://')}/hook?token=***")
    assert shown["actions"]["hook"]["url"].startswith("http://admin:***@")
    assert shown["actions"]["hook"]["secret"] == "${CAIRN_REDACT_HOOK_SECRET}"
    assert shown["actions"]["mail"] == {"type": "email", "host": "127.0.0.1", "port": 9, "from": "a@example.com",
                                        "to": ["b@example.com"], "username": "u", "password": "***"}
    assert shown["actions"]["chat"]["webhook_url"] == "***"
    assert shown["actions"]["slackhook"]["url"] == "https://hooks.slack.com/services/***"
    assert shown["actions"]["tokenhook"]["url"].startswith("https://***@")
    assert shown["intel"]["feeds"]["partner"]["headers"] == {"Authorization": "Bearer ${PARTNER_TOKEN}",
                                                             "X-Api-Key": "***"}
    listed = {a["name"]: a["options"] for a in json.loads(cli(*base, "--json", "actions", "list").out)}
    assert listed["hook"]["url"] == shown["actions"]["hook"]["url"]
    assert listed["slackhook"]["url"] == "https://hooks.slack.com/services/***"


def test_actions_test_delivers_with_userinfo_and_hides_it_on_failure(cli: Any, tmp_path: Path,
                                                                     http: HttpServer) -> None:
    conf = _config(tmp_path, http.url)
    base = ("-w", tmp_path / "ws", "-c", conf)
    http.responder = _basic_auth_required(BASIC)
    r = cli(*base, "actions", "test", "hook")
    assert r.code == 0, r.err
    assert "test alert delivered to hook" in r.out
    assert http.requests[-1].headers["Authorization"] == BASIC
    assert http.requests[-1].path == f"/hook?token={TOKEN}"

    http.responder = _basic_auth_required("Basic nope")
    r = cli(*base, "actions", "test", "hook")
    assert r.code != 0 and "HTTP 401" in r.err
    assert all(leak not in r.out + r.err for leak in LEAKS), r.err
