"""Celery tasks of notifications: fan-out, sending in chunks, retries when due, digests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from celery.signals import worker_init

from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.core.logging import log_context
from signalhub.core.time import utcnow
from signalhub.notifications import delivery, digest, fanout, repository
from signalhub.notifications.channels import CHANNEL_KINDS, get_channel
from signalhub.worker import celery_app

logger = logging.getLogger(__name__)

# A worker that died mid-send leaves rows 'sending'; after this long they are sent again.
SENDING_LEASE = timedelta(minutes=10)


@worker_init.connect
def _load_channel_adapters(**_: object) -> None:
    # Before the pool forks: no send task pays for importing its channel (web push and e-mail libraries).
    for kind in CHANNEL_KINDS:
        get_channel(kind)


def enqueue_sends(ids: Sequence[int]) -> None:
    """Queue send tasks for deliveries, in chunks (call after the rows are committed)."""
    size = get_settings().delivery_chunk_size
    for start in range(0, len(ids), size):
        send_deliveries.delay(list(ids[start:start + size]))


@celery_app.task(name="signalhub.notifications.tasks.fan_out_signals")
def fan_out_signals(signal_ids: list[int]) -> dict[str, int]:
    """Create notifications and deliveries for new signals (idempotent: dedup keys), then queue sends."""
    # The signal ids travel with the log lines here and with the send tasks enqueued (their timeline).
    with log_context(signal_ids=signal_ids):
        with session_scope() as session:
            def send_part(part: fanout.FanoutResult) -> None:
                # Commit each stored part and send it while the next is written (dedup keys keep re-runs safe).
                session.commit()
                enqueue_sends(part.due_ids)

            result = fanout.fan_out(session, signal_ids, utcnow(), on_chunk=send_part)
        logger.info("signals fanned out", extra={"notifications": result.notifications,
                                                  "deliveries": result.deliveries})
    return {"notifications": result.notifications, "deliveries": result.deliveries,
            "skipped_cooldown": result.skipped_cooldown}


@celery_app.task(name="signalhub.notifications.tasks.send_deliveries")
def send_deliveries(ids: list[int]) -> dict[str, int]:
    """Send a chunk: claim (committed first, so no other worker takes them), send, record outcomes."""
    now = utcnow()
    with session_scope() as session:
        claimed = repository.claim_deliveries(session, now, ids)
    if not claimed:
        return {"claimed": 0}
    with session_scope() as session:
        stats = delivery.send_claimed(session, claimed, utcnow())
    return {"claimed": len(claimed), "sent": stats.sent, "retried": stats.retried, "failed": stats.failed}


@celery_app.task(name="signalhub.notifications.tasks.dispatch_due")
def dispatch_due() -> dict[str, int]:
    """Queue sends for deliveries whose retry or quiet-hours time has come; recover stuck ones."""
    now = utcnow()
    with session_scope() as session:
        recovered = repository.requeue_stuck(session, now - SENDING_LEASE)
        due = repository.due_delivery_ids(session, now, limit=20_000)
    enqueue_sends(due)
    return {"recovered": recovered, "queued": len(due)}


@celery_app.task(name="signalhub.notifications.tasks.send_digests")
def send_digests() -> dict[str, int]:
    """Turn closed digest windows into one message per user and channel, and queue them."""
    with session_scope() as session:
        ids = digest.build_digests(session, utcnow())
    enqueue_sends(ids)
    return {"digests": len(ids)}
