"""Database engine and sessions: one per HTTP request, one per Celery task."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from signalhub.core.config import get_settings
from signalhub.core.errors import SignalhubError


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the API read while a worker writes.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def build_engine(url: str, echo: bool = False) -> Engine:
    """Create an engine for `url` with the settings each backend needs."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache
def get_engine() -> Engine:
    """Return the process-wide engine for the configured database."""
    settings = get_settings()
    return build_engine(settings.database_url, settings.database_echo)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """Return the process-wide session factory."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work (a request or a Celery task): commit once at the end, roll back on error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except SignalhubError as exc:
        # Some refusals must still be recorded (e.g. revoking a replayed token's whole family).
        if exc.persist_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def get_session() -> Iterator[Session]:
    """FastAPI dependency wrapping `session_scope` so each request commits once."""
    with session_scope() as session:
        yield session


def upsert_rows(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str],
    update: Sequence[str] | None = None,
) -> int:
    """Insert rows, or update `update` columns where `key` already exists (PostgreSQL and SQLite)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"upsert not supported on {dialect}")
    columns = update if update is not None else [c for c in rows[0] if c not in key]
    stmt = insert(table)
    if columns:
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in columns})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    # One statement executed for many parameter sets: compiled once, sent as a driver batch.
    session.execute(stmt, list(rows))
    return len(rows)
