"""Celery tasks and worker hooks of operations: invariants, daily reports, worker heartbeats, error counts."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import datetime
from typing import Any

from celery import signals

from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.ops import guards, invariants, reports
from signalhub.ops.state import get_ops_store
from signalhub.worker import celery_app

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "heartbeat:worker:"


def _now(at: str | None) -> datetime:
    return datetime.fromisoformat(at) if at else utcnow()


@celery_app.task(name="signalhub.ops.tasks.check_invariants")
def check_invariants(at: str | None = None) -> dict[str, Any]:
    """Check every invariant; alert the admins once per new violation episode."""
    now = _now(at)
    with session_scope() as session:
        outcomes = invariants.check_all(session, now)
    return {"checked_at": now.isoformat(),
            "failing": [f"{o.check.invariant}:{o.check.exchange}" for o in outcomes if o.check.failing],
            "new_episodes": [f"{o.check.invariant}:{o.check.exchange}" for o in outcomes if o.new_episode]}


@celery_app.task(name="signalhub.ops.tasks.send_daily_reports")
def send_daily_reports(exchange: str, at: str | None = None) -> dict[str, Any]:
    """After `exchange`'s close: every user's daily report by e-mail, and the admin summary (skipped on holidays)."""
    now = _now(at)
    decision = guards.daily_reports(exchange, now)
    if not decision.run or decision.session is None:
        return {"exchange": exchange, "skipped": decision.reason}
    with session_scope() as session:
        sent = reports.send_user_reports(session, exchange, decision.session)
        admins = reports.send_admin_summary(session, exchange, decision.session, now)
    # The deliveries are due now: queue them rather than wait for the next dispatch_due run.
    from signalhub.notifications.tasks import dispatch_due

    dispatch_due.delay()
    return {"exchange": exchange, "session": decision.session.isoformat(), **sent, "admin_summaries": admins}


# --- worker hooks -------------------------------------------------------------------------------------------

def write_heartbeat(hostname: str, at: datetime | None = None) -> None:
    """Record that worker `hostname` is alive (expires after three missed beats)."""
    interval = get_settings().worker_heartbeat_seconds
    get_ops_store().put(HEARTBEAT_PREFIX + hostname, {"hostname": hostname, "at": (at or utcnow()).isoformat()},
                        ttl=3 * interval)


class _Heartbeat:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, hostname: str) -> None:
        interval = get_settings().worker_heartbeat_seconds

        def loop() -> None:
            while not self.stop.is_set():
                try:
                    write_heartbeat(hostname)
                except Exception:  # a store hiccup must not end the worker's heartbeat
                    logger.exception("worker heartbeat failed")
                self.stop.wait(interval)

        self.stop.clear()
        self.thread = threading.Thread(target=loop, name="signalhub-heartbeat", daemon=True)
        self.thread.start()


_heartbeat = _Heartbeat()


@signals.worker_ready.connect(weak=False, dispatch_uid="signalhub-heartbeat-start")
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    _heartbeat.start(getattr(sender, "hostname", None) or socket.gethostname())


@signals.worker_shutdown.connect(weak=False, dispatch_uid="signalhub-heartbeat-stop")
def _stop_heartbeat(sender: Any = None, **_: Any) -> None:
    _heartbeat.stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        get_ops_store().delete(HEARTBEAT_PREFIX + hostname)


@signals.task_failure.connect(weak=False, dispatch_uid="signalhub-count-task-errors")
def _count_failure(sender: Any = None, **_: Any) -> None:
    try:
        reports.count_task_error(getattr(sender, "name", "unknown"), utcnow())
    except Exception:  # counting must never mask the task's own failure
        logger.exception("could not count a task failure")
