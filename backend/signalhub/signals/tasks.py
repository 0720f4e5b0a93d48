"""Celery tasks of the signals domain."""

from __future__ import annotations

from signalhub.core.db import session_scope
from signalhub.signals import service
from signalhub.worker import celery_app


@celery_app.task(name="signalhub.signals.tasks.resolve_predictions")
def resolve_predictions() -> int:
    """Record outcomes of predictions whose horizon has passed (idempotent: resolved ones are skipped)."""
    with session_scope() as session:
        return service.resolve_predictions(session)
