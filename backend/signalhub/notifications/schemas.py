"""Request and response bodies for channels, the inbox and notification history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ChannelKind = Literal["email", "webhook", "webpush", "telegram", "slack", "sms"]


class ChannelCreate(BaseModel):
    """A new channel. `config` by kind: email {address}; webhook {url}; webpush {endpoint, keys{p256dh, auth}}
    (a browser PushSubscription); telegram {chat_id}; slack {webhook_url}; sms {phone_number}."""

    model_config = ConfigDict(extra="forbid")

    kind: ChannelKind
    name: str = Field(min_length=1, max_length=100)
    config: dict[str, Any]


class ChannelRead(BaseModel):
    """A channel as shown to its owner (secrets never; the destination masked)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    name: str
    destination_hint: str
    is_active: bool
    verified_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    created_at: datetime


class ChannelCreated(ChannelRead):
    """A created channel; a webhook's signing secret is shown here once."""

    webhook_secret: str | None = None


class TestSendResult(BaseModel):
    """Outcome of a test message."""

    ok: bool
    detail: str
    status_code: int | None


class InboxItem(BaseModel):
    """An in-app notification."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    body: str
    ticker: str | None
    signal_id: int | None
    read_at: datetime | None
    created_at: datetime


class InboxPage(BaseModel):
    """A page of your inbox, newest first."""

    total: int
    unread: int
    items: list[InboxItem]


class DeliveryRead(BaseModel):
    """One channel's delivery of a notification."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel_id: int
    channel_kind: str
    status: Literal["queued", "sending", "sent", "failed", "held", "digested"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


class NotificationRead(InboxItem):
    """A notification with each channel's delivery status."""

    deliveries: list[DeliveryRead]


class NotificationPage(BaseModel):
    """A page of notification history, newest first."""

    total: int
    items: list[NotificationRead]


class FailedDelivery(DeliveryRead):
    """A delivery failed for good (admin view)."""

    user_id: int
    notification_id: int
    updated_at: datetime


class FailurePage(BaseModel):
    """Failed deliveries across all users."""

    total: int
    items: list[FailedDelivery]
