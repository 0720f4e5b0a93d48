"""Response bodies for indicators."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class IndicatorRead(BaseModel):
    """Indicator values at one bar (null during warm-up)."""

    model_config = ConfigDict(from_attributes=True)

    ts: datetime
    rsi_14: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    stoch_k: float | None
    stoch_d: float | None
    sma_20: float | None
    sma_50: float | None
    sma_200: float | None
    bb_upper: float | None
    bb_middle: float | None
    bb_lower: float | None
    bb5_upper: float | None
    bb5_middle: float | None
    bb5_lower: float | None
    atr_14: float | None
    volume_avg_20: float | None


class IndicatorPage(BaseModel):
    """A page of a ticker's indicator rows, oldest first."""

    ticker: str
    interval: str
    total: int
    limit: int
    offset: int
    items: list[IndicatorRead]
