"""Sending deliveries: claim, send on the channel (rate-limited per destination), record, retry or fail."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from signalhub.core.config import get_settings
from signalhub.core.crypto import decrypt_json
from signalhub.core.throttle import get_rate_limiter
from signalhub.models.notification import Notification
from signalhub.models.notification_channel import NotificationChannel
from signalhub.models.notification_delivery import NotificationDelivery
from signalhub.notifications import repository
from signalhub.notifications.channels import get_channel
from signalhub.notifications.channels.base import Message, SendResult
from signalhub.notifications.service import notify_user

logger = logging.getLogger(__name__)
# Network-bound sends overlap; one slow destination never holds up the rest of a chunk.
_SENDERS = 16


@dataclass
class SendStats:
    """What one batch of sends did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    failed_ids: list[int] = field(default_factory=list)


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the destination's Retry-After."""
    settings = get_settings()
    ceiling = min(settings.delivery_backoff_max_seconds, settings.delivery_backoff_base_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)


def _message(delivery: NotificationDelivery, notification: Notification) -> Message:
    data = notification.data or {}
    return Message(delivery_id=f"dlv_{delivery.id}", title=notification.title, text=notification.body,
                   html=data.get("html"), data=data.get("payload", {}))


def _send_one(delivery: NotificationDelivery, notification: Notification,
              channel: NotificationChannel) -> SendResult:
    try:
        adapter = get_channel(channel.kind)
        config = decrypt_json(channel.config_encrypted)
        limiter = get_rate_limiter(f"notify:{channel.kind}:{adapter.destination(config)}",
                                   get_settings().delivery_rate_per_destination, burst=5)
        wait = limiter.try_acquire()
        if wait > 0:
            # This destination is busy: come back later rather than block a worker thread.
            return SendResult(ok=False, retryable=True, retry_after=wait, detail="rate limited locally")
        return adapter.send(config, _message(delivery, notification))
    except Exception as exc:
        logger.exception("channel send crashed", extra={"delivery_id": delivery.id})
        return SendResult(ok=False, retryable=True, detail=f"{type(exc).__name__}: {exc}"[:500])


def send_claimed(session: Session, ids: Sequence[int], now: datetime) -> SendStats:
    """Send deliveries already claimed (status 'sending') and record each outcome."""
    stats = SendStats()
    rows = repository.load_for_sending(session, ids)
    if not rows:
        return stats
    with ThreadPoolExecutor(max_workers=min(_SENDERS, len(rows))) as pool:
        results = list(pool.map(lambda r: _send_one(*r), rows))
    settings = get_settings()
    for (delivery, _notification, channel), result in zip(rows, results, strict=True):
        delivery.updated_at = now
        if result.ok:
            delivery.status, delivery.sent_at, delivery.last_error = "sent", now, None
            channel.consecutive_failures = 0
            stats.sent += 1
            continue
        delivery.last_error = (result.detail or "failed")[:500]
        if result.detail == "rate limited locally":
            delivery.attempts -= 1  # waiting for our own limiter is not an attempt
        if result.retryable and delivery.attempts < settings.delivery_max_attempts:
            delivery.status = "queued"
            delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(delivery.attempts,
                                                                               result.retry_after))
            stats.retried += 1
            continue
        delivery.status = "failed"
        stats.failed += 1
        stats.failed_ids.append(delivery.id)
        _record_channel_failure(session, channel, delivery.last_error, now)
        if channel.kind == "webpush" and result.status_code in (404, 410):
            # The browser unsubscribed: the subscription will never work again.
            channel.is_active = False
    session.flush()
    return stats


def _record_channel_failure(session: Session, channel: NotificationChannel, error: str, now: datetime) -> None:
    channel.consecutive_failures += 1
    channel.last_error, channel.last_failure_at = error, now
    threshold = get_settings().channel_failure_alert_after
    if channel.consecutive_failures == threshold:
        # Tell the user once per failure streak, in the inbox (the one channel that cannot fail this way).
        notify_user(session, channel.user_id, dedup_key=f"channel-failing:{channel.id}:{now.isoformat()}",
                    title=f"⚠️ Your {channel.kind} channel '{channel.name}' keeps failing",
                    body=f"The last {threshold} deliveries to {channel.destination_hint} failed. "
                         f"Last error: {error}. Check its settings and use the test button.",
                    data={"type": "channel_failing", "channel_id": channel.id}, channel_kinds=())
