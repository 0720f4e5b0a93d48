"""Fixed-window attempt counters, shared through Redis when configured (in-process otherwise)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import redis

from signalhub.core.config import get_settings


@dataclass(frozen=True)
class WindowState:
    """How many attempts a key has used in its current window and when the window ends."""

    count: int
    retry_after: int


class AttemptCounter(Protocol):
    """Counts attempts per key within a fixed window."""

    def hit(self, key: str, window_seconds: int) -> WindowState:
        """Record one attempt and return the state after it."""

    def peek(self, key: str, window_seconds: int) -> WindowState:
        """Return the state without recording an attempt."""

    def reset(self, key: str) -> None:
        """Forget a key (e.g. after a successful login)."""


class RedisAttemptCounter:
    """Counter in Redis, so every API process and worker shares the same limits."""

    def __init__(self, client: redis.Redis, prefix: str = "signalhub:attempts:") -> None:
        self._redis = client
        self._prefix = prefix

    def hit(self, key: str, window_seconds: int) -> WindowState:
        """Increment atomically; the first hit starts the window's expiry."""
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, window_seconds, nx=True)
        pipe.ttl(name)
        count, _, ttl = pipe.execute()
        return WindowState(int(count), int(ttl) if ttl and ttl > 0 else window_seconds)

    def peek(self, key: str, window_seconds: int) -> WindowState:
        """Read the count and remaining window."""
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.get(name)
        pipe.ttl(name)
        count, ttl = pipe.execute()
        return WindowState(int(count or 0), int(ttl) if ttl and ttl > 0 else window_seconds)

    def reset(self, key: str) -> None:
        """Delete the key."""
        self._redis.delete(self._prefix + key)


class MemoryAttemptCounter:
    """In-process counter for the embedded single-process setup."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, float]] = {}

    def _current(self, key: str, window_seconds: int, now: float) -> tuple[int, float]:
        count, ends = self._windows.get(key, (0, now + window_seconds))
        if ends <= now:
            count, ends = 0, now + window_seconds
        return count, ends

    def hit(self, key: str, window_seconds: int) -> WindowState:
        """Increment the key's count in its window."""
        now = time.monotonic()
        with self._lock:
            count, ends = self._current(key, window_seconds, now)
            self._windows[key] = (count + 1, ends)
        return WindowState(count + 1, int(ends - now) + 1)

    def peek(self, key: str, window_seconds: int) -> WindowState:
        """Read the key's count in its window."""
        now = time.monotonic()
        with self._lock:
            count, ends = self._current(key, window_seconds, now)
        return WindowState(count, int(ends - now) + 1)

    def reset(self, key: str) -> None:
        """Forget the key."""
        with self._lock:
            self._windows.pop(key, None)


@lru_cache
def get_redis() -> redis.Redis | None:
    """Return a Redis client when REDIS_URL is configured."""
    url = get_settings().redis_url
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5) if url else None


@lru_cache
def get_attempt_counter() -> AttemptCounter:
    """Return the process-wide attempt counter (Redis when configured)."""
    client = get_redis()
    return RedisAttemptCounter(client) if client is not None else MemoryAttemptCounter()
