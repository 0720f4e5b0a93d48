"""The `technical_indicators` table: indicator values per (ticker, interval, bar start)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class TechnicalIndicator(Base):
    """Indicators computed from the bars up to and including `ts` (NULL during warm-up)."""

    __tablename__ = "technical_indicators"

    ticker: Mapped[str] = mapped_column(String(32), ForeignKey("stocks.ticker", ondelete="CASCADE"),
                                        primary_key=True)
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    rsi_14: Mapped[float | None] = mapped_column(Double)
    macd: Mapped[float | None] = mapped_column(Double)
    macd_signal: Mapped[float | None] = mapped_column(Double)
    macd_hist: Mapped[float | None] = mapped_column(Double)
    stoch_k: Mapped[float | None] = mapped_column(Double)
    stoch_d: Mapped[float | None] = mapped_column(Double)
    sma_20: Mapped[float | None] = mapped_column(Double)
    sma_50: Mapped[float | None] = mapped_column(Double)
    sma_200: Mapped[float | None] = mapped_column(Double)
    bb_upper: Mapped[float | None] = mapped_column(Double)
    bb_middle: Mapped[float | None] = mapped_column(Double)
    bb_lower: Mapped[float | None] = mapped_column(Double)
    bb5_upper: Mapped[float | None] = mapped_column(Double)
    bb5_middle: Mapped[float | None] = mapped_column(Double)
    bb5_lower: Mapped[float | None] = mapped_column(Double)
    atr_14: Mapped[float | None] = mapped_column(Double)
    volume_avg_20: Mapped[float | None] = mapped_column(Double)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
