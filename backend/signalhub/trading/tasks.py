"""Celery tasks of trading: orders for new signals, submission with backoff, fill polling, reconciliation."""

from __future__ import annotations

import logging

from celery.signals import worker_ready

from signalhub.core import calendars
from signalhub.core.time import utcnow
from signalhub.trading import execution
from signalhub.worker import celery_app

logger = logging.getLogger(__name__)


@celery_app.task(name="signalhub.trading.tasks.orders_for_signals")
def orders_for_signals(signal_ids: list[int]) -> dict[str, object]:
    """Size, risk-check, record and send the orders new signals call for (idempotent per user and signal)."""
    return {"orders": execution.orders_for_signals(signal_ids)}


@celery_app.task(name="signalhub.trading.tasks.submit_order", bind=True, max_retries=6)
def submit_order(self, order_id: int) -> dict[str, object]:
    """Send one PENDING order; when the broker was unreachable, retry with exponential backoff."""
    try:
        return {"order_id": order_id, "outcome": execution.submit_order(order_id)}
    except execution.RetryableSubmitError as exc:
        raise self.retry(exc=exc, countdown=min(300, 2 ** self.request.retries * 5)) from exc


@celery_app.task(name="signalhub.trading.tasks.poll_fills")
def poll_fills() -> dict[str, object]:
    """While KRX (or any market) is open, take in new fills of open orders from the brokers."""
    now = utcnow()
    if not any(calendars.is_open(exchange, now) for exchange in calendars.EXCHANGES):
        return {"skipped": "markets closed"}
    return execution.poll_fills(now)


@celery_app.task(name="signalhub.trading.tasks.reconcile_all")
def reconcile_all() -> dict[str, object]:
    """Resolve unknown submissions and stale claims from the brokers' books, send forgotten orders, poll fills."""
    return execution.reconcile_all(utcnow())


@worker_ready.connect
def _reconcile_at_start(sender: object = None, **_: object) -> None:
    # A worker that starts (or restarts after a crash) first settles what the last one left in doubt.
    try:
        reconcile_all.delay()
    except Exception:  # the broker may be down at start; the beat schedule will reconcile later
        logger.exception("could not queue start-up reconciliation")
