"""Webhooks signed the Standard Webhooks way (https://www.standardwebhooks.com/): JSON POST + HMAC-SHA256."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from signalhub.core.config import get_settings
from signalhub.core.netguard import assert_public_url, refusal_is_temporary
from signalhub.notifications.channels.base import Message, SendResult, parse_retry_after

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # the spec's bounds
MAX_URL_LENGTH = 2048
USER_AGENT = "Signalhub-Webhooks/1"
_DETAIL_BODY_BYTES = 300  # how much of an error response ends up in the delivery detail


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
        parts = urlsplit(str(config.get("url", "")))
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        return f"{host}:{port}" if port else host

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """POST once; 2xx is success, 408/429/5xx and network trouble are retryable, other answers are not."""
        url, secret = str(config.get("url", "")), str(config.get("secret", ""))
        try:
            # Checked again at send time: the host's DNS may have changed since the channel was created.
            assert_public_url(url)
        except ValueError as exc:
            return SendResult(ok=False, retryable=refusal_is_temporary(exc), detail=str(exc))
        payload = {**message.data, "delivery_id": message.delivery_id, "title": message.title, "text": message.text}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        if not message.delivery_id.isascii() or not message.delivery_id.isprintable():
            return SendResult(ok=False, retryable=False, detail="delivery id must be printable ASCII (a header)")
        timestamp = int(time.time())
        try:
            signature = sign(secret, message.delivery_id, timestamp, body)
        except ValueError as exc:
            return SendResult(ok=False, retryable=False, detail=f"cannot sign: {exc}")
        headers = {
            "content-type": "application/json",
            "webhook-id": message.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        timeout = get_settings().notify_http_timeout_seconds
        try:
            with _client().stream("POST", url, content=body, headers=headers, timeout=timeout) as response:
                snippet = _read_snippet(response)
                return _classify(response, snippet)
        except httpx.TimeoutException:
            return SendResult(ok=False, retryable=True, detail=f"timed out after {timeout}s")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return SendResult(ok=False, retryable=False, detail=f"bad webhook URL: {exc}")
        except httpx.HTTPError as exc:
            return SendResult(ok=False, retryable=True, detail=f"request failed: {type(exc).__name__}: {exc}")


def _classify(response: httpx.Response, snippet: str) -> SendResult:
    status = response.status_code
    detail = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if 200 <= status < 300:
        return SendResult(ok=True, status_code=status, detail=detail)
    if status == 429 or status == 408 or status >= 500:
        return SendResult(ok=False, retryable=True, status_code=status, detail=detail,
                          retry_after=parse_retry_after(response.headers.get("retry-after")))
    if status == 410:
        return SendResult(ok=False, retryable=False, status_code=status,
                          detail="HTTP 410 Gone: the receiver asked us to stop sending to this URL")
    if 300 <= status < 400:
        # Redirects are not followed: the signed request is for the URL the user registered.
        location = response.headers.get("location", "")
        return SendResult(ok=False, retryable=False, status_code=status,
                          detail=f"HTTP {status} redirect to {location!r} not followed: update the webhook URL")
    return SendResult(ok=False, retryable=False, status_code=status, detail=detail)


def _read_snippet(response: httpx.Response) -> str:
    # Read only the start of the body: a hostile or broken receiver can answer with gigabytes.
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= _DETAIL_BODY_BYTES:
            break
    return " ".join(data[:_DETAIL_BODY_BYTES].decode("utf-8", "replace").split())


_client_lock = threading.Lock()
_shared_client: httpx.Client | None = None
_client_pid: int | None = None


def _client() -> httpx.Client:
    """The process-wide HTTP client, created on first use and again in a forked child."""
    global _shared_client, _client_pid
    with _client_lock:
        if _shared_client is None or _client_pid != os.getpid():
            # A client inherited over fork shares sockets with the parent: never reuse it, just drop it.
            _shared_client = httpx.Client(follow_redirects=False, headers={"user-agent": USER_AGENT})
            _client_pid = os.getpid()
        return _shared_client


def _reset_after_fork() -> None:
    global _client_lock, _shared_client, _client_pid
    # The parent may have held the lock at fork time; the child starts with a fresh one.
    _client_lock = threading.Lock()
    _shared_client, _client_pid = None, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
