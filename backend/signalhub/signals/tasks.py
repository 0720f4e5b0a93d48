"""Celery tasks of the signals domain."""

from __future__ import annotations

from signalhub.core.db import session_scope
from signalhub.signals import performance, service
from signalhub.worker import celery_app


@celery_app.task(name="signalhub.signals.tasks.resolve_predictions")
def resolve_predictions() -> int:
    """Record outcomes of predictions whose horizon has passed (idempotent: resolved ones are skipped)."""
    with session_scope() as session:
        return service.resolve_predictions(session)


@celery_app.task(name="signalhub.signals.tasks.evaluate_signal_performance")
def evaluate_signal_performance() -> dict[str, object]:
    """Store forward returns of signals whose horizon has passed, then alert on consecutive-loss streaks.

    Idempotent: stored outcomes are skipped and each streak notifies once (dedup keys)."""
    with session_scope() as session:
        evaluated = performance.evaluate_outcomes(session)
        streaks = performance.alert_loss_streaks(session)
    return {**evaluated.as_dict(), **streaks}
