"""Compute indicators from stored bars and store them; flushes, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy.orm import Session

from signalhub.indicators import repository
from signalhub.indicators.compute import compute_indicators_batch
from signalhub.market_data import repository as bars_repository
from signalhub.signals.strategies.base import MAX_LOOKBACK

# Bars of history loaded before the first new bar. SMA200 needs 200; the recursive indicators
# (RSI, MACD, ATR) forget their starting point geometrically, and after 400 bars the difference
# from a full-history computation is far below 1e-8 of the value.
CONTEXT_BARS = 400


def refresh_indicators(session: Session, tickers: Sequence[str], interval: str,
                       new_bars: int | None = None, latest: dict[str, datetime] | None = None) -> pd.DataFrame:
    """Recompute and store indicators for each ticker's newest `new_bars` bars (all bars when None).

    Returns the bars it loaded joined with their indicators (ticker, ts, OHLCV, indicator columns),
    sorted by ticker and ts, so the signal pipeline can go on without reading them back."""
    if not tickers or new_bars == 0:
        return bars_repository.load_bars_frame(session, [], interval)
    if new_bars is None:
        bars = bars_repository.load_bars_frame(session, tickers, interval)
    else:
        bars = bars_repository.load_last_bars(session, tickers, interval, per_ticker=CONTEXT_BARS + new_bars,
                                              latest=latest)
    if bars.empty:
        return bars
    values = compute_indicators_batch(bars)
    # Rewrite a few rows before the new ones too, so the rows strategies look back on hold exactly the
    # values this run uses (older rows were computed with a different start and differ by ~1e-12).
    stored = values if new_bars is None else values.groupby("ticker", sort=False).tail(new_bars + MAX_LOOKBACK)
    repository.upsert_indicators(session, stored, interval)
    return bars.merge(values, on=["ticker", "ts"], how="left", validate="one_to_one").sort_values(
        ["ticker", "ts"], ignore_index=True)
