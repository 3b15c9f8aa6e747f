"""Fixtures of the actions tests: a workspace, real-looking alerts, a local HTTP server that answers
as scripted, a local SMTP server (aiosmtpd, optionally STARTTLS + AUTH) and a moto server."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cairn.detect.alerts import Alert
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace

SECRET = "s3cr3t-hmac-key-0123456789"
T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


def make_alert(n: int = 0, *, severity: str = "high", rule_id: str = "aws_cloudtrail_disable_logging",
               **over: Any) -> dict[str, Any]:
    """An alert as detect hands it to actions (``Alert.to_dict()``), shaped after a Stratus detonation."""
    a = Alert(
        alert_id=f"{n:04d}" + "ab12cd34ef56" * 2, rule_id=rule_id, rule_title="AWS CloudTrail Important Change",
        title=f"CloudTrail logging stopped by stratus-red-team-user #{n}", severity=severity,
        severity_id={"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}[severity],
        first_seen=T0, last_seen=T0 + dt.timedelta(minutes=3), event_count=2,
        event_uids=["e5b2ff4a-1b6f-4a0b-9b9e-0c5a3e1d2f01", "0b1c9e4e-6a51-4d40-a3c2-8b0f1e3c2a7d"],
        source="cloudtrail", identity="arn:aws:iam::012345678901:user/stratus-red-team-user",
        resource="arn:aws:cloudtrail:us-east-1:012345678901:trail/stratus-red-team-ctl-trail",
        ips=["203.0.113.7"], account_id="012345678901", dedup_key="stratus-red-team-user",
        max_score_id=9,
        enrichment_summary=json.dumps({  # the shape cairn.detect writes
            "max_score_id": 9, "observables": 4,
            "verdicts": [{"type": "ip", "value": "203.0.113.7", "score_id": 9, "score": "Malicious",
                          "why": "feodotracker: botnet C2", "sources": ["feodotracker"]}],
            "warninglisted": [], "networks": [{"ip": "203.0.113.7", "asn": 64500, "as_org": "Example Net",
                                               "country": "NL", "cloud_provider": None, "tor": False}],
            "accounts": [], "people": [], "teams": [], "assets": []}),
        created_at=T0 + dt.timedelta(minutes=5), updated_at=T0 + dt.timedelta(minutes=5),
    ).to_dict()
    a.update(over)
    return a


@dataclass
class Workplace:
    ws: Workspace
    engine: DuckDBEngine

    def outbox(self) -> list[dict[str, Any]]:
        return self.engine.arrow("SELECT * FROM _cairn_outbox ORDER BY alert_id, action").to_pylist()


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Workplace]:
    ws = Workspace.open(tmp_path / "ws")
    engine = DuckDBEngine(ws.catalog_path)
    Catalog(engine, ws.lake)
    try:
        yield Workplace(ws, engine)
    finally:
        engine.close()


# -- HTTP ----------------------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpServer:
    """A local HTTP server recording every request and answering from a script (then ``default``)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self.responder: Any = None
        """A function of the request returning the Reply (takes precedence over the script)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                got = Received(self.path, dict(self.headers.items()), body)
                outer.requests.append(got)
                if outer.responder is not None:
                    reply = outer.responder(got)
                else:
                    reply = outer.script.pop(0) if outer.script else outer.default
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in {"Content-Type": "text/plain", **reply.headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http() -> Iterator[HttpServer]:
    s = HttpServer()
    try:
        yield s
    finally:
        s.close()


# -- SMTP ----------------------------------------------------------------------------------------------
@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    auth: Any = None


class SmtpServer:
    """aiosmtpd on 127.0.0.1 collecting messages; ``tls`` adds STARTTLS and required AUTH."""

    def __init__(self, tmp: Path, *, tls: bool = False, user: str = "", password: str = "") -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Mail] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                           getattr(session, "auth_data", None)))
                return "250 OK"

        kwargs: dict[str, Any] = {}
        self.cert: Path | None = None
        if tls:
            import ssl

            self.cert, key = _self_signed(tmp)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert, key)

            def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
                from aiosmtpd.smtp import AuthResult

                ok = auth_data.login == user.encode() and auth_data.password == password.encode()
                return AuthResult(success=ok, handled=False)

            kwargs = {"tls_context": ctx, "require_starttls": True, "authenticator": authenticator,
                      "auth_required": True, "auth_require_tls": True}
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "smtp.crt", tmp / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    s = SmtpServer(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def smtp_tls(tmp_path: Path) -> Iterator[SmtpServer]:
    s = SmtpServer(tmp_path, tls=True, user="alerts@example.com", password="mail-pass-Zq81")
    try:
        yield s
    finally:
        s.close()


# -- moto ----------------------------------------------------------------------------------------------
@pytest.fixture
def aws(moto: str) -> str:
    """The shared moto server (tests/conftest.py), reset, with cairn pointed at it."""
    return moto
