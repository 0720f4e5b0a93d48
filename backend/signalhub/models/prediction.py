"""The `predictions` table: model predictions, later resolved against what the market did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class Prediction(Base):
    """The model's call for a ticker at one bar over `horizon` bars, and (once known) whether it was right."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("ticker", "interval", "base_ts", "horizon", "model_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticker: Mapped[str] = mapped_column(String(32), ForeignKey("stocks.ticker", ondelete="CASCADE"), index=True)
    interval: Mapped[str] = mapped_column(String(8))
    base_ts: Mapped[datetime]
    base_price: Mapped[float] = mapped_column(Double)
    horizon: Mapped[int]
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # up / down
    confidence: Mapped[float] = mapped_column(Double)
    predicted_return: Mapped[float] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    actual_return: Mapped[float | None] = mapped_column(Double, default=None)
    correct: Mapped[bool | None] = mapped_column(default=None)
