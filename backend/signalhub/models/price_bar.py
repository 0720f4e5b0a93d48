"""The `price_bars` table: OHLCV bars per (ticker, interval, bar start)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class PriceBar(Base):
    """One bar; `ts` is the bar's start in UTC (daily bars: midnight UTC of the session date)."""

    __tablename__ = "price_bars"

    ticker: Mapped[str] = mapped_column(String(32), ForeignKey("stocks.ticker", ondelete="CASCADE"),
                                        primary_key=True)
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    open: Mapped[float] = mapped_column(Double)
    high: Mapped[float] = mapped_column(Double)
    low: Mapped[float] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    volume: Mapped[float] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(16))
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
