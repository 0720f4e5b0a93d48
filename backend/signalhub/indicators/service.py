"""Compute indicators from stored bars and store them; flushes, never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from signalhub.indicators import repository
from signalhub.indicators.compute import compute_indicators_batch
from signalhub.market_data import repository as bars_repository

# Bars of history loaded before the first new bar. SMA200 needs 200; the recursive indicators
# (RSI, MACD, ATR) forget their starting point geometrically, and after 400 bars the difference
# from a full-history computation is far below 1e-8 of the value.
CONTEXT_BARS = 400


def refresh_indicators(session: Session, tickers: Sequence[str], interval: str,
                       new_bars: int | None = None) -> int:
    """Recompute and store indicators for each ticker's newest `new_bars` bars (all bars when None)."""
    if not tickers or new_bars == 0:
        return 0
    if new_bars is None:
        bars = bars_repository.load_bars_frame(session, tickers, interval)
    else:
        bars = bars_repository.load_last_bars(session, tickers, interval, per_ticker=CONTEXT_BARS + new_bars)
    if bars.empty:
        return 0
    values = compute_indicators_batch(bars)
    if new_bars is not None:
        values = values.groupby("ticker", sort=False).tail(new_bars)
    return repository.upsert_indicators(session, values, interval)
