"""The `signal_outcomes` table: a signal's realised forward return at 1, 5 or 20 trading days."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class SignalOutcome(Base):
    """How a BUY/SELL signal did `horizon` daily bars after its session's close (written once, never updated)."""

    __tablename__ = "signal_outcomes"
    # Once per (signal, horizon): the nightly evaluation can re-run any number of times.
    __table_args__ = (
        UniqueConstraint("signal_id", "horizon"),
        Index("ix_signal_outcomes_horizon_base_ts", "horizon", "base_ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"))
    horizon: Mapped[int]  # trading days (daily bars) after the base bar: 1, 5 or 20
    # The daily bar the return is measured from (the signal's own bar, or its session's for intraday signals)
    # and the one `horizon` bars later.
    base_ts: Mapped[datetime]
    base_close: Mapped[float] = mapped_column(Double)
    exit_ts: Mapped[datetime]
    exit_close: Mapped[float] = mapped_column(Double)
    forward_return: Mapped[float] = mapped_column(Double)  # exit_close / base_close - 1
    signal_return: Mapped[float] = mapped_column(Double)  # forward_return for BUY, -forward_return for SELL
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)
