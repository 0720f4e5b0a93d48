"""A webhook endpoint on loopback that checks Standard Webhooks signatures on its own and can misbehave.

Its verification is written from the spec independently of the channel's code, so a bug there shows up here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ReceivedRequest:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    verified: bool
    reason: str  # why verification failed, "" when it passed
    status: int  # what the receiver answered

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Plan:
    status: int
    remaining: int
    headers: dict[str, str]
    body: bytes


def standard_webhooks_check(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> str:
    """Return "" if the request is authentic and fresh, else the reason it is not (spec-based, independent)."""
    msg_id, stamp, sig_header = (headers.get(name) for name in ("webhook-id", "webhook-timestamp",
                                                                   "webhook-signature"))
    if msg_id is None or stamp is None or sig_header is None:
        return "missing headers"
    if not stamp.isdigit() or abs(int(time.time()) - int(stamp)) > tolerance:
        return "bad timestamp"
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.HMAC(key, digestmod=hashlib.sha256)
    mac.update(msg_id.encode("utf-8"))
    mac.update(b".")
    mac.update(stamp.encode("ascii"))
    mac.update(b".")
    mac.update(body)
    wanted = base64.b64encode(mac.digest())
    for entry in sig_header.split(" "):
        if entry.startswith("v1,") and hmac.compare_digest(entry[3:].encode(), wanted):
            return ""
    return "signature mismatch"


class WebhookReceiver:
    """Records POSTs, answers 401 to badly signed ones, and otherwise 200 unless told to fail."""

    def __init__(self, secret: str | None = None, delay: float = 0.0) -> None:
        self.secret = secret
        self.delay = delay
        self.requests: list[ReceivedRequest] = []
        self._plans: list[_Plan] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return

            def do_POST(self) -> None:
                receiver._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hooks/signalhub"

    def fail_next(self, status: int, count: int = 1, *, retry_after: str | None = None,
                  body: bytes = b'{"error": "nope"}') -> None:
        """Answer the next `count` requests with `status` (and a Retry-After header, if given)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._plans.append(_Plan(status, count, headers, body))

    def _next_plan(self) -> _Plan | None:
        with self._lock:
            for plan in self._plans:
                if plan.remaining > 0:
                    plan.remaining -= 1
                    return plan
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in request.headers.items()}
        reason = standard_webhooks_check(self.secret, headers, body) if self.secret else ""
        if self.delay:
            self._stopping.wait(self.delay)
        plan = self._next_plan()
        if reason:
            status, extra, answer = 401, {}, b'{"error": "bad signature"}'
        elif plan is not None:
            status, extra, answer = plan.status, plan.headers, plan.body
        else:
            status, extra, answer = 200, {}, b'{"ok": true}'
        with self._lock:
            self.requests.append(ReceivedRequest(request.command, request.path, headers, body, not reason, reason,
                                                 status))
        try:
            request.send_response(status)
            for name, value in extra.items():
                request.send_header(name, value)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(answer)))
            request.end_headers()
            request.wfile.write(answer)
        except OSError:
            pass  # the client gave up (timeout test)

    @contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        """Serve in a background thread for the duration of the block."""
        thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stopping.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(timeout=5)
