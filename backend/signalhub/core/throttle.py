"""Request rate limiting shared by every worker process (GCRA in Redis), with an in-process fallback.

A `RateLimiter` spaces calls to an external API (Yahoo, a broker...) so that all processes together stay
under `rate_per_second`, allowing bursts of up to `burst` calls. The algorithm is GCRA (the generic cell
rate algorithm, equivalent to a token bucket): one "theoretical arrival time" per limiter name, updated
atomically by a Lua script on the Redis server's clock, so workers on different hosts agree without
synchronised clocks. `penalise()` sets a shared cooldown, so when one worker is told to back off (HTTP
429) every worker waits.

Without REDIS_URL the state lives in this process (shared by every limiter of the same name in it),
which is right for the embedded single-process set-up. If Redis becomes unreachable, the limiter keeps
working on the in-process state (logging a warning) rather than failing every request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import redis

from signalhub.core.ratelimit import get_redis

logger = logging.getLogger(__name__)

T = TypeVar("T")

# GCRA: take up to ARGV[3] slots now and return "<taken> <seconds until the next slot may be free>"; taking
# nothing when none is free. Runs atomically. KEYS[1] = theoretical arrival time, KEYS[2] = cooldown end;
# ARGV[1] = emission interval, ARGV[2] = burst tolerance (both in seconds). Times are the Redis server's clock.
_TAKE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cooldown = tonumber(redis.call('GET', KEYS[2]) or '0')
if cooldown > now then
  return string.format('0 %.6f', cooldown - now)
end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local free = math.floor((now + tolerance - tat) / interval + 1e-9) + 1
if free < 1 then
  return string.format('0 %.6f', tat - tolerance - now)
end
local taken = math.min(free, tonumber(ARGV[3]))
local new_tat = tat + taken * interval
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return string.format('%d %.6f', taken, math.max(0, new_tat - tolerance - now))
"""

# Extend (never shorten) the cooldown to now + ARGV[1] seconds; return the remaining cooldown.
_PENALISE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local target = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if target > current then
  redis.call('SET', KEYS[1], string.format('%.6f', target), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
  current = target
end
return string.format('%.6f', current - now)
"""

_COOLDOWN_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
return string.format('%.6f', math.max(0, current - now))
"""


class ThrottleTimeout(TimeoutError):
    """`RateLimiter.acquire` could not get a slot within its timeout."""


class ThrottleBackend(Protocol):
    """Where limiter state lives; every method is atomic per limiter name."""

    def take(self, name: str, interval: float, tolerance: float, count: int) -> tuple[int, float]:
        """Take up to `count` slots; return how many were taken and the seconds until the next may be free."""

    def penalise(self, name: str, seconds: float) -> float:
        """Extend the cooldown to at least `seconds` from now; return the remaining cooldown."""

    def cooldown(self, name: str) -> float:
        """Seconds of cooldown remaining (0 when none)."""

    def reset(self, name: str) -> None:
        """Forget the limiter's state."""


class MemoryThrottleBackend:
    """Limiter state in this process, thread-safe; the fallback when Redis is not configured."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}
        self._cooldown: dict[str, float] = {}

    def take(self, name: str, interval: float, tolerance: float, count: int) -> tuple[int, float]:
        """Take up to `count` slots; return how many were taken and the seconds until the next may be free."""
        with self._lock:
            now = self._clock()
            cooldown = self._cooldown.get(name, 0.0)
            if cooldown > now:
                return 0, cooldown - now
            tat = max(self._tat.get(name, now), now)
            free = math.floor((now + tolerance - tat) / interval + 1e-9) + 1
            if free < 1:
                return 0, tat - tolerance - now
            taken = min(free, count)
            self._tat[name] = tat + taken * interval
            return taken, max(0.0, self._tat[name] - tolerance - now)

    def penalise(self, name: str, seconds: float) -> float:
        """Extend the cooldown to at least `seconds` from now."""
        with self._lock:
            now = self._clock()
            until = max(self._cooldown.get(name, 0.0), now + seconds)
            self._cooldown[name] = until
            return until - now

    def cooldown(self, name: str) -> float:
        """Seconds of cooldown remaining."""
        with self._lock:
            return max(0.0, self._cooldown.get(name, 0.0) - self._clock())

    def reset(self, name: str) -> None:
        """Forget the limiter's state."""
        with self._lock:
            self._tat.pop(name, None)
            self._cooldown.pop(name, None)


class RedisThrottleBackend:
    """Limiter state in Redis, shared by every process; falls back to `fallback` while Redis fails."""

    def __init__(self, client: redis.Redis, prefix: str = "signalhub:throttle:",
                 fallback: MemoryThrottleBackend | None = None, retry_redis_after: float = 30.0) -> None:
        self._redis = client
        self._prefix = prefix
        self._fallback = fallback if fallback is not None else memory_backend()
        self._retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0
        self._take = client.register_script(_TAKE_LUA)
        self._penalise = client.register_script(_PENALISE_LUA)
        self._cooldown = client.register_script(_COOLDOWN_LUA)

    def _keys(self, name: str) -> tuple[str, str]:
        # The hash tag keeps both keys in one slot, as a Lua script needs on Redis Cluster.
        base = f"{self._prefix}{{{name}}}"
        return f"{base}:tat", f"{base}:cooldown"

    def _guard(self, call: Callable[[], T], fallback: Callable[[], T]) -> T:
        # After a failure, skip Redis for a while: every call would otherwise pay the connect timeout.
        if time.monotonic() < self._redis_down_until:
            return fallback()
        try:
            return call()
        except redis.RedisError as exc:
            self._redis_down_until = time.monotonic() + self._retry_redis_after
            logger.warning("throttle: Redis unavailable (%s); limiting in this process only for %gs",
                           exc, self._retry_redis_after)
            return fallback()

    def take(self, name: str, interval: float, tolerance: float, count: int) -> tuple[int, float]:
        """Take up to `count` slots; return how many were taken and the seconds until the next may be free."""
        def call() -> tuple[int, float]:
            taken, wait = self._take(keys=self._keys(name), args=[repr(interval), repr(tolerance), count]).split()
            return int(taken), float(wait)

        return self._guard(call, lambda: self._fallback.take(name, interval, tolerance, count))

    def penalise(self, name: str, seconds: float) -> float:
        """Extend the shared cooldown to at least `seconds` from now."""
        return self._guard(
            lambda: float(self._penalise(keys=[self._keys(name)[1]], args=[repr(float(seconds))])),
            lambda: self._fallback.penalise(name, seconds))

    def cooldown(self, name: str) -> float:
        """Seconds of shared cooldown remaining."""
        return self._guard(lambda: float(self._cooldown(keys=[self._keys(name)[1]])),
                           lambda: self._fallback.cooldown(name))

    def reset(self, name: str) -> None:
        """Delete the limiter's keys."""
        self._guard(lambda: self._redis.delete(*self._keys(name)), lambda: None)
        self._fallback.reset(name)


_MEMORY_BACKEND = MemoryThrottleBackend()


def memory_backend() -> MemoryThrottleBackend:
    """The process-wide in-memory backend (shared by all limiters in this process)."""
    return _MEMORY_BACKEND


class RateLimiter:
    """Allows `rate_per_second` calls on average (bursts of `burst`) for everyone using `name`."""

    def __init__(self, name: str, rate_per_second: float, burst: int = 1, *,
                 backend: ThrottleBackend | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_second <= 0 or not math.isfinite(rate_per_second):
            raise ValueError("rate_per_second must be a positive number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.name = name
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._interval = 1.0 / rate_per_second
        self._tolerance = (burst - 1) * self._interval
        self._backend: ThrottleBackend = backend if backend is not None else memory_backend()
        self._sleep = sleep
        self._clock = clock

    def try_acquire(self) -> float:
        """Take a slot without waiting: 0 when taken, else the seconds until one may be free."""
        taken, wait = self._backend.take(self.name, self._interval, self._tolerance, 1)
        return 0.0 if taken else wait

    def try_acquire_many(self, count: int) -> tuple[int, float]:
        """Take up to `count` slots at once without waiting: (slots taken, seconds until the next is free)."""
        return self._backend.take(self.name, self._interval, self._tolerance, count)

    def acquire_many(self, count: int, timeout: float) -> tuple[int, float]:
        """Take up to `count` slots, waiting for them at most `timeout` seconds: (taken, seconds to the next)."""
        started = self._clock()
        taken, wait = self.try_acquire_many(count)
        while taken < count and self._clock() - started + wait <= timeout:
            self._sleep(wait)
            more, wait = self.try_acquire_many(count - taken)
            taken += more
        return taken, wait

    def acquire(self, timeout: float | None = None) -> float:
        """Wait for a slot and take it; return the seconds waited. Raise ThrottleTimeout past `timeout`."""
        started = self._clock()
        while True:
            wait = self.try_acquire()
            waited = self._clock() - started
            if wait <= 0:
                return waited
            if timeout is not None and waited + wait > timeout:
                raise ThrottleTimeout(
                    f"rate limiter {self.name!r}: no slot within {timeout:g}s (next in {wait:.2f}s)")
            self._sleep(wait)

    def penalise(self, seconds: float) -> float:
        """Make every user of this limiter wait at least `seconds` (e.g. after HTTP 429)."""
        return self._backend.penalise(self.name, max(0.0, seconds))

    def cooldown_remaining(self) -> float:
        """Seconds until the current cooldown (if any) ends."""
        return self._backend.cooldown(self.name)

    def reset(self) -> None:
        """Forget this limiter's shared state (spacing and cooldown)."""
        self._backend.reset(self.name)


def get_rate_limiter(name: str, rate_per_second: float, burst: int = 1) -> RateLimiter:
    """A limiter on the shared backend: Redis when REDIS_URL is configured, else this process."""
    client = get_redis()
    backend: ThrottleBackend = RedisThrottleBackend(client) if client is not None else memory_backend()
    return RateLimiter(name, rate_per_second, burst, backend=backend)
