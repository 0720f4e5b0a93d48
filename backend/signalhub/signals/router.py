"""HTTP layer for signals and prediction accuracy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import NotFoundError
from signalhub.core.time import as_utc
from signalhub.market_data import service as market_service
from signalhub.market_data.providers.base import Interval
from signalhub.market_data.router import ERRORS, End, Start, utc_range
from signalhub.models.signal import Signal
from signalhub.signals import performance, repository, service
from signalhub.signals.schemas import (
    AccuracyReport,
    AccuracyRow,
    PerformanceReport,
    PerformanceRow,
    SignalCheck,
    SignalPage,
    SignalRead,
)

router = APIRouter(tags=["signals"])

Grade = Literal["STRONG_BUY", "BUY", "HOLD", "SELL", "STRONG_SELL"]


@router.get("/api/v1/signals", response_model=SignalPage, responses=ERRORS)
def list_signals(session: SessionDep, _: CurrentUser, ticker: str | None = None,
                 grade: Annotated[list[Grade] | None, Query(description="Repeat to allow several")] = None,
                 strategy: str | None = None, interval: Interval | None = None, start: Start = None,
                 end: End = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0)] = 0) -> SignalPage:
    """Signals, newest bar first, filtered by ticker, grade, strategy, interval and bar-time range."""
    start, end = utc_range(start, end)
    symbol = market_service.normalise_ticker(ticker) if ticker else None
    if strategy is not None:
        service.require_strategy(strategy)
    stmt = repository.signals_query(symbol, grade, strategy, start, end, interval)
    items, total = repository.list_signals(session, stmt, limit, offset)
    return SignalPage(total=total, limit=limit, offset=offset, items=[SignalRead.model_validate(s) for s in items])


def _evaluated_horizon(value: int) -> int:
    if value not in performance.HORIZONS:
        raise ValueError(f"must be one of {', '.join(map(str, performance.HORIZONS))} (trading days)")
    return value


# Declared before /signals/{signal_id} so "performance" is never read as a signal id.
@router.get("/api/v1/signals/performance", response_model=PerformanceReport, responses=ERRORS)
def signal_performance(
    session: SessionDep, _: CurrentUser,
    horizon: Annotated[int, AfterValidator(_evaluated_horizon),
                       Query(description="Trading days after the signal: 1, 5 or 20")] = 5,
    group_by: Literal["strategy", "ticker", "grade"] = "strategy", strategy: str | None = None,
    ticker: str | None = None,
    since: Annotated[datetime | None, Query(description="Only signals on bars at or after this (ISO 8601)")] = None,
    interval: Interval | None = None,
    success_threshold: Annotated[float | None, Query(ge=0, lt=1, description=(
        "Signal return a success must beat (default SIGNAL_SUCCESS_THRESHOLD)"))] = None,
) -> PerformanceReport:
    """How past BUY/SELL signals did `horizon` trading days later, per strategy, ticker or grade.

    Signal return = forward return (close of the signal's daily bar -- an intraday signal's session -- to the
    close `horizon` daily bars later) for a BUY, its negative for a SELL. win_rate: share with signal return
    > 0; success_rate: share above `success_threshold`. sharpe = mean / sample std of signal returns x
    sqrt(252 / horizon), no risk-free rate. worst_loss: the most negative signal return (null without losses).
    """
    symbol = market_service.normalise_ticker(ticker) if ticker else None
    if strategy is not None:
        service.require_strategy(strategy)
    threshold, rows = performance.performance_report(session, horizon, group_by, success_threshold, strategy,
                                                     symbol, as_utc(since) if since else None, interval)
    return PerformanceReport(horizon=horizon, group_by=group_by, success_threshold=threshold,
                             rows=[PerformanceRow.model_validate(row) for row in rows])


@router.get("/api/v1/signals/{signal_id}", response_model=SignalRead, responses=ERRORS)
def get_signal(session: SessionDep, _: CurrentUser, signal_id: int) -> Signal:
    """One signal with its reasons, model view and reproducibility hashes."""
    signal = repository.get_signal(session, signal_id)
    if signal is None:
        raise NotFoundError(f"No signal {signal_id}")
    return signal


@router.get("/api/v1/signals/{signal_id}/verify", response_model=SignalCheck, responses=ERRORS)
def verify_signal(session: SessionDep, _: CurrentUser, signal_id: int) -> SignalCheck:
    """Recompute a signal from the stored bars and indicators it was computed from, and compare."""
    return SignalCheck.model_validate(service.verify_signal(session, signal_id))


@router.get("/api/v1/ai/predictions/accuracy", response_model=AccuracyReport, responses=ERRORS)
def prediction_accuracy(session: SessionDep, _: CurrentUser,
                        by: Literal["model_version", "ticker"] = "model_version",
                        model_version: str | None = None, ticker: str | None = None) -> AccuracyReport:
    """Directional accuracy of resolved model predictions, per model version or per ticker."""
    symbol = market_service.normalise_ticker(ticker) if ticker else None
    rows = [AccuracyRow(key=str(key), predictions=int(total), correct=int(correct or 0),
                        accuracy=(int(correct or 0) / int(total)) if total else None,
                        mean_actual_return=float(mean) if mean is not None else None)
            for key, total, correct, mean in repository.accuracy(session, by, model_version, symbol)]
    return AccuracyReport(group_by=by, rows=rows)
