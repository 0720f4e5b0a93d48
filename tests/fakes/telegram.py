"""A Telegram Bot API on loopback: `POST /bot<token>/sendMessage`, answered like the real API.

It checks the token, the JSON body (chat_id, text, parse_mode, the 4096-character limit after entity
parsing, HTML entities Telegram can parse) and answers `{"ok": true, "result": Message}` or
`{"ok": false, "error_code": ..., "description": ...}`. Unknown chats get 400 "chat not found", chats in
`blocked` get 403, and `fail_next` programs other errors (e.g. 429 with parameters.retry_after).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from tests.fakes.loopback import Answer, serve_post

_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
                 "span", "blockquote", "tg-emoji"}


class _EntityParser(HTMLParser):
    """Telegram's HTML mode, roughly: known tags only; the visible text is what counts toward the limit."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS and self.error is None:
            self.error = f'Unsupported start tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@dataclass
class FakeTelegram:
    """See the module docstring."""

    token: str = "123456:TEST-token_abc"
    chats: set[int | str] = field(default_factory=lambda: {111, "@signals"})
    blocked: set[int | str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted request bodies
    requests: int = 0
    _faults: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _next_id: int = 1
    url: str = ""

    def fail_next(self, error_code: int, description: str, retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next `times` sendMessage calls with this Bot API error."""
        answer: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
        if retry_after is not None:
            answer["parameters"] = {"retry_after": retry_after}
        self._faults.extend([(error_code, answer)] * times)

    @staticmethod
    def _error(code: int, description: str) -> tuple[int, dict[str, Any]]:
        return code, {"ok": False, "error_code": code, "description": description}

    def _handle(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        token, _, method = path.removeprefix("/bot").partition("/")
        if not path.startswith("/bot") or token != self.token:
            return self._error(401, "Unauthorized")
        if method != "sendMessage":
            return self._error(404, "Not Found: method not found")
        if self._faults:
            return self._faults.pop(0)
        if "application/json" not in content_type:
            return self._error(400, "Bad Request: expected a JSON body in this fake")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "Bad Request: can't parse JSON")
        chat_id, text = body.get("chat_id"), body.get("text")
        if chat_id is None:
            return self._error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text:
            return self._error(400, "Bad Request: message text is empty")
        if body.get("parse_mode") not in (None, "HTML", "MarkdownV2", "Markdown"):
            return self._error(400, "Bad Request: unsupported parse_mode")
        visible = text
        if body.get("parse_mode") == "HTML":
            parser = _EntityParser()
            parser.feed(text)
            parser.close()
            if parser.error:
                return self._error(400, f"Bad Request: can't parse entities: {parser.error}")
            visible = "".join(parser.text)
        if len(visible.encode("utf-16-le")) // 2 > 4096:
            return self._error(400, "Bad Request: message is too long")
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.chats:
            return self._error(400, "Bad Request: chat not found")
        self.sent.append(body)
        message_id, self._next_id = self._next_id, self._next_id + 1
        chat = {"id": chat_id, "type": "private"} if isinstance(chat_id, int) else \
            {"id": -1001234567890, "type": "channel", "username": chat_id[1:]}
        return 200, {"ok": True, "result": {"message_id": message_id, "date": int(time.time()), "chat": chat,
                                            "text": visible}}

    @contextmanager
    def running(self) -> Iterator[FakeTelegram]:
        """Serve on 127.0.0.1 (ephemeral port) for the duration of the block."""

        def handle(path: str, headers: dict[str, str], raw: bytes) -> Answer:
            status, answer = self._handle(path, headers.get("content-type", ""), raw)
            extra = ({"Retry-After": str(answer["parameters"]["retry_after"])}
                     if status == 429 and "parameters" in answer else {})
            return status, json.dumps(answer).encode(), "application/json", extra

        with serve_post(handle) as url:
            self.url = url
            yield self
