"""Slack: an incoming webhook the user created for one of their channels."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from signalhub.core.config import get_settings
from signalhub.core.netguard import address_kind, assert_public_url, refusal_is_temporary
from signalhub.notifications.channels.base import Message, SendResult, parse_retry_after

MAX_SECTION_CHARS = 3000  # Block Kit limit for a section's text


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_escaped(text: str, limit: int) -> str:
    # Cutting escaped text may split an entity ("&am"): drop the fragment rather than show garbage.
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


class SlackChannel:
    """Posts to a Slack incoming webhook (the URL is the credential)."""

    kind = "slack"

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Accept {"webhook_url": https URL}."""
        url = config.get("webhook_url") if isinstance(config, Mapping) else None
        if not isinstance(url, str) or not url.strip():
            raise ValueError("webhook_url: required")
        url = url.strip()
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError as exc:
            raise ValueError(f"webhook_url: not a valid URL ({exc})") from None
        if not host:
            raise ValueError("webhook_url: must be an absolute https URL")
        # A user-supplied URL the worker will POST to: refuse internal addresses (SSRF).
        kind = address_kind(host)
        if kind == "internal" or (kind == "loopback" and not get_settings().allow_loopback_destinations):
            raise ValueError("webhook_url: must not point at a loopback or private address")
        if parts.scheme != "https" and not (parts.scheme == "http" and kind == "loopback"):
            raise ValueError("webhook_url: must be an https URL")
        if parts.username or parts.password:
            raise ValueError("webhook_url: must not contain credentials")
        return {"webhook_url": url}

    def destination(self, config: Mapping[str, Any]) -> str:
        """One key per webhook (Slack allows about one message a second each); hashed, the URL is a secret."""
        digest = hashlib.sha256(str(config.get("webhook_url", "")).encode()).hexdigest()[:24]
        return f"slack:{digest}"

    @staticmethod
    def payload(message: Message) -> dict[str, Any]:
        """Fallback `text` (used in notifications) plus one mrkdwn section block."""
        title = escape_mrkdwn(_cut(message.title, 300))
        body = escape_mrkdwn(message.text)
        section = _cut_escaped(f"*{title}*\n{body}", MAX_SECTION_CHARS)
        return {"text": _cut_escaped(f"{title}\n{body}", MAX_SECTION_CHARS),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}]}

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """POST the message to the webhook and map Slack's answer to a SendResult."""
        try:
            url = self.validate_config(config)["webhook_url"]
        except ValueError as exc:
            return SendResult(ok=False, retryable=False, detail=f"invalid config: {exc}")
        try:
            assert_public_url(url, "webhook_url")  # again at send time: DNS may have changed since it was saved
        except ValueError as exc:
            # A lookup failure may be a passing DNS outage: try again later rather than drop the alert.
            return SendResult(ok=False, retryable=refusal_is_temporary(exc), detail=str(exc))
        try:
            response = httpx.post(url, json=self.payload(message),
                                  timeout=get_settings().notify_http_timeout_seconds)
        except httpx.HTTPError as exc:
            return SendResult(ok=False, retryable=True, detail=f"slack unreachable: {type(exc).__name__}")
        status = response.status_code
        text = response.text.strip()[:200]
        if 200 <= status < 300:
            return SendResult(ok=True, status_code=status, detail=text or "ok")
        if status == 429:
            return SendResult(ok=False, retryable=True, status_code=status, detail=text or "rate limited",
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            return SendResult(ok=False, retryable=True, status_code=status, detail=text or f"slack error {status}",
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        # invalid_payload, no_service (webhook revoked), channel_is_archived, action_prohibited, ...
        return SendResult(ok=False, retryable=False, status_code=status, detail=text or f"HTTP {status}")
