"""A real SMTP server on loopback (aiosmtpd) that requires STARTTLS and AUTH, and can refuse on demand.

The certificate is self-signed and made at start-up for 127.0.0.1; `client_ssl_context()` trusts exactly it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME = "mailer"
PASSWORD = "s3cret-test-password"


@dataclass
class ReceivedMail:
    """One accepted message: the envelope and the raw bytes as they arrived."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool
    login: str | None


@dataclass
class _Failure:
    code_and_text: str
    remaining: int
    stage: str  # "rcpt" or "data"


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write a fresh key and a self-signed certificate (CN and IP SAN `host`); return their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _EphemeralPortController(Controller):
    """A Controller that binds port 0 and learns the port the kernel chose before probing it."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSMTPServer:
    """SMTP on 127.0.0.1:<ephemeral>, STARTTLS required, AUTH LOGIN/PLAIN with USERNAME/PASSWORD."""

    def __init__(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        self.username, self.password = username, password
        self.messages: list[ReceivedMail] = []
        self.auth_attempts: list[tuple[str, str, bool]] = []  # (mechanism, login, accepted)
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-smtp-")
        self.cert_path, self.key_path = make_self_signed_cert(Path(self._tmp.name))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(self.cert_path, self.key_path)
        self._controller = _EphemeralPortController(
            _Handler(self), hostname="127.0.0.1", port=0, tls_context=server_context, require_starttls=True,
            authenticator=self._authenticate, auth_required=True, auth_require_tls=True,
        )
        self.host = "127.0.0.1"
        self.port = 0

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    def fail_next(self, code_and_text: str, count: int = 1, stage: str = "rcpt") -> None:
        """Answer the next `count` messages with e.g. "451 4.3.0 try later" at RCPT TO or at DATA."""
        with self._lock:
            self._failures.append(_Failure(code_and_text, count, stage))

    def _take_failure(self, stage: str) -> str | None:
        with self._lock:
            for failure in self._failures:
                if failure.stage == stage and failure.remaining > 0:
                    failure.remaining -= 1
                    return failure.code_and_text
        return None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        ok = login == self.username and auth_data.password.decode("utf-8", "replace") == self.password
        with self._lock:
            self.auth_attempts.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> None:
        """Start serving in aiosmtpd's thread."""
        self._controller.start()
        self.port = self._controller.port

    def stop(self) -> None:
        """Stop serving and remove the certificate."""
        self._controller.stop()
        self._tmp.cleanup()

    @contextmanager
    def running(self) -> Iterator[FakeSMTPServer]:
        """Serve for the duration of the block."""
        self.start()
        try:
            yield self
        finally:
            self.stop()


class _Handler:
    def __init__(self, owner: FakeSMTPServer) -> None:
        self.owner = owner

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        failure = self.owner._take_failure("rcpt")
        if failure:
            return failure
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        failure = self.owner._take_failure("data")
        if failure:
            return failure
        content = envelope.original_content or envelope.content
        mail = ReceivedMail(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                            content=content if isinstance(content, bytes) else content.encode(),
                            tls=session.ssl is not None, authenticated=bool(session.authenticated),
                            login=session.auth_data.login.decode() if session.auth_data else None)
        with self.owner._lock:
            self.owner.messages.append(mail)
        return "250 Message accepted for delivery"

