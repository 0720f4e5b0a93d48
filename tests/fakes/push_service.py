"""A Web Push service on loopback that checks what a real one checks and decrypts what it receives.

`subscribe()` plays the browser: it makes a real P-256 key pair and 16-byte auth secret and returns the
PushSubscription JSON. A POST to the endpoint must carry a valid VAPID header (RFC 8292: ES256 JWT with
`aud` = the endpoint's origin, `exp` in the future and within 24 h, `sub` present, signed by `k`),
`Content-Encoding: aes128gcm` and a `TTL`; the body is decrypted (RFC 8291) with the subscription's private
key and recorded in `received`. Answers: 201 Created, 400/401/403 for protocol errors, 404 for unknown
subscriptions, 410 for expired ones, 413 over 4096 bytes, or whatever `fail_next` programmed.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url_decode(value: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(raw: bytes) -> str:
    """Encode to unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Subscription:
    """The browser side of one subscription: the keys only the user agent holds."""

    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None = None
    expired: bool = False


@dataclass
class Received:
    """One accepted push, decrypted."""

    token: str
    payload: bytes
    headers: dict[str, str]
    claims: dict[str, Any]

    def json(self) -> Any:
        """The decrypted payload parsed as JSON."""
        return json.loads(self.payload)


@dataclass
class FakePushService:
    """See the module docstring."""

    received: list[Received] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)  # why requests were refused
    _subs: dict[str, Subscription] = field(default_factory=dict)
    _faults: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def subscribe(self, application_server_key: str | None = None) -> dict[str, Any]:
        """Create a subscription as a browser would and return its PushSubscription JSON."""
        key = ec.generate_private_key(ec.SECP256R1())
        sub = Subscription(token=secrets.token_urlsafe(16), private_key=key, auth_secret=secrets.token_bytes(16),
                           application_server_key=application_server_key)
        self._subs[sub.token] = sub
        public = key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.url}/push/{sub.token}", "expirationTime": None,
                "keys": {"p256dh": b64url_encode(public), "auth": b64url_encode(sub.auth_secret)}}

    def expire(self, subscription: dict[str, Any]) -> None:
        """The user unsubscribed: the endpoint now answers 410 Gone."""
        self._subs[subscription["endpoint"].rsplit("/", 1)[1]].expired = True

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"", times: int = 1) -> None:
        """Answer the next `times` requests with `status` (before any checks)."""
        self._faults.extend([(status, headers or {}, body)] * times)

    def _verify_vapid(self, header: str) -> dict[str, Any]:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise PermissionError(f"authorization scheme {scheme!r} is not vapid")
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        token, key = parts.get("t"), parts.get("k")
        if not token or not key:
            raise PermissionError("vapid header lacks t or k")
        signing_input, _, signature = token.rpartition(".")
        header_b64, _, claims_b64 = signing_input.partition(".")
        jwt_header = json.loads(b64url_decode(header_b64))
        if jwt_header.get("alg") != "ES256":
            raise PermissionError(f"JWT alg {jwt_header.get('alg')!r} is not ES256")
        raw = b64url_decode(signature)
        if len(raw) != 64:
            raise PermissionError("ES256 signature must be 64 bytes (r || s)")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        try:
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise PermissionError("JWT signature does not verify with k") from None
        claims = json.loads(b64url_decode(claims_b64))
        now = time.time()
        if claims.get("aud") != self.url:
            raise PermissionError(f"aud {claims.get('aud')!r} is not {self.url!r}")
        if not isinstance(claims.get("exp"), int) or not now < claims["exp"] <= now + 24 * 3600 + 60:
            raise PermissionError("exp missing, past, or more than 24 h ahead")
        if not claims.get("sub"):
            raise PermissionError("sub missing")
        claims["_k"] = key
        return claims

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        self.requests += 1
        if self._faults:
            return self._faults.pop(0)
        token = path.removeprefix("/push/")
        sub = self._subs.get(token)
        if not path.startswith("/push/") or sub is None:
            return 404, {}, b"unknown subscription"
        if sub.expired:
            return 410, {}, b"push subscription has unsubscribed or expired."
        try:
            claims = self._verify_vapid(headers.get("authorization", ""))
        except (PermissionError, ValueError) as exc:
            self.errors.append(str(exc))
            return 401, {}, str(exc).encode()
        if sub.application_server_key and claims["_k"] != sub.application_server_key:
            self.errors.append("k does not match the applicationServerKey")
            return 403, {}, b"VAPID key does not match the subscription's applicationServerKey"
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            self.errors.append(f"bad TTL {ttl!r}")
            return 400, {}, b"TTL header required"
        if headers.get("content-encoding") != "aes128gcm":
            self.errors.append(f"content-encoding {headers.get('content-encoding')!r}")
            return 400, {}, b"content-encoding must be aes128gcm"
        if len(body) > 4096:
            return 413, {}, b"payload too large"
        try:
            # aes128gcm carries the sender's public key in the body header (keyid), so dh stays None.
            payload = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth_secret,
                                       version="aes128gcm")
        except Exception as exc:
            self.errors.append(f"decrypt failed: {exc!r}")
            return 400, {}, b"decryption failed"
        self.received.append(Received(token, payload, headers, claims))
        return 201, {"Location": f"{self.url}/message/{secrets.token_hex(8)}"}, b""

    @contextmanager
    def running(self) -> Iterator[FakePushService]:
        """Serve on 127.0.0.1 (ephemeral port) for the duration of the block."""
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, answer = service._handle(self.path, headers, body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
