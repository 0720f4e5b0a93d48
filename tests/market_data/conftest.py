"""Fixtures for the Yahoo provider tests: a fake Yahoo server on loopback and fast-retrying providers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from signalhub.core.throttle import get_rate_limiter
from signalhub.market_data.providers.yahoo import YahooProvider
from tests.fakes.yahoo import FakeYahoo


@pytest.fixture
def yahoo_server() -> Iterator[FakeYahoo]:
    """A fresh fake Yahoo server (real HTTP on 127.0.0.1, ephemeral port) for one test."""
    with FakeYahoo() as server:
        yield server


@pytest.fixture
def make_yahoo_provider(yahoo_server: FakeYahoo) -> Iterator[Callable[..., YahooProvider]]:
    """Build providers aimed at the fake, with tiny backoffs and a limiter of their own.

    The limiter comes from `get_rate_limiter`, so it lives in Redis when REDIS_URL is set; a fresh name
    per test keeps tests from sharing spacing or cooldowns.
    """
    providers: list[YahooProvider] = []
    limiter_name = f"yahoo-test-{uuid.uuid4().hex[:8]}"

    def make(rate: float = 1000.0, **overrides: Any) -> YahooProvider:
        options: dict[str, Any] = {
            "base_url": yahoo_server.base_url, "max_retries": 2, "timeout_seconds": 2.0,
            "backoff_base": 0.01, "backoff_max": 0.05, "acquire_timeout": 10.0,
            "limiter": get_rate_limiter(limiter_name, rate),
        }
        options.update(overrides)
        provider = YahooProvider(**options)
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        provider.close()
