"""Celery tasks of the market-data domain: on-demand updates, daily close, intraday polling, freshness.

Every update runs the whole pipeline (bars -> indicators -> signals), so new bars always produce their
signals, whoever fetched them. The new signal ids in each result are the hand-off point for
notifications and orders."""

from __future__ import annotations

import logging
from datetime import datetime

from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.market_data import repository
from signalhub.market_data.providers import get_provider
from signalhub.ops import guards, invariants
from signalhub.signals.model_client import get_model_client
from signalhub.signals.pipeline import ingest
from signalhub.watchlists import repository as watchlist_repository
from signalhub.worker import celery_app

logger = logging.getLogger(__name__)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _run(tickers: list[str], interval: str, start: datetime | None = None,
         end: datetime | None = None) -> dict[str, object]:
    model = get_model_client()
    try:
        with session_scope() as session:
            result = ingest(session, get_provider(), tickers, interval, model, start, end)
    finally:
        model.close()
    if result.signals.signal_ids:
        # Hand-off to notifications, after the signals are committed.
        from signalhub.notifications.tasks import fan_out_signals

        fan_out_signals.delay(result.signals.signal_ids)
        # Orders for opted-in users, from the same committed signals.
        from signalhub.trading.tasks import orders_for_signals

        orders_for_signals.delay(result.signals.signal_ids)
    return result.as_dict()


@celery_app.task(name="signalhub.market_data.tasks.update_prices")
def update_prices(tickers: list[str], interval: str = "1d", start: str | None = None,
                  end: str | None = None) -> dict[str, object]:
    """Fetch and store bars, indicators and signals for `tickers` (idempotent: every write is an upsert)."""
    return _run(tickers, interval, _parse(start), _parse(end))


@celery_app.task(name="signalhub.market_data.tasks.daily_close_update")
def daily_close_update(exchange: str, at: str | None = None) -> dict[str, object]:
    """After a market's close, fetch the day's bar for its active stocks; skipped on non-sessions."""
    # The calendar guard beat's listing uses too (signalhub.ops.guards): one slot after the actual close.
    decision = guards.daily_close(exchange, _parse(at) or utcnow())
    if not decision.run:
        logger.info("daily close not due", extra={"exchange": exchange, "reason": decision.reason})
        return {"exchange": exchange, "skipped": decision.reason}
    with session_scope() as session:
        tickers = [s.ticker for s in repository.list_stocks(session, exchange=exchange)]
    result = _run(tickers, "1d") if tickers else {"updated": []}
    return {"exchange": exchange, "date": str(decision.session), **result}


@celery_app.task(name="signalhub.market_data.tasks.poll_intraday")
def poll_intraday(exchange: str, at: str | None = None) -> dict[str, object]:
    """While a market is open, fetch new intraday bars for the tickers users watch on it."""
    now = _parse(at) or utcnow()
    decision = guards.market_open(exchange, now)
    if not decision.run:
        return {"exchange": exchange, "skipped": decision.reason}
    with session_scope() as session:
        tickers = watchlist_repository.watched_tickers(session, exchange)
    result = _run(tickers, get_settings().intraday_interval) if tickers else {"updated": []}
    if tickers:
        # Feeds the signals_evaluated invariant: the pipeline ran for this exchange.
        invariants.record_evaluation(exchange, now)
    return {"exchange": exchange, **result}


@celery_app.task(name="signalhub.market_data.tasks.check_freshness")
def check_freshness(exchange: str, at: str | None = None) -> dict[str, object]:
    """Flag stale series on an exchange: daily bars of active stocks and intraday bars of watched ones."""
    now = _parse(at) or utcnow()
    # The one freshness measurement (it also sets DATA_AGE); beat runs it every minute through the stale_bars
    # invariant (signalhub.ops.tasks.check_invariants), which alerts the admins.
    with session_scope() as session:
        stale = invariants.stale_series(session, exchange, now)
    for series, rows in stale.items():
        for row in rows:
            logger.warning("stale market data", extra={"exchange": exchange, "interval": series, **row})
    return {"exchange": exchange, "checked_at": now.isoformat(), "stale": stale}
