"""Alembic owns the schema: up and down on an empty database, and no drift from the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, make_url, text

from signalhub.core.config import get_settings
from signalhub.core.db import build_engine, get_engine
from signalhub.models import Base
from tests.helpers import downgrade_to, migrate_to


@pytest.fixture
def scratch_url(tmp_path) -> Iterator[str]:
    """An empty database of the same kind as the test database."""
    url = get_settings().database_url
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"signalhub_scratch_{uuid.uuid4().hex[:8]}"
    admin = build_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_downgrade_upgrade_on_empty_database(scratch_url):
    migrate_to(scratch_url, "head")
    engine = build_engine(scratch_url)
    expected = {t.name for t in Base.metadata.sorted_tables}
    assert expected <= set(inspect(engine).get_table_names())
    downgrade_to(scratch_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate_to(scratch_url, "head")
    assert expected <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_do_not_drift():
    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models differ from migrations; write a migration for: {diff}"


def test_timestamps_round_trip_as_aware_utc(db_session):
    from signalhub.models import User

    seoul = timezone(timedelta(hours=9))
    user = User(email="tz@example.com", username="tz", password_hash="x",
                created_at=datetime(2025, 1, 2, 9, 0, tzinfo=seoul))
    db_session.add(user)
    db_session.commit()
    db_session.expire_all()
    stored = db_session.get(User, user.id).created_at
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == datetime(2025, 1, 2, 0, 0, tzinfo=UTC)


def test_notification_content_moves_to_messages_and_back(scratch_url):
    """0010 keeps what every existing notification said, up and down."""
    migrate_to(scratch_url, "0009")
    engine = build_engine(scratch_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (email, username, password_hash, role, is_active, timezone, "
                          "initial_capital, capital_currency, created_at, updated_at) VALUES ('a@example.com', 'a', "
                          "'x', 'user', true, 'UTC', 0, 'USD', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for key, title in (("k1", "🟢 STRONG_BUY AAPL"), ("k2", "Order filled")):
            conn.execute(text("INSERT INTO notifications (user_id, dedup_key, kind, title, body, data, created_at) "
                              "VALUES (1, :key, 'notice', :title, :body, :data, CURRENT_TIMESTAMP)"),
                         {"key": key, "title": title, "body": f"body of {key}", "data": '{"html": "<p>x</p>"}'})
    migrate_to(scratch_url, "0010")
    with engine.connect() as conn:
        moved = conn.execute(text("SELECT n.dedup_key, m.title, m.body, m.data FROM notifications n JOIN "
                                  "notification_messages m ON m.id = n.message_id ORDER BY n.id")).all()
    assert [(k, t, b) for k, t, b, _ in moved] == [("k1", "🟢 STRONG_BUY AAPL", "body of k1"),
                                                     ("k2", "Order filled", "body of k2")]
    assert all("<p>x</p>" in str(data) for *_, data in moved)
    downgrade_to(scratch_url, "0009")
    with engine.connect() as conn:
        back = conn.execute(text("SELECT dedup_key, title, body FROM notifications ORDER BY id")).all()
    assert [tuple(row) for row in back] == [("k1", "🟢 STRONG_BUY AAPL", "body of k1"),
                                            ("k2", "Order filled", "body of k2")]
    engine.dispose()
