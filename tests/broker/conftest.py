"""Fixtures for the KIS tests: a running fake KIS (both hosts, REST and WebSocket) and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.kis import FakeKis


@pytest.fixture
def fake() -> Iterator[FakeKis]:
    """A fresh fake KIS server on loopback."""
    with FakeKis() as server:
        yield server


@pytest.fixture
def kis_env(env: pytest.MonkeyPatch, fake: FakeKis) -> pytest.MonkeyPatch:
    """Settings whose KIS hosts are the fake's (no platform credential yet)."""
    for name, value in {"KIS_REAL_BASE_URL": fake.url(False), "KIS_PAPER_BASE_URL": fake.url(True),
                        "KIS_REAL_WS_URL": fake.ws_url(False), "KIS_PAPER_WS_URL": fake.ws_url(True)}.items():
        env.setenv(name, value)
    return env
