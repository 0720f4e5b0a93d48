"""Channel management, test sends and the inbox; flushes, never commits."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from signalhub.core.crypto import decrypt_json, encrypt_json
from signalhub.core.errors import NotFoundError, UnprocessableError
from signalhub.core.netguard import assert_public_url
from signalhub.core.time import utcnow
from signalhub.models.notification import Notification
from signalhub.models.notification_channel import NotificationChannel
from signalhub.models.user import User
from signalhub.notifications import repository
from signalhub.notifications.channels import get_channel
from signalhub.notifications.channels.base import SendResult
from signalhub.notifications.render import render_notice
from signalhub.notifications.schemas import ChannelCreate
from signalhub.users import repository as users_repository


def mask_destination(kind: str, config: dict[str, Any]) -> str:
    """A recognisable but not revealing description of where a channel sends."""
    if kind == "email":
        local, _, domain = str(config["address"]).partition("@")
        return f"{local[:1]}***@{domain}"
    if kind in ("webhook", "slack", "webpush"):
        url = urlsplit(str(config.get("url") or config.get("webhook_url") or config.get("endpoint")))
        return f"{url.scheme}://{url.hostname}/…"
    if kind == "telegram":
        chat = str(config["chat_id"])
        return f"chat …{chat[-3:]}"
    if kind == "sms":
        number = str(config["phone_number"])
        return f"{number[:3]}****{number[-4:]}"
    return kind


def create_channel(session: Session, user: User, data: ChannelCreate) -> tuple[NotificationChannel, str | None]:
    """Validate and store a channel (config encrypted); returns it and, for a webhook, its secret (shown once)."""
    adapter = get_channel(data.kind)
    try:
        config = adapter.validate_config(data.config)
        for field in ("url", "webhook_url", "endpoint"):
            if field in config:
                assert_public_url(str(config[field]), field)
    except ValueError as exc:
        raise UnprocessableError(f"config.{exc}" if not str(exc).startswith("config") else str(exc)) from exc
    channel = NotificationChannel(user_id=user.id, kind=data.kind, name=data.name,
                                  config_encrypted=encrypt_json(config),
                                  destination_hint=mask_destination(data.kind, config))
    session.add(channel)
    session.flush()
    return channel, config.get("secret") if data.kind == "webhook" else None


def require_channel(session: Session, user: User, channel_id: int) -> NotificationChannel:
    """The user's channel, or 404."""
    channel = repository.get_channel_for_user(session, user.id, channel_id)
    if channel is None:
        raise NotFoundError(f"No channel {channel_id}")
    return channel


def delete_channel(session: Session, user: User, channel_id: int) -> None:
    """Delete the user's channel (its pending deliveries go with it)."""
    session.delete(require_channel(session, user, channel_id))
    session.flush()


def test_send(session: Session, user: User, channel_id: int) -> SendResult:
    """Send a test message now; a success marks the channel verified and clears its failure streak."""
    channel = require_channel(session, user, channel_id)
    now = utcnow()
    message = render_notice("✅ Signalhub test message",
                            f"This is a test of your {channel.kind} channel '{channel.name}'. "
                            "If you can read it, alerts will reach you here.",
                            delivery_id=f"test_{channel.id}_{int(now.timestamp())}",
                            data={"type": "test", "channel_id": channel.id})
    result = get_channel(channel.kind).send(decrypt_json(channel.config_encrypted), message)
    if result.ok:
        channel.verified_at, channel.consecutive_failures, channel.last_error = now, 0, None
        channel.is_active = True
    else:
        channel.last_error, channel.last_failure_at = result.detail[:500], now
    session.flush()
    return result


def mark_read(session: Session, user: User, notification_id: int) -> Notification:
    """Mark one of the user's notifications read."""
    notification = repository.get_notification_for_user(session, user.id, notification_id)
    if notification is None:
        raise NotFoundError(f"No notification {notification_id}")
    if notification.read_at is None:
        notification.read_at = utcnow()
    session.flush()
    return notification


def unread_count(session: Session, user: User) -> int:
    """How many of the user's notifications are unread."""
    return repository.inbox(session, user.id, True, None, 1, 0)[1]


def notify_user(session: Session, user_id: int, *, dedup_key: str, title: str, body: str,
                data: Mapping[str, Any] | None = None, channel_kinds: Collection[str] | None = None) -> int | None:
    """Tell a user something outside the signal flow: an inbox notice plus a queued delivery per active channel.

    `channel_kinds` limits the channels (None: all of them; empty: the inbox only). Returns the notification
    id, or None when `dedup_key` was used before: calling twice for the same event notifies once.
    """
    now = utcnow()
    key = dedup_key[:200]
    message = render_notice(title, body, delivery_id=key, data=data)
    message_ids = repository.store_messages(session, {key: message}, owned=True)
    inserted = repository.insert_notifications(session, [{
        "user_id": user_id, "dedup_key": key, "kind": "notice", "message_id": message_ids[key], "created_at": now}])
    notification_id = inserted.get(key)
    if notification_id is None:
        return None
    channels = [c for c in repository.channels_for_user(session, user_id)
                if c.is_active and (channel_kinds is None or c.kind in channel_kinds)]
    # Due now: the next dispatch_due run sends them (callers may enqueue_sends after commit to be quicker).
    repository.insert_deliveries(session, [
        {"notification_id": notification_id, "channel_id": c.id, "user_id": user_id, "channel_kind": c.kind,
         "status": "queued", "next_attempt_at": now, "created_at": now, "updated_at": now} for c in channels])
    return notification_id


def notify_admins(session: Session, *, dedup_key: str, title: str, body: str,
                  data: Mapping[str, Any] | None = None) -> int:
    """Send the same notice to every active administrator; returns how many were newly notified."""
    created = 0
    for admin_id in users_repository.active_admin_ids(session):
        if notify_user(session, admin_id, dedup_key=f"{dedup_key}:admin:{admin_id}", title=title, body=body,
                       data=data) is not None:
            created += 1
    return created
