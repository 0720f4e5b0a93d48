"""Exactly one beat: a Celery beat scheduler that sends only while it holds a lease.

Start as many beat processes as you like (`celery beat` picks this scheduler from the app's config); one
holds the lease and sends, the others tick idly and take over when the holder stops renewing:
- with Redis, the lease is a key with a TTL (`SET NX PX`), renewed every third of the TTL by its holder only
  (compare-and-set by a random token); a holder that dies is replaced within the TTL;
- without Redis, an exclusive flock on a file under OPS_STATE_DIR, which the OS releases the moment the
  holding process dies (the embedded set-up is one host).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Protocol

import redis
from celery.beat import PersistentScheduler

from signalhub.core.config import get_settings
from signalhub.core.ratelimit import get_redis

logger = logging.getLogger(__name__)

LOCK_KEY = "signalhub:beat:leader"

# Renew only if the key still holds our token: a holder that was paused past its TTL must not extend a
# lease someone else has taken since.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease(Protocol):
    """A leadership lease: at most one holder at a time."""

    retry_seconds: float

    def hold(self) -> bool:
        """Acquire or keep the lease; True while this process holds it."""

    def release(self) -> None:
        """Give the lease up (if held)."""


class RedisLease:
    """A lease in Redis with a TTL, renewed by its holder."""

    def __init__(self, client: redis.Redis, ttl_seconds: float, key: str = LOCK_KEY,
                 clock: Any = time.monotonic) -> None:
        self._redis = client
        self.key = key
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.token = f"{os.getpid()}:{uuid.uuid4().hex}"
        self.retry_seconds = max(0.05, ttl_seconds / 3)
        self._clock = clock
        self._held = False
        self._renewed_at = 0.0
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def hold(self) -> bool:
        """Renew when a third of the TTL has passed, or try to take a free lease."""
        now = self._clock()
        if self._held:
            if now - self._renewed_at < self.retry_seconds:
                return True
            if self._renew(keys=[self.key], args=[self.token, self.ttl_ms]):
                self._renewed_at = now
                return True
            self._held = False
            logger.warning("beat lease lost; standing by", extra={"lease": self.key})
        if self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            self._held, self._renewed_at = True, now
            logger.info("beat lease acquired; this beat sends", extra={"lease": self.key})
        return self._held

    def release(self) -> None:
        """Delete the key if it is still ours."""
        if self._held:
            self._release(keys=[self.key], args=[self.token])
            self._held = False


class FileLease:
    """A lease as an exclusive flock on a file, released by the OS when the holder dies."""

    def __init__(self, path: Path, retry_seconds: float = 5.0) -> None:
        self.path = path
        self.retry_seconds = retry_seconds
        self._fh: IO[str] | None = None

    def hold(self) -> bool:
        """Take the flock without blocking, or keep it."""
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for as long as we lead
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        logger.info("beat lease acquired; this beat sends", extra={"lease": str(self.path)})
        return True

    def release(self) -> None:
        """Unlock and close."""
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def lease_from_settings() -> Lease:
    """Redis lease when REDIS_URL is set, else the file lease under OPS_STATE_DIR."""
    settings = get_settings()
    client = get_redis()
    if client is not None:
        return RedisLease(client, settings.beat_lock_ttl_seconds)
    return FileLease(Path(settings.ops_state_dir) / "beat.lock", retry_seconds=settings.beat_lock_ttl_seconds / 3)


class LockedScheduler(PersistentScheduler):
    """Celery beat's persistent scheduler, sending only while it holds the leadership lease."""

    def __init__(self, *args: Any, lease: Lease | None = None, **kwargs: Any) -> None:
        self._lease = lease
        self._leading = False
        super().__init__(*args, **kwargs)

    @cached_property
    def lease(self) -> Lease:
        """The lease this scheduler competes for."""
        return self._lease if self._lease is not None else lease_from_settings()

    @property
    def is_leader(self) -> bool:
        """Whether this scheduler holds the lease (as of its last tick)."""
        return self._leading

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send due tasks only while leading; otherwise wait and try for the lease again."""
        if not self.lease.hold():
            self._leading = False
            return self.lease.retry_seconds
        if not self._leading:
            self._leading = True
            # Start the clock at the takeover: fires missed while another beat led (or none did) are not
            # replayed in a burst; each entry next fires on its normal schedule.
            now = self.app.now()
            for entry in self.schedule.values():
                entry.last_run_at = now
            self._heap = None
        return min(super().tick(*args, **kwargs), self.lease.retry_seconds)

    def close(self) -> None:
        """Sync the schedule file and let a standby take over at once."""
        try:
            super().close()
        finally:
            self.lease.release()
            self._leading = False
