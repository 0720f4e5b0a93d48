"""Readiness checks of the database and the Celery broker."""

from __future__ import annotations

from kombu import Connection
from sqlalchemy import text

from signalhub.core.config import get_settings
from signalhub.core.db import get_engine
from signalhub.health.schemas import ComponentStatus


def check_database() -> ComponentStatus:
    """Run `SELECT 1` on the configured database."""
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return ComponentStatus(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])
    return ComponentStatus(ok=True, detail=get_engine().dialect.name)


def check_broker() -> ComponentStatus:
    """Open (and close) a connection to the Celery broker."""
    try:
        with Connection(get_settings().broker_url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            transport = conn.transport_cls
    except Exception as exc:
        return ComponentStatus(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])
    return ComponentStatus(ok=True, detail=str(transport))
