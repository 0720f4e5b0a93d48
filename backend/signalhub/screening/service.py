"""Readings, screens and correlations over stored bars and indicators; read-only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signalhub.core.errors import NotFoundError, UnprocessableError
from signalhub.indicators import repository as indicator_repository
from signalhub.indicators.schemas import IndicatorRead
from signalhub.market_data import repository as bars_repository
from signalhub.market_data import service as market_service
from signalhub.models.technical_indicator import TechnicalIndicator
from signalhub.screening.schemas import Analysis, Correlation, Readings, ScreenHit, ScreenResult

RSI_OVERBOUGHT, RSI_OVERSOLD = 70.0, 30.0
STOCH_OVERBOUGHT, STOCH_OVERSOLD = 80.0, 20.0


def percent_b(close: float, ind: TechnicalIndicator) -> float | None:
    """Where the close sits in the 20-bar Bollinger band: 0 = lower band, 1 = upper band."""
    if ind.bb_upper is None or ind.bb_lower is None or ind.bb_upper == ind.bb_lower:
        return None
    return (close - ind.bb_lower) / (ind.bb_upper - ind.bb_lower)


def _zone(value: float | None, high: float, low: float) -> Any:
    if value is None:
        return None
    return "overbought" if value >= high else "oversold" if value <= low else "neutral"


def read_indicators(close: float, ind: TechnicalIndicator) -> Readings:
    """Turn the latest indicator values into plain-language readings."""
    rsi = _zone(ind.rsi_14, RSI_OVERBOUGHT, RSI_OVERSOLD)
    stoch = _zone(ind.stoch_k, STOCH_OVERBOUGHT, STOCH_OVERSOLD)
    trend = None
    if ind.sma_50 is not None and ind.sma_200 is not None:
        if close > ind.sma_50 > ind.sma_200:
            trend = "uptrend"
        elif close < ind.sma_50 < ind.sma_200:
            trend = "downtrend"
        else:
            trend = "mixed"
    momentum = None if ind.macd_hist is None else ("bullish" if ind.macd_hist > 0 else "bearish")
    pb = percent_b(close, ind)
    band = None
    if pb is not None:
        band = ("above upper band" if pb > 1 else "near upper band" if pb >= 0.8 else
                "below lower band" if pb < 0 else "near lower band" if pb <= 0.2 else "inside bands")
    parts = []
    if rsi is not None:
        parts.append(f"RSI(14) {ind.rsi_14:.1f} is {rsi}")
    if stoch is not None:
        parts.append(f"stochastic %K {ind.stoch_k:.1f} is {stoch}")
    if trend is not None:
        parts.append({"uptrend": "price above rising averages (close > SMA50 > SMA200): uptrend",
                      "downtrend": "price below falling averages (close < SMA50 < SMA200): downtrend",
                      "mixed": "moving averages disagree: no clear trend"}[trend])
    if momentum is not None:
        parts.append(f"MACD histogram {ind.macd_hist:+.4g}: {momentum} momentum")
    if band is not None:
        parts.append(f"close is {band} (%B {pb:.2f})")
    summary = "; ".join(parts) + "." if parts else "Not enough history for indicators yet."
    return Readings(rsi=rsi, stochastic=stoch, trend=trend, momentum=momentum, band_position=band,
                    percent_b=pb, summary=summary[0].upper() + summary[1:])


def analyse(session: Session, ticker: str, interval: str) -> Analysis:
    """The latest bar of a ticker with its indicators and readings; 404 if it has none."""
    stock = market_service.require_stock(session, ticker)
    rows = indicator_repository.latest_snapshot(session, interval, [stock.ticker])
    if not rows:
        raise NotFoundError(f"No {interval} bars stored for '{stock.ticker}'; queue an update first")
    ind, close = rows[0][0], rows[0].close
    return Analysis(ticker=stock.ticker, name=stock.name, interval=interval, ts=ind.ts, close=close,
                    indicators=IndicatorRead.model_validate(ind), readings=read_indicators(close, ind))


_SORT_FIELDS = {"rsi_14", "stoch_k", "percent_b", "close", "ticker"}


def screen(session: Session, kind: str, interval: str, rsi: float, stoch: float | None, band: bool,
           sort: str, descending: bool, limit: int) -> ScreenResult:
    """Tickers whose latest bar is oversold (`kind='oversold'`) or overbought, by RSI and optional extras."""
    oversold = kind == "oversold"
    hits: list[ScreenHit] = []
    for row in indicator_repository.latest_snapshot(session, interval):
        ind, close = row[0], row.close
        if ind.rsi_14 is None:
            continue
        reasons = []
        rsi_ok = ind.rsi_14 < rsi if oversold else ind.rsi_14 > rsi
        if not rsi_ok:
            continue
        reasons.append(f"RSI(14) {ind.rsi_14:.1f} {'<' if oversold else '>'} {rsi:g}")
        if stoch is not None:
            if ind.stoch_k is None or not (ind.stoch_k < stoch if oversold else ind.stoch_k > stoch):
                continue
            reasons.append(f"%K {ind.stoch_k:.1f} {'<' if oversold else '>'} {stoch:g}")
        pb = percent_b(close, ind)
        if band:
            if pb is None or not (pb < 0 if oversold else pb > 1):
                continue
            reasons.append("close below the lower Bollinger band" if oversold
                           else "close above the upper Bollinger band")
        hits.append(ScreenHit(ticker=ind.ticker, name=row.name, exchange=row.exchange, ts=ind.ts, close=close,
                              rsi_14=ind.rsi_14, stoch_k=ind.stoch_k, percent_b=pb, reasons=reasons))
    if sort not in _SORT_FIELDS:
        raise UnprocessableError(f"sort must be one of {sorted(_SORT_FIELDS)}")
    # Missing values sort last whatever the direction.
    present = [h for h in hits if getattr(h, sort) is not None]
    missing = [h for h in hits if getattr(h, sort) is None]
    present.sort(key=lambda h: getattr(h, sort), reverse=descending)
    items = (present + missing)[:limit]
    criteria: dict[str, float | bool | None] = {"rsi_below" if oversold else "rsi_above": rsi,
                                                "stoch_below" if oversold else "stoch_above": stoch,
                                                "band": band}
    return ScreenResult(screen=kind, interval=interval, criteria=criteria, count=len(items), items=items)


def correlation(session: Session, tickers: Sequence[str], interval: str, start: datetime | None,
                end: datetime | None) -> Correlation:
    """Correlation matrix of close-to-close returns on the bars every ticker has."""
    symbols = list(dict.fromkeys(market_service.normalise_ticker(t) for t in tickers))
    if len(symbols) < 2:
        raise UnprocessableError("tickers: give at least two distinct tickers, comma-separated")
    known = bars_repository.existing_tickers(session, symbols)
    missing = [t for t in symbols if t not in known]
    if missing:
        raise NotFoundError(f"Unknown ticker(s): {', '.join(missing)}")
    bars = bars_repository.load_bars_frame(session, symbols, interval, start, end)
    closes = bars.pivot(index="ts", columns="ticker", values="close").reindex(columns=symbols)
    # Returns only over consecutive shared bars: a bar missing for one ticker drops that row for all.
    returns = closes.dropna().pct_change(fill_method=None).dropna()
    if len(returns) < 3:
        raise UnprocessableError(f"Only {len(returns)} shared {interval} returns in the range; need at least 3")
    matrix = returns.corr()
    return Correlation(
        tickers=symbols, interval=interval, start=start, end=end, observations=len(returns),
        matrix={a: {b: (None if math.isnan(v := float(matrix.loc[a, b])) else v) for b in symbols}
                for a in symbols},
    )
