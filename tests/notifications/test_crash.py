"""A worker killed in the middle of a fan-out to 2,000 subscribers: after restart, exactly one delivery each.

Real Celery worker processes on Redis; the first is SIGKILLed while the fan-out task runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.result import AsyncResult
from sqlalchemy import func, select

from signalhub.core.crypto import encrypt_json
from signalhub.core.db import session_scope
from signalhub.core.security import hash_password
from signalhub.models import AlertRule, Notification, NotificationChannel, NotificationDelivery, Signal, User
from signalhub.worker import celery_app
from tests.signals.test_pipeline import CUT, load_until, run

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL), as CI has")
SUBSCRIBERS = 2000
BIN = Path(sys.executable).parent


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / "celery"), "-A", "signalhub.worker", "worker", "--pool", "solo",
                             "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
                            env=env, start_new_session=True, stdout=open(os.environ.get("CRASH_LOG", os.devnull), "ab"),
                            stderr=subprocess.STDOUT)


def _count(model, *where) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_killed_fan_out_loses_and_doubles_nothing(tmp_path):
    load_until(CUT, ["AAPL"])
    run(None, tickers=["AAPL"])
    with session_scope() as session:
        signal_id = session.scalar(select(Signal.id).where(Signal.ticker == "AAPL").order_by(Signal.id))
        password = hash_password("correct horse battery")
        users = [User(email=f"s{i}@example.com", username=f"s{i}", password_hash=password, timezone="UTC")
                 for i in range(SUBSCRIBERS)]
        session.add_all(users)
        session.flush()
        channels = [NotificationChannel(user_id=u.id, kind="email", name="mail",
                                        config_encrypted=encrypt_json({"address": u.email}),
                                        destination_hint="s***@example.com") for u in users]
        session.add_all(channels)
        session.flush()
        session.add_all([AlertRule(user_id=u.id, name="aapl", tickers=["AAPL"], min_grade="HOLD",
                                   channel_ids=[c.id]) for u, c in zip(users, channels, strict=True)])

    env = {**os.environ, "CELERY_VISIBILITY_TIMEOUT": "4", "EMAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
           "DELIVERY_RATE_PER_DESTINATION": "100000"}
    from signalhub.notifications.tasks import fan_out_signals

    first = _worker(env)
    try:
        result = fan_out_signals.delay([signal_id])
        deadline = time.monotonic() + 60
        while AsyncResult(result.id, app=celery_app).state != "STARTED":
            assert time.monotonic() < deadline, "the fan-out never started"
            time.sleep(0.02)
        time.sleep(0.3)
        state_at_kill = AsyncResult(result.id, app=celery_app).state
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert state_at_kill == "STARTED", "the worker must die in the middle of the fan-out"
    # The fan-out commits once: killed mid-way, it left nothing half-done.
    assert _count(Notification) in (0, SUBSCRIBERS)

    second = _worker(env)
    restarted = time.monotonic()
    try:
        deadline = time.monotonic() + 120
        while _count(NotificationDelivery, NotificationDelivery.status == "sent") < SUBSCRIBERS:
            assert time.monotonic() < deadline, (
                f"{_count(Notification)} notifications, {_count(NotificationDelivery)} deliveries, "
                f"{_count(NotificationDelivery, NotificationDelivery.status == 'sent')} sent")
            time.sleep(0.5)
        print(f"after restart: all {SUBSCRIBERS} sent in {time.monotonic() - restarted:.1f} s")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    assert _count(Notification) == SUBSCRIBERS
    with session_scope() as session:
        per_user = session.execute(select(NotificationDelivery.user_id, func.count())
                                   .group_by(NotificationDelivery.user_id)).all()
    assert len(per_user) == SUBSCRIBERS and {n for _, n in per_user} == {1}
