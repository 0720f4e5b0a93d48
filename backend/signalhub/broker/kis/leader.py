"""Leader election for the real-time consumer: only one instance in a deployment holds the KIS WebSocket.

With REDIS_URL: a Redis lock with a TTL (SET NX PX), renewed by its holder every third of the TTL; a holder
that dies (or stops renewing) loses it when the TTL runs out and another instance takes over. Renewal and
release only touch the lock while it still holds our token, so a stale holder can never extend or delete
the new leader's lock.

Without Redis (the embedded single-host set-up): an exclusive `flock` on a file under var/. The kernel drops
it the moment the holding process dies, so a second consumer on the same host takes over at once; instances
on other hosts cannot see it, which is why multi-host deployments must set REDIS_URL.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path
from typing import IO, Protocol

import redis

from signalhub.core.config import VAR_DIR, get_settings
from signalhub.core.ratelimit import get_redis

LOCK_KEY = "signalhub:kis:realtime:leader"

_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderLease(Protocol):
    """A lock at most one instance holds."""

    ttl: float

    def acquire(self) -> bool:
        """Try to become the leader; True when this instance holds the lock."""

    def renew(self) -> bool:
        """Extend the lock; False when it was lost (then stop acting as leader)."""

    def release(self) -> None:
        """Give the lock up if still held."""


class RedisLease:
    """A Redis lock with a TTL, identified by a random token per instance."""

    def __init__(self, client: redis.Redis, ttl: float, key: str = LOCK_KEY) -> None:
        self.ttl = ttl
        self.key = key
        self.token = f"{os.getpid()}:{uuid.uuid4().hex}"
        self._redis = client
        self._renew = client.register_script(_RENEW_LUA)
        self._release = client.register_script(_RELEASE_LUA)

    def acquire(self) -> bool:
        """SET NX with the TTL; True also when we already hold it."""
        if self._redis.set(self.key, self.token, nx=True, px=int(self.ttl * 1000)):
            return True
        return self.renew()

    def renew(self) -> bool:
        """Extend the TTL while the lock is still ours."""
        return bool(self._renew(keys=[self.key], args=[self.token, int(self.ttl * 1000)]))

    def release(self) -> None:
        """Delete the lock if it is still ours."""
        self._release(keys=[self.key], args=[self.token])


class FileLease:
    """An exclusive flock on a file: single-host leader election without Redis."""

    def __init__(self, path: Path, ttl: float) -> None:
        self.path = path
        self.ttl = ttl
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock without blocking."""
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def renew(self) -> bool:
        """A held flock cannot be lost while the process lives."""
        return self._handle is not None

    def release(self) -> None:
        """Unlock and close."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def get_leader_lease() -> LeaderLease:
    """The Redis lease when REDIS_URL is configured, else the single-host file lock."""
    ttl = get_settings().realtime_leader_ttl_seconds
    client = get_redis()
    if client is not None:
        return RedisLease(client, ttl)
    return FileLease(VAR_DIR / "realtime-leader.lock", ttl)
