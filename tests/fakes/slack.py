"""A Slack incoming webhook on loopback: `POST /services/T…/B…/…` with a JSON message, answered like Slack.

Slack answers 200 `ok` (text/plain), or an error string: 400 `invalid_payload` / `no_text`, 403
`action_prohibited`, 404 `no_service` (revoked hook), 410 `channel_is_archived`, 429 with Retry-After,
500 `rollup_error`. Hooks not registered with `hook()` are `no_service`; `fail_next` programs errors.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import Answer, serve_post


@dataclass
class FakeSlack:
    """See the module docstring."""

    posted: list[dict[str, Any]] = field(default_factory=list)  # accepted messages
    requests: int = 0
    archived: set[str] = field(default_factory=set)
    _hooks: set[str] = field(default_factory=set)
    _faults: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    url: str = ""

    def hook(self) -> str:
        """Create an incoming webhook and return its URL."""
        path = f"/services/T{secrets.token_hex(4).upper()}/B{secrets.token_hex(4).upper()}/{secrets.token_urlsafe(18)}"
        self._hooks.add(path)
        return self.url + path

    def archive(self, webhook_url: str) -> None:
        """The hook's channel was archived."""
        self.archived.add(webhook_url.removeprefix(self.url))

    def fail_next(self, status: int, body: str, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next `times` posts with `status` and `body`."""
        self._faults.extend([(status, headers or {}, body)] * times)

    def _handle(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, str], str]:
        self.requests += 1
        if path not in self._hooks:
            return 404, {}, "no_service"
        if self._faults:
            return self._faults.pop(0)
        if path in self.archived:
            return 410, {}, "channel_is_archived"
        if "application/json" not in content_type:
            return 400, {}, "invalid_payload"
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, "invalid_payload"
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return 400, {}, "no_text"
        for block in body.get("blocks") or []:
            text = block.get("text") if isinstance(block, dict) else None
            if block.get("type") != "section" or not isinstance(text, dict) \
                    or text.get("type") not in ("mrkdwn", "plain_text") or not 0 < len(text.get("text", "")) <= 3000:
                return 400, {}, "invalid_blocks"
        self.posted.append(body)
        return 200, {}, "ok"

    @contextmanager
    def running(self) -> Iterator[FakeSlack]:
        """Serve on 127.0.0.1 (ephemeral port) for the duration of the block."""

        def handle(path: str, headers: dict[str, str], raw: bytes) -> Answer:
            status, extra, answer = self._handle(path, headers.get("content-type", ""), raw)
            return status, answer.encode(), "text/plain; charset=utf-8", extra

        with serve_post(handle) as url:
            self.url = url
            yield self
