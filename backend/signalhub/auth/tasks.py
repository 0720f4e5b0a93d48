"""Celery tasks of the auth domain."""

from __future__ import annotations

from signalhub.auth import service
from signalhub.core.db import session_scope
from signalhub.worker import celery_app


@celery_app.task(name="signalhub.auth.tasks.purge_expired_refresh_tokens")
def purge_expired_refresh_tokens() -> int:
    """Delete expired refresh tokens (idempotent: a second run finds nothing to delete)."""
    with session_scope() as session:
        return service.purge_expired_refresh_tokens(session)
