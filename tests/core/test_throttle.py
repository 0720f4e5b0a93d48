"""The shared rate limiter: spacing, bursts, cooldowns, sharing between workers, and Redis failures."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from signalhub.core.config import PROJECT_ROOT, get_settings
from signalhub.core.ratelimit import get_redis
from signalhub.core.throttle import (
    MemoryThrottleBackend,
    RateLimiter,
    RedisThrottleBackend,
    ThrottleBackend,
    ThrottleTimeout,
    get_rate_limiter,
)

needs_redis = pytest.mark.skipif(not get_settings().redis_url, reason="REDIS_URL not set")


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def redis_client() -> redis.Redis:
    """A client of its own, as another worker process would have."""
    return redis.Redis.from_url(get_settings().redis_url or "", socket_timeout=5)


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[ThrottleBackend]:
    """Each backend: this process's memory, and Redis (when REDIS_URL is set)."""
    if request.param == "memory":
        yield MemoryThrottleBackend()
    else:
        client = redis_client()
        yield RedisThrottleBackend(client, fallback=MemoryThrottleBackend())
        client.close()


def timed(fn, *args) -> float:
    started = time.monotonic()
    fn(*args)
    return time.monotonic() - started


def test_acquisitions_are_spaced_at_the_rate(backend: ThrottleBackend):
    limiter = RateLimiter(unique(), rate_per_second=50, backend=backend)

    elapsed = timed(lambda: [limiter.acquire() for _ in range(11)])

    assert 10 / 50 * 0.9 <= elapsed < 10 / 50 + 0.5  # first is free, then one per 20 ms


def test_burst_is_free_then_the_rate_applies(backend: ThrottleBackend):
    limiter = RateLimiter(unique(), rate_per_second=5, burst=5, backend=backend)

    assert timed(lambda: [limiter.acquire() for _ in range(5)]) < 0.15
    assert limiter.try_acquire() > 0.05  # the burst is used up: next slot ~200 ms after the first
    assert 0.05 < limiter.acquire() < 0.6


def test_many_slots_at_once_take_what_the_burst_allows(backend: ThrottleBackend):
    limiter = RateLimiter(unique(), rate_per_second=10, burst=5, backend=backend)

    taken, wait = limiter.try_acquire_many(3)
    assert taken == 3 and wait == 0  # two of the burst are still free
    taken, wait = limiter.try_acquire_many(4)
    assert taken == 2 and 0.05 < wait <= 0.1  # the rest of the burst; the next slot comes 100 ms later
    taken, wait = limiter.try_acquire_many(4)
    assert taken == 0 and 0.05 < wait <= 0.1
    time.sleep(wait + 0.01)
    assert limiter.try_acquire_many(4)[0] == 1


def test_acquire_many_paces_up_to_its_timeout(backend: ThrottleBackend):
    limiter = RateLimiter(unique(), rate_per_second=100, burst=5, backend=backend)

    started = time.monotonic()
    taken, wait = limiter.acquire_many(20, timeout=0.1)
    assert time.monotonic() - started < 0.3
    assert 12 <= taken <= 16 and wait > 0  # 5 at once, then about one per 10 ms for 100 ms
    assert limiter.acquire_many(3, timeout=1.0)[0] == 3  # within the timeout: all of them


def test_penalise_makes_everyone_wait_and_never_shortens_a_cooldown(backend: ThrottleBackend):
    name = unique()
    worker_a = RateLimiter(name, rate_per_second=1000, backend=backend)
    worker_b = RateLimiter(name, rate_per_second=1000, backend=backend)

    worker_a.penalise(0.3)
    worker_a.penalise(0.1)  # a shorter penalty does not cut the longer one

    assert 0.2 < worker_b.cooldown_remaining() <= 0.3
    waited = worker_b.acquire()
    assert 0.2 < waited < 1.0
    assert worker_b.cooldown_remaining() == 0


def test_acquire_gives_up_at_its_timeout_without_sleeping_in_vain(backend: ThrottleBackend):
    limiter = RateLimiter(unique(), rate_per_second=1000, backend=backend)
    limiter.penalise(5)

    started = time.monotonic()
    with pytest.raises(ThrottleTimeout, match=r"no slot within 0\.1s"):
        limiter.acquire(timeout=0.1)
    assert time.monotonic() - started < 1.0  # did not sleep through the 5 s cooldown first
    limiter.reset()
    assert limiter.acquire(timeout=0.1) < 0.05


def test_limiters_of_one_name_share_one_budget_across_threads(backend: ThrottleBackend):
    name = unique()
    limiters = [RateLimiter(name, rate_per_second=40, backend=backend) for _ in range(2)]
    stamps: list[float] = []
    lock = threading.Lock()

    def work(limiter: RateLimiter) -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(lim,)) for lim in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stamps.sort()
    assert stamps[-1] - stamps[0] >= 9 / 40 * 0.9  # 10 slots at 40/s, not 5 each in parallel


def test_get_rate_limiter_shares_state_in_this_process_without_redis(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("signalhub.core.throttle.get_redis", lambda: None)
    name = unique()
    first, second = get_rate_limiter(name, 1000), get_rate_limiter(name, 1000)

    first.penalise(0.2)

    assert second.cooldown_remaining() > 0.1
    first.reset()


def run_other_worker(name: str, statements: str) -> None:
    """Run `statements` with `limiter` (same name, own Redis connection) in a separate Python process."""
    script = (
        "import redis\n"
        "from signalhub.core.throttle import RateLimiter, RedisThrottleBackend\n"
        f"client = redis.Redis.from_url({get_settings().redis_url!r})\n"
        f"limiter = RateLimiter({name!r}, 1, burst=3, backend=RedisThrottleBackend(client))\n"
        f"{statements}\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=PROJECT_ROOT, timeout=60)


@needs_redis
def test_two_worker_processes_share_the_budget_through_redis():
    name = unique("worker")
    here = RateLimiter(name, 1, burst=3, backend=RedisThrottleBackend(redis_client()))

    run_other_worker(name, "assert all(limiter.try_acquire() == 0 for _ in range(3))")
    assert here.try_acquire() > 0.5  # the other process used the whole burst; next slot is ~1 s away

    run_other_worker(name, "limiter.penalise(30)")
    assert here.cooldown_remaining() > 20


@needs_redis
def test_get_rate_limiter_uses_redis_when_configured():
    name = unique()
    limiter = get_rate_limiter(name, 1000)
    limiter.penalise(10)

    client = get_redis()
    assert client is not None
    assert float(client.get(f"signalhub:throttle:{{{name}}}:cooldown")) > 0
    assert RateLimiter(name, 1000, backend=RedisThrottleBackend(redis_client())).cooldown_remaining() > 5


def test_an_unreachable_redis_falls_back_to_this_process():
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    calls = 0
    real_execute = dead.execute_command

    def counting_execute(*args, **kwargs):
        nonlocal calls
        calls += 1
        return real_execute(*args, **kwargs)

    dead.execute_command = counting_execute  # type: ignore[method-assign]
    limiter = RateLimiter(unique(), rate_per_second=10,
                          backend=RedisThrottleBackend(dead, fallback=MemoryThrottleBackend()))

    assert limiter.try_acquire() == 0
    assert limiter.try_acquire() > 0  # still limited, in this process
    limiter.penalise(1)
    assert limiter.cooldown_remaining() > 0.5
    assert calls == 1  # after the first failure Redis is left alone for a while


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="rate_per_second"):
        RateLimiter("x", 0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter("x", 1, burst=0)
