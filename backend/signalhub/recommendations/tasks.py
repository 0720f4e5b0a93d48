"""Celery tasks of recommendations: the day's recommendations per market, after its close (17:00 KST on KRX).

Recommendations are computed on read from the newest graded signals; what the 17:00 run adds is a fixed
snapshot of the day, taken once the day's bars and signals are in: it is kept for a week in the ops store
(shared by every process), and each user's daily report lists the entries for the tickers they watch.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.ops import guards
from signalhub.ops import repository as ops_repository
from signalhub.ops.state import OpsStore, get_ops_store
from signalhub.recommendations import service
from signalhub.worker import celery_app

logger = logging.getLogger(__name__)

SNAPSHOT_TTL_SECONDS = 7 * 24 * 3600
SNAPSHOT_LIMIT = 500


def snapshot_key(exchange: str, day: date) -> str:
    """Where the snapshot of `exchange`'s recommendations for session `day` is kept."""
    return f"recommendations:{exchange}:{day.isoformat()}"


def build_snapshot(session: Session, exchange: str, day: date, at: datetime) -> dict[str, Any]:
    """The daily recommendations for tickers on `exchange`, most confident first."""
    items = service.recommendations(session, "1d", None, 0.0, None, "confidence", True, SNAPSHOT_LIMIT)
    on_exchange = ops_repository.tickers_on(session, exchange, [r.ticker for r in items])
    return {"exchange": exchange, "session": day.isoformat(), "computed_at": at.isoformat(),
            "items": [r.model_dump(mode="json") for r in items if r.ticker in on_exchange]}


def load_snapshot(exchange: str, day: date, store: OpsStore | None = None) -> dict[str, Any] | None:
    """The stored snapshot for `exchange` and session `day`, if it was computed."""
    return (store or get_ops_store()).get(snapshot_key(exchange, day))


@celery_app.task(name="signalhub.recommendations.tasks.compute_daily")
def compute_daily(exchange: str, at: str | None = None) -> dict[str, object]:
    """After `exchange`'s close, compute and keep the day's recommendations (skipped on non-sessions)."""
    now = datetime.fromisoformat(at) if at else utcnow()
    decision = guards.recommendations(exchange, now)
    if not decision.run or decision.session is None:
        return {"exchange": exchange, "skipped": decision.reason}
    with session_scope() as session:
        snapshot = build_snapshot(session, exchange, decision.session, now)
    get_ops_store().put(snapshot_key(exchange, decision.session), snapshot, ttl=SNAPSHOT_TTL_SECONDS)
    logger.info("daily recommendations stored", extra={"exchange": exchange, "count": len(snapshot["items"])})
    return {"exchange": exchange, "session": snapshot["session"], "count": len(snapshot["items"])}
