"""Exactly one beat sends: two leased schedulers compete; when the leader dies the other takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from signalhub.core.config import PROJECT_ROOT, get_settings
from signalhub.core.ratelimit import get_redis
from signalhub.ops.beat import FileLease, LockedScheduler, RedisLease
from signalhub.ops.service import queue_depths

needs_redis = pytest.mark.skipif(not get_settings().redis_url, reason="REDIS_URL not set")


@pytest.fixture
def probe_app() -> tuple[Celery, str]:
    """An app on the test broker whose only beat entry sends a task every 0.1 s to a queue of its own."""
    settings = get_settings()
    queue = f"beat-probe-{uuid.uuid4().hex[:8]}"
    app = Celery("beat-probe", broker=settings.broker_url, backend=settings.result_backend)
    app.conf.update(timezone="UTC", enable_utc=True, beat_schedule={
        "probe": {"task": "signalhub.ops.tasks.check_invariants", "schedule": 0.1, "options": {"queue": queue}}})
    return app, queue


def _sent(scheduler: LockedScheduler) -> int:
    return scheduler.schedule["probe"].total_run_count


def _drive(schedulers: list[LockedScheduler], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for s in schedulers:
            s.tick()
        time.sleep(0.02)


def _queued(queue: str) -> int:
    client = get_redis()
    if client is not None:
        return int(client.llen(queue))
    return queue_depths(get_settings().broker_url)[1].get(queue, 0)


@needs_redis
def test_one_of_two_beats_sends_and_the_other_takes_over_within_the_ttl(probe_app, tmp_path: Path):
    app, queue = probe_app
    key, ttl = f"signalhub:test-beat:{uuid.uuid4().hex}", 1.0
    a = LockedScheduler(app=app, schedule_filename=str(tmp_path / "a"), lease=RedisLease(get_redis(), ttl, key=key))
    b = LockedScheduler(app=app, schedule_filename=str(tmp_path / "b"), lease=RedisLease(get_redis(), ttl, key=key))
    try:
        _drive([a, b], 1.5)
        assert a.is_leader and not b.is_leader
        assert _sent(a) >= 5 and _sent(b) == 0
        assert _queued(queue) == _sent(a)

        # The leader dies without releasing (no more ticks, no renewals): the standby leads within the TTL.
        died = time.monotonic()
        while not b.is_leader and time.monotonic() - died < 5:
            b.tick()
            time.sleep(0.02)
        took_over = time.monotonic() - died
        assert b.is_leader and took_over <= ttl + b.lease.retry_seconds + 0.2, took_over
        before = _sent(a)
        # The old leader comes back (it was only paused): its renewal fails, so it stands by.
        _drive([a, b], 1.0)
        assert not a.is_leader and b.is_leader
        assert _sent(a) == before and _sent(b) >= 5
        assert _queued(queue) == _sent(a) + _sent(b)
    finally:
        a.close()
        b.close()
        get_redis().delete(queue)


def test_file_lease_one_sender_in_process(probe_app, tmp_path: Path):
    app, queue = probe_app
    path = tmp_path / "beat.lock"
    a = LockedScheduler(app=app, schedule_filename=str(tmp_path / "a"), lease=FileLease(path, retry_seconds=0.05))
    b = LockedScheduler(app=app, schedule_filename=str(tmp_path / "b"), lease=FileLease(path, retry_seconds=0.05))
    try:
        _drive([a, b], 1.0)
        assert a.is_leader and not b.is_leader and _sent(a) >= 5 and _sent(b) == 0
        assert _queued(queue) == _sent(a)
        a.close()  # a clean shutdown hands over at once
        _drive([b], 0.5)
        assert b.is_leader and _sent(b) >= 2
    finally:
        a.close()
        b.close()


def test_file_lease_taken_over_when_the_holding_process_is_killed(tmp_path: Path):
    path = tmp_path / "beat.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from signalhub.ops.beat import FileLease; "
         f"lease = FileLease(Path({str(path)!r})); assert lease.hold(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env={**os.environ})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        standby = FileLease(path, retry_seconds=0.05)
        assert standby.hold() is False
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert standby.hold() is True  # the OS released the dead holder's lock
        assert path.read_text().strip() == str(os.getpid())
        standby.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
