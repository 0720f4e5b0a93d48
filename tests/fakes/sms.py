"""A Twilio-compatible Messages API on loopback: `POST /2010-04-01/Accounts/{sid}/Messages.json`.

It checks HTTP basic auth (account SID, auth token), the form fields To, From and Body, and answers like
Twilio: 201 with a Message resource, or `{"code", "message", "more_info", "status"}` errors (20003
authenticate, 21211 invalid To, 21617 body too long, 21610 unsubscribed recipient). `fail_next` programs
others (429 code 20429, 500).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.loopback import Answer, serve_post

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def twilio_error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    """A Twilio error answer."""
    return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}


@dataclass
class FakeSms:
    """See the module docstring."""

    account_sid: str = "AC" + "0" * 31 + "1"
    auth_token: str = "test-auth-token"
    from_number: str = "+15005550006"
    unsubscribed: set[str] = field(default_factory=set)  # numbers that replied STOP
    messages: list[dict[str, str]] = field(default_factory=list)  # accepted form bodies
    requests: int = 0
    _faults: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def fail_next(self, status: int, code: int, message: str, headers: dict[str, str] | None = None,
                  times: int = 1) -> None:
        """Answer the next `times` requests with this Twilio error."""
        _, answer = twilio_error(status, code, message)
        self._faults.extend([(status, answer, headers or {})] * times)

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.requests += 1
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("authorization") != expected:
            return (*twilio_error(401, 20003, "Authenticate"), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return (*twilio_error(404, 20404, "The requested resource was not found"), {})
        if self._faults:
            return self._faults.pop(0)
        if "application/x-www-form-urlencoded" not in headers.get("content-type", ""):
            return (*twilio_error(400, 21620, "Invalid media / request content type"), {})
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return (*twilio_error(400, 21604, "A 'To' phone number is required."), {})
        if not _E164.match(to):
            return (*twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number."), {})
        if sender != self.from_number:
            return (*twilio_error(400, 21606, f"The 'From' phone number provided ({sender}) is not a valid message-"
                                               "capable Twilio phone number for this destination."), {})
        if not body:
            return (*twilio_error(400, 21602, "Message body is required."), {})
        if len(body.encode("utf-16-le")) // 2 > 1600:
            return (*twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit."), {})
        if to in self.unsubscribed:
            return (*twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"), {})
        self.messages.append(form)
        sid = "SM" + secrets.token_hex(16)
        return 201, {"sid": sid, "account_sid": self.account_sid, "to": to, "from": sender, "body": body,
                     "status": "queued", "num_segments": "1", "direction": "outbound-api", "error_code": None,
                     "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}, {}

    @contextmanager
    def running(self) -> Iterator[FakeSms]:
        """Serve on 127.0.0.1 (ephemeral port) for the duration of the block."""

        def handle(path: str, headers: dict[str, str], raw: bytes) -> Answer:
            status, answer, extra = self._handle(path, headers, raw)
            return status, json.dumps(answer).encode(), "application/json", extra

        with serve_post(handle) as url:
            self.url = url
            yield self
