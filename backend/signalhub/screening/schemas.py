"""Response bodies for analysis, screens and correlation."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from signalhub.indicators.schemas import IndicatorRead


class Readings(BaseModel):
    """Plain-language readings of the latest indicators."""

    rsi: Literal["overbought", "oversold", "neutral"] | None
    stochastic: Literal["overbought", "oversold", "neutral"] | None
    trend: Literal["uptrend", "downtrend", "mixed"] | None
    momentum: Literal["bullish", "bearish"] | None
    band_position: Literal["above upper band", "near upper band", "inside bands", "near lower band",
                           "below lower band"] | None
    percent_b: float | None
    summary: str


class Analysis(BaseModel):
    """A ticker's latest bar, its indicators and what they say."""

    ticker: str
    name: str
    interval: str
    ts: datetime
    close: float
    indicators: IndicatorRead
    readings: Readings


class ScreenHit(BaseModel):
    """A ticker that passed a screen, with the values that made it pass."""

    ticker: str
    name: str
    exchange: str
    ts: datetime
    close: float
    rsi_14: float | None
    stoch_k: float | None
    percent_b: float | None
    reasons: list[str]


class ScreenResult(BaseModel):
    """Tickers passing a screen on their latest bar."""

    screen: str
    interval: str
    criteria: dict[str, float | bool | None]
    count: int
    items: list[ScreenHit]


class Correlation(BaseModel):
    """Pearson correlation of per-bar close-to-close returns over the dates all tickers share."""

    tickers: list[str]
    interval: str
    start: datetime | None
    end: datetime | None
    observations: int
    matrix: dict[str, dict[str, float | None]]
