"""Sending deliveries: claim, send on the channel (rate-limited per destination), record, retry or fail."""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy.orm import Session

from signalhub.core import metrics
from signalhub.core.config import get_settings
from signalhub.core.crypto import decrypt_json_remembered
from signalhub.core.throttle import get_rate_limiter
from signalhub.models.notification_channel import NotificationChannel
from signalhub.notifications import repository
from signalhub.notifications.channels import get_channel
from signalhub.notifications.channels.base import BatchChannel, Channel, Message, SendResult
from signalhub.notifications.repository import SendingRow
from signalhub.notifications.service import notify_user

logger = logging.getLogger(__name__)
_SENDERS = 16  # threads for channels without a batch sender
_RATE_LIMITED = "rate limited locally"
_PACING_SECONDS = 1.0


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


def _message(row: SendingRow) -> Message:
    data = row.message.data or {}
    return Message(delivery_id=f"dlv_{row.delivery_id}", title=row.message.title,
                   text=row.message.body, html=data.get("html"), data=data.get("payload", {}))


def _send_all(rows: Sequence[SendingRow]) -> list[SendResult]:
    """Send every row: rate-limited per destination, then each channel kind as one batch."""
    settings = get_settings()
    results: list[SendResult | None] = [None] * len(rows)
    prepared: dict[int, tuple[dict[str, Any], Message]] = {}
    by_destination: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        try:
            config = decrypt_json_remembered(row.config_encrypted)
            by_destination[(row.channel_kind, get_channel(row.channel_kind).destination(config))].append(index)
            prepared[index] = (config, _message(row))
        except Exception as exc:
            results[index] = _crashed(exc, row.delivery_id)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for (kind, destination), indexes in by_destination.items():
        # Bursts of up to a second's worth (at least 5): a destination allowed 1,000/s may take a chunk at once.
        rate = settings.delivery_rate_per_destination
        limiter = get_rate_limiter(f"notify:{kind}:{destination}", rate, burst=max(5, int(rate)))
        # Pace a busy destination for a moment; what would wait longer goes back to the queue.
        taken, wait = limiter.acquire_many(len(indexes), timeout=_PACING_SECONDS)
        by_kind[kind].extend(indexes[:taken])
        for queued, index in enumerate(indexes[taken:]):
            # This destination is busy: come back later (spaced at its rate) rather than block a worker.
            retry_after = wait + queued / settings.delivery_rate_per_destination
            results[index] = SendResult(ok=False, retryable=True, retry_after=retry_after, detail=_RATE_LIMITED)
    for kind, indexes in by_kind.items():
        for index, result in zip(indexes, _send_batch(get_channel(kind), [prepared[i] for i in indexes],
                                                      [rows[i].delivery_id for i in indexes]), strict=True):
            results[index] = result
    # Every row got a result above: crashed while preparing, rate-limited, or sent in its kind's batch.
    return cast(list[SendResult], results)


def _send_batch(adapter: Channel, items: list[tuple[dict[str, Any], Message]],
                delivery_ids: list[int]) -> list[SendResult]:
    """One kind's sends: the adapter's own batch sender if it has one, else its `send` on worker threads."""
    if isinstance(adapter, BatchChannel):
        try:
            return adapter.send_batch(items)
        except Exception as exc:
            return [_crashed(exc, delivery_id) for delivery_id in delivery_ids]

    def one(item: tuple[tuple[dict[str, Any], Message], int]) -> SendResult:
        (config, message), delivery_id = item
        try:
            return adapter.send(config, message)
        except Exception as exc:
            return _crashed(exc, delivery_id)

    # Network-bound sends overlap; one slow destination never holds up the rest of a chunk.
    with ThreadPoolExecutor(max_workers=max(1, min(_SENDERS, len(items)))) as pool:
        return list(pool.map(one, zip(items, delivery_ids, strict=True)))


def _crashed(exc: Exception, delivery_id: int) -> SendResult:
    logger.error("channel send crashed", exc_info=exc, extra={"delivery_id": delivery_id})
    return SendResult(ok=False, retryable=True, detail=f"{type(exc).__name__}: {exc}"[:500])


def send_claimed(session: Session, ids: Sequence[int], now: datetime) -> SendStats:
    """Send deliveries already claimed (status 'sending') and record each outcome."""
    stats = SendStats()
    rows = repository.load_for_sending(session, ids)
    if not rows:
        return stats
    results = _send_all(rows)
    settings = get_settings()
    outcomes: list[dict[str, Any]] = []
    recovered: set[int] = set()
    counted: Counter[tuple[str, str]] = Counter()  # metrics, incremented once per kind and outcome
    for row, result in zip(rows, results, strict=True):
        outcome: dict[str, Any] = {"id": row.delivery_id, "updated_at": now}
        outcomes.append(outcome)
        if result.ok:
            outcome.update(status="sent", sent_at=now, last_error=None)
            counted[(row.channel_kind, "sent")] += 1
            if row.channel_failures:
                recovered.add(row.channel_id)
            stats.sent += 1
            continue
        error = (result.detail or "failed")[:500]
        # Waiting for our own limiter is not an attempt.
        attempts = row.attempts - 1 if result.detail == _RATE_LIMITED else row.attempts
        outcome.update(last_error=error, attempts=attempts)
        if result.retryable and attempts < settings.delivery_max_attempts:
            outcome.update(status="queued", next_attempt_at=now + timedelta(
                seconds=backoff_seconds(attempts, result.retry_after)))
            stats.retried += 1
            counted[(row.channel_kind, "retry")] += 1
            continue
        outcome["status"] = "failed"
        logger.warning("delivery failed for good", extra={
            "delivery_id": row.delivery_id, "signal_id": row.signal_id, "channel": row.channel_kind,
            "attempts": attempts, "error": error})
        counted[(row.channel_kind, "failed")] += 1
        stats.failed += 1
        stats.failed_ids.append(row.delivery_id)
        channel = session.get(NotificationChannel, row.channel_id)
        if channel is not None:
            _record_channel_failure(session, channel, error, now)
            if channel.kind == "webpush" and result.status_code in (404, 410):
                # The browser unsubscribed: the subscription will never work again.
                channel.is_active = False
    for (kind, status), count in counted.items():
        metrics.NOTIFICATIONS.labels(channel=kind, status=status).inc(count)
    repository.reset_channel_failures(session, recovered)
    repository.record_outcomes(session, outcomes)
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
