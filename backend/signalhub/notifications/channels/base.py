"""The one interface every notification channel implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from signalhub.core.httputil import parse_retry_after

__all__ = ["BatchChannel", "Channel", "ChannelNotConfiguredError", "Message", "SendResult", "parse_retry_after",
           "truncate_utf16", "utf16_len"]


@dataclass(frozen=True)
class Message:
    """What to tell a user, rendered once and sent on every channel they chose."""

    delivery_id: str  # stable across retries: receivers deduplicate on it (e.g. the webhook-id header)
    title: str  # one line, e.g. "🟢 STRONG_BUY AAPL @ 188.38"
    text: str  # plain text body with the numbers that matter
    html: str | None = None  # optional HTML body (e-mail)
    data: Mapping[str, Any] = field(default_factory=dict)  # structured payload (webhook JSON, push data)


@dataclass(frozen=True)
class SendResult:
    """Outcome of one attempt: sent, or failed (and whether trying again later can help)."""

    ok: bool
    detail: str = ""
    retryable: bool = True
    retry_after: float | None = None  # seconds the destination asked us to wait (Retry-After)
    status_code: int | None = None


class ChannelNotConfiguredError(Exception):
    """The platform lacks what this channel kind needs (e.g. no Telegram bot token): not retryable."""


class Channel(Protocol):
    """A way to reach a user. Sending never raises for delivery problems; it returns a SendResult."""

    kind: str

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return the normalised per-user config, or raise ValueError naming the bad field."""

    def destination(self, config: Mapping[str, Any]) -> str:
        """A key for the destination (host, chat, address), used to rate-limit per destination."""

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """Deliver `message` once."""


@runtime_checkable
class BatchChannel(Protocol):
    """A channel that sends many messages at once faster than one by one (e.g. concurrent HTTP)."""

    def send_batch(self, items: Sequence[tuple[Mapping[str, Any], Message]]) -> list[SendResult]:
        """Deliver each message once; one result per item, in order."""


def truncate_utf16(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut `text` to at most `limit` UTF-16 code units without splitting a character, marking the cut."""
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(ellipsis)
    out: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > budget:
            break
        out.append(char)
        used += size
    return "".join(out) + ellipsis


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (how Telegram and SMS carriers count; an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2
