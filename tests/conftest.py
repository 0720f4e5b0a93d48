"""Test set-up: a freshly migrated database (SQLite, or PostgreSQL from DATABASE_URL) and the real app."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="signalhub-tests-"))
os.environ["ENVIRONMENT"] = "test"
os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
os.environ["FERNET_KEY"] = "Jk0o7Y1yX6Q0cX6m8cV8o2q6m8m2m9H2b4n3k1u0w7s="  # a test-only Fernet key
os.environ["EMAIL_OUTBOX_DIR"] = str(_TMP / "outbox")
os.environ["ALLOW_LOOPBACK_DESTINATIONS"] = "true"  # every fake external service listens on loopback
os.environ.setdefault("DATABASE_URL", f"sqlite:///{_TMP / 'test.db'}")
if os.environ.get("REDIS_URL"):
    os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
    os.environ.setdefault("CELERY_RESULT_BACKEND", os.environ["REDIS_URL"])
else:
    os.environ.setdefault("CELERY_BROKER_URL", f"sqla+sqlite:///{_TMP / 'broker.db'}")
    os.environ.setdefault("CELERY_RESULT_BACKEND", f"db+sqlite:///{_TMP / 'results.db'}")

from fastapi.testclient import TestClient  # noqa: E402

from signalhub.core.config import get_settings  # noqa: E402
from signalhub.core.db import get_engine, get_sessionmaker  # noqa: E402
from signalhub.core.ratelimit import get_attempt_counter, get_redis  # noqa: E402
from signalhub.models import Base  # noqa: E402
from tests.helpers import migrate_to, reset_database  # noqa: E402


def clear_caches() -> None:
    """Forget cached settings, engine and clients so changed environment variables take effect."""
    for cached in (get_settings, get_engine, get_sessionmaker, get_redis, get_attempt_counter):
        cached.cache_clear()


def pytest_report_header() -> list[str]:
    """Show which database and broker this run exercises."""
    s = get_settings()
    return [f"signalhub database: {get_engine().dialect.name} ({s.database_url.split('@')[-1]})",
            f"signalhub broker: {s.broker_url.split('://')[0]}, redis: {'yes' if s.redis_url else 'no'}"]


@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> Iterator[None]:
    """Start from an empty schema and apply every migration, as production does."""
    url = get_settings().database_url
    reset_database(url)
    migrate_to(url, "head")
    yield
    get_engine().dispose()


@pytest.fixture(autouse=True)
def clean_state() -> Iterator[None]:
    """Empty every table and the rate-limit counters after each test."""
    yield
    with get_engine().begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    client = get_redis()
    if client is not None:
        client.flushdb()
    get_attempt_counter.cache_clear()
    # Tasks queued by a test but never consumed must not run in a later test's worker.
    from signalhub.worker import celery_app

    celery_app.control.purge()


@pytest.fixture
def db_session():
    """A session on the test database for arranging data and checking results directly."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The real application behind an in-process HTTP client."""
    from signalhub.main import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change environment variables for one test; settings and engines are rebuilt around it."""
    clear_caches()
    yield monkeypatch
    monkeypatch.undo()
    clear_caches()


@pytest.fixture
def tmp_dir() -> Path:
    """The session's scratch directory."""
    return _TMP

