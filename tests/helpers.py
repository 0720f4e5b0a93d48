"""Helpers shared by tests: migrations on a given URL, and signing users up through the API."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import text

from signalhub.core.config import PROJECT_ROOT
from signalhub.core.db import build_engine

PASSWORD = "correct horse battery"


def alembic_config(url: str) -> Config:
    """Alembic config aimed at `url` (overriding settings)."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def migrate_to(url: str, revision: str) -> None:
    """Upgrade the database at `url` to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade_to(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision`."""
    command.downgrade(alembic_config(url), revision)


def reset_database(url: str) -> None:
    """Make the database at `url` empty: a new SQLite file, or a recreated PostgreSQL schema."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def register(client: TestClient, email: str, username: str | None = None, **extra: object) -> dict:
    """Register a user through the API and return the created user."""
    body = {"email": email, "username": username or email.split("@")[0], "password": PASSWORD, **extra}
    response = client.post("/api/v1/users/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def login(client: TestClient, login_name: str, password: str = PASSWORD) -> dict:
    """Log in through the OAuth2 form endpoint and return the token pair."""
    response = client.post("/api/v1/users/token", data={"username": login_name, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def auth_headers(client: TestClient, email: str, **extra: object) -> dict[str, str]:
    """Register and log in a user; return the Authorization header for them."""
    register(client, email, **extra)
    return {"Authorization": f"Bearer {login(client, email)['access_token']}"}
