"""The `trading_orders` table: what we asked a broker for, kept apart from what the broker reports."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin

PRICE = Numeric(20, 6)
MONEY = Numeric(24, 6)


class TradingOrder(TimestampMixin, Base):
    """One order of one user; `client_order_id` (user, signal, side) is unique, so it is sent at most once."""

    __tablename__ = "trading_orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("side IN ('BUY', 'SELL')", name="side_valid"),
        CheckConstraint("state IN ('PENDING', 'SUBMITTED', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', "
                        "'REJECTED', 'FAILED')", name="state_valid"),
        Index("ix_trading_orders_user_created", "user_id", "created_at"),
        Index("ix_trading_orders_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The idempotency key: "u<user>-s<signal>-<side>" for signal orders, "u<user>-m-<key>" for manual ones.
    client_order_id: Mapped[str] = mapped_column(String(96), unique=True)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"), default=None)
    broker: Mapped[str] = mapped_column(String(16))  # paper, kis_paper, kis_real
    ticker: Mapped[str] = mapped_column(String(32), ForeignKey("stocks.ticker", ondelete="RESTRICT"))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(8))  # MARKET / LIMIT
    quantity: Mapped[int]
    limit_price: Mapped[Decimal | None] = mapped_column(PRICE, default=None)
    reference_price: Mapped[Decimal | None] = mapped_column(PRICE, default=None)
    # Ours: the state machine (trading/states.py) and the totals of the fills we recorded.
    state: Mapped[str] = mapped_column(String(20), default="PENDING")
    filled_quantity: Mapped[int] = mapped_column(default=0)
    avg_fill_price: Mapped[Decimal | None] = mapped_column(PRICE, default=None)
    fees: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    # Submission bookkeeping: the claim that lets exactly one worker call the broker, and unknown outcomes.
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    submit_attempts: Mapped[int] = mapped_column(default=0)
    outcome_unknown: Mapped[bool] = mapped_column(default=False)
    # Shares reported by fill notices so far: each notice's execution is placed at this running total.
    notice_filled_qty: Mapped[int] = mapped_column(default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the broker reports, never overwritten by our own bookkeeping.
    broker_order_no: Mapped[str | None] = mapped_column(String(32), default=None)
    broker_org_no: Mapped[str | None] = mapped_column(String(16), default=None)
    broker_status: Mapped[str | None] = mapped_column(String(32), default=None)
    broker_filled_qty: Mapped[int | None] = mapped_column(default=None)
    broker_avg_price: Mapped[Decimal | None] = mapped_column(PRICE, default=None)
    broker_ordered_at: Mapped[datetime | None] = mapped_column(default=None)
    broker_raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    broker_updated_at: Mapped[datetime | None] = mapped_column(default=None)
