"""Webhooks signed the Standard Webhooks way (https://www.standardwebhooks.com/): JSON POST + HMAC-SHA256."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from signalhub.core import http1
from signalhub.core.config import get_settings
from signalhub.core.netguard import (
    BlockedDestinationError,
    UnresolvableHostError,
    public_addresses,
    refusal_is_temporary,
)
from signalhub.notifications.channels.base import Message, SendResult, parse_retry_after

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # the spec's bounds
MAX_URL_LENGTH = 2048
USER_AGENT = "Signalhub-Webhooks/1"
_DETAIL_BODY_BYTES = 300  # how much of an error response ends up in the delivery detail
# Concurrent connections of one batch: enough to keep a fast receiver busy, few enough not to flood a slow one
# (a destination is rate-limited anyway; 8 at once from each worker process is plenty and polite).
_CONNECTIONS, _CONNECTIONS_PER_HOST = 100, 8

try:  # uvloop's event loop roughly halves the client's cost per request; plain asyncio where it is missing
    import uvloop

    _loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard], except on Windows
    _loop_factory = None


class WebhookVerificationError(ValueError):
    """A webhook request whose signature or timestamp does not check out."""


def generate_webhook_secret() -> str:
    """A new signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret (the base64-decoded part after the prefix)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("secret: not valid base64 after 'whsec_'") from exc


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one request: `v1,<base64 HMAC-SHA256>`."""
    to_sign = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300,
                     *, now: float | None = None) -> None:
    """Check a received webhook (receiver side); raise WebhookVerificationError if it is not authentic or stale."""
    lowered = {str(key).lower(): str(value) for key, value in headers.items()}
    webhook_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not webhook_id or not timestamp_text or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(timestamp_text)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    # Both directions: an old timestamp is a replay, a future one a forgery or a badly wrong clock.
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp outside the tolerance window")
    raw = body.encode() if isinstance(body, str) else body
    try:
        expected = sign(secret, webhook_id, timestamp, raw).partition(",")[2]
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from exc
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return
    raise WebhookVerificationError("no matching signature")


class WebhookChannel:
    """POSTs the message as signed JSON to the user's URL."""

    kind = "webhook"

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return `{"url", "secret"}` (a secret is generated when absent), or raise ValueError naming the field."""
        url = config.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ValueError("url: a webhook URL is required")
        url = url.strip()
        if len(url) > MAX_URL_LENGTH:
            raise ValueError(f"url: longer than {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError for a bad port)
        except ValueError as exc:
            raise ValueError(f"url: not a valid URL ({exc})") from exc
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError("url: must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("url: has no host")
        if any(ch.isspace() for ch in url):
            raise ValueError("url: must not contain whitespace")

        secret = config.get("secret")
        if secret is None or secret == "":
            secret = generate_webhook_secret()
        elif not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
            raise ValueError("secret: must start with 'whsec_'")
        else:
            key = secret_bytes(secret)
            if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
                raise ValueError(f"secret: must decode to {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes")
        return {"url": url, "secret": secret}

    def destination(self, config: Mapping[str, Any]) -> str:
        """The URL's host (and port, when given)."""
        return _authority(str(config.get("url", ""))).rpartition("@")[2].lower()

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """POST once; 2xx is success, 408/429/5xx and network trouble are retryable, other answers are not."""
        return self.send_batch([(config, message)])[0]

    def send_batch(self, items: Sequence[tuple[Mapping[str, Any], Message]]) -> list[SendResult]:
        """POST many at once over pooled keep-alive connections; each result is classified as `send` does."""
        results: list[SendResult | None] = [None] * len(items)
        requests: list[tuple[int, str, bytes, dict[str, str]]] = []
        bodies = _BodyTemplates()
        for index, (config, message) in enumerate(items):
            prepared = _prepare(config, message, bodies)
            if isinstance(prepared, SendResult):
                results[index] = prepared
            else:
                requests.append((index, *prepared))
        if requests:
            posted = asyncio.run(_post_all(requests), loop_factory=_loop_factory)
            for (index, *_rest), result in zip(requests, posted, strict=True):
                results[index] = result
        return cast(list[SendResult], results)  # each item was refused above or posted


def _authority(url: str) -> str:
    """A URL's authority (`user@host:port`), found without a full parse (once per delivery: thousands a chunk)."""
    rest = url.partition("://")[2]
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark, 0, end)
        if found != -1:
            end = found
    return rest[:end]


class _BodyTemplates:
    """JSON bodies of one batch: a message's payload is serialised once, and each delivery's id put in its place."""

    _PLACEHOLDER = "\x00signalhub-delivery-id\x00"
    _TOKEN = json.dumps(_PLACEHOLDER)  # how the placeholder comes out of the serialiser

    def __init__(self) -> None:
        self._parts: dict[tuple[int, str, str], tuple[bytes, bytes] | None] = {}

    def body(self, message: Message) -> bytes:
        """The webhook body: the message's data plus its delivery id, title and text."""
        key = (id(message.data), message.title, message.text)  # the batch keeps each data mapping alive
        if key not in self._parts:
            text = _serialise(message, self._PLACEHOLDER)
            head, _, tail = text.partition(self._TOKEN)
            # Only when the token stands exactly once: a payload holding the placeholder itself is serialised whole.
            self._parts[key] = (head.encode(), tail.encode()) if text.count(self._TOKEN) == 1 else None
        parts = self._parts[key]
        if parts is None:
            return _serialise(message, message.delivery_id).encode()
        return parts[0] + json.dumps(message.delivery_id).encode() + parts[1]


def _serialise(message: Message, delivery_id: str) -> str:
    payload = {**message.data, "delivery_id": delivery_id, "title": message.title, "text": message.text}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def _prepare(config: Mapping[str, Any], message: Message,
             bodies: _BodyTemplates) -> tuple[str, bytes, dict[str, str]] | SendResult:
    """The signed request for one message, or the reason it must not be sent."""
    # Where it may go is checked when connecting (public_addresses): DNS may have changed since the channel was made.
    url, secret = str(config.get("url", "")), str(config.get("secret", ""))
    if not message.delivery_id.isascii() or not message.delivery_id.isprintable():
        return SendResult(ok=False, retryable=False, detail="delivery id must be printable ASCII (a header)")
    body = bodies.body(message)
    timestamp = int(time.time())
    try:
        signature = sign(secret, message.delivery_id, timestamp, body)
    except ValueError as exc:
        return SendResult(ok=False, retryable=False, detail=f"cannot sign: {exc}")
    return url, body, {"content-type": "application/json", "webhook-id": message.delivery_id,
                       "webhook-timestamp": str(timestamp), "webhook-signature": signature}


async def _post_all(requests: Sequence[tuple[int, str, bytes, dict[str, str]]]) -> list[SendResult]:
    timeout = get_settings().notify_http_timeout_seconds
    # Redirects are never followed (http1 does not): the signed request is for the URL the user registered.
    answers = await http1.post_many([(url, body, headers) for _index, url, body, headers in requests],
                                    timeout=timeout, resolve=public_addresses, per_origin=_CONNECTIONS_PER_HOST,
                                    total=_CONNECTIONS, body_limit=_DETAIL_BODY_BYTES, user_agent=USER_AGENT)
    return [_outcome(answer, timeout) for answer in answers]


def _outcome(answer: http1.Response | Exception, timeout_seconds: float) -> SendResult:
    if isinstance(answer, http1.Response):
        # Only the start of the body was read: a hostile or broken receiver can answer with gigabytes.
        return _classify(answer.status, answer.headers, " ".join(answer.body.decode("utf-8", "replace").split()))
    if isinstance(answer, BlockedDestinationError | UnresolvableHostError):
        return SendResult(ok=False, retryable=refusal_is_temporary(answer), detail=str(answer))
    if isinstance(answer, TimeoutError):
        return SendResult(ok=False, retryable=True, detail=f"timed out after {timeout_seconds}s")
    if isinstance(answer, ValueError):
        return SendResult(ok=False, retryable=False, detail=f"bad webhook URL: {answer}")
    return SendResult(ok=False, retryable=True, detail=f"request failed: {type(answer).__name__}: {answer}")


def _classify(status: int, headers: Mapping[str, str], snippet: str) -> SendResult:
    detail = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if 200 <= status < 300:
        return SendResult(ok=True, status_code=status, detail=detail)
    if status == 429 or status == 408 or status >= 500:
        return SendResult(ok=False, retryable=True, status_code=status, detail=detail,
                          retry_after=parse_retry_after(headers.get("retry-after")))
    if status == 410:
        return SendResult(ok=False, retryable=False, status_code=status,
                          detail="HTTP 410 Gone: the receiver asked us to stop sending to this URL")
    if 300 <= status < 400:
        # Redirects are not followed: the signed request is for the URL the user registered.
        location = headers.get("location", "")
        return SendResult(ok=False, retryable=False, status_code=status,
                          detail=f"HTTP {status} redirect to {location!r} not followed: update the webhook URL")
    return SendResult(ok=False, retryable=False, status_code=status, detail=detail)
