"""Celery wiring: a real worker on the configured broker runs the auth maintenance task."""

from __future__ import annotations

from datetime import timedelta

from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from signalhub.core.time import utcnow
from signalhub.models import RefreshToken, User
from signalhub.worker import celery_app


def test_worker_defaults_are_at_least_once():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert "purge-expired-refresh-tokens" in conf.beat_schedule


def test_purge_task_runs_on_a_real_worker_and_is_idempotent(db_session):
    user = User(email="ann@example.com", username="ann", password_hash="x")
    db_session.add(user)
    db_session.flush()
    now = utcnow()
    db_session.add_all([
        RefreshToken(jti="old", user_id=user.id, expires_at=now - timedelta(days=1)),
        RefreshToken(jti="live", user_id=user.id, expires_at=now + timedelta(days=1)),
    ])
    db_session.commit()

    from signalhub.auth.tasks import purge_expired_refresh_tokens

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        first = purge_expired_refresh_tokens.delay().get(timeout=60)
        # A redelivered or repeated run finds nothing more to do.
        second = purge_expired_refresh_tokens.delay().get(timeout=60)
    assert (first, second) == (1, 0)
    db_session.expire_all()
    assert db_session.scalars(select(RefreshToken.jti)).all() == ["live"]
