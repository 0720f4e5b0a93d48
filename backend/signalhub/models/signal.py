"""The `signals` table: graded strategy transitions, unique per (ticker, strategy, interval, bar)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Double, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class Signal(Base):
    """A strategy's state changing into BUY or SELL at one bar, graded with the model's help."""

    __tablename__ = "signals"
    # The dedup key: a restart or re-run over the same bars can never emit the same signal twice.
    __table_args__ = (
        UniqueConstraint("ticker", "strategy", "interval", "bar_ts"),
        Index("ix_signals_bar_ts", "bar_ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticker: Mapped[str] = mapped_column(String(32), ForeignKey("stocks.ticker", ondelete="CASCADE"), index=True)
    strategy: Mapped[str] = mapped_column(String(64), index=True)
    interval: Mapped[str] = mapped_column(String(8))
    bar_ts: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(8))  # BUY / SELL
    grade: Mapped[str] = mapped_column(String(16), index=True)  # STRONG_BUY / BUY / HOLD / SELL / STRONG_SELL
    technical_confidence: Mapped[float] = mapped_column(Double)
    model_direction: Mapped[str | None] = mapped_column(String(8))
    model_confidence: Mapped[float | None] = mapped_column(Double)
    model_predicted_return: Mapped[float | None] = mapped_column(Double)
    model_version: Mapped[str | None] = mapped_column(String(64))
    combined_confidence: Mapped[float] = mapped_column(Double)
    technical_only: Mapped[bool] = mapped_column(default=False)
    price: Mapped[float] = mapped_column(Double)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What is needed to recompute and check the signal: the strategy's parameters and their hash, and a
    # hash of the bars and indicator values (input_start_ts .. bar_ts) the strategy looked at.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params_hash: Mapped[str] = mapped_column(String(64))
    inputs_hash: Mapped[str] = mapped_column(String(64))
    input_start_ts: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
