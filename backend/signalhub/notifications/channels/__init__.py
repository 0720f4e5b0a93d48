"""Channel registry: one adapter per kind, all behind `base.Channel`."""

from __future__ import annotations

from functools import lru_cache

from signalhub.notifications.channels.base import Channel

CHANNEL_KINDS = ("email", "webhook", "webpush", "telegram", "slack", "sms")


@lru_cache
def get_channel(kind: str) -> Channel:
    """The adapter for a channel kind (created once per process); ValueError for an unknown kind."""
    if kind == "email":
        from signalhub.notifications.channels.email import EmailChannel

        return EmailChannel()
    if kind == "webhook":
        from signalhub.notifications.channels.webhook import WebhookChannel

        return WebhookChannel()
    if kind == "webpush":
        from signalhub.notifications.channels.webpush import WebPushChannel

        return WebPushChannel()
    if kind == "telegram":
        from signalhub.notifications.channels.telegram import TelegramChannel

        return TelegramChannel()
    if kind == "slack":
        from signalhub.notifications.channels.slack import SlackChannel

        return SlackChannel()
    if kind == "sms":
        from signalhub.notifications.channels.sms import SmsChannel

        return SmsChannel()
    raise ValueError(f"unknown channel kind {kind!r}; use one of {', '.join(CHANNEL_KINDS)}")
