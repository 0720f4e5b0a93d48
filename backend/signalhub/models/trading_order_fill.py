"""The `trading_order_fills` table: executions of an order, each keyed by the cumulative quantity it reached."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class TradingOrderFill(Base):
    """One execution; polling and notices both report cumulative progress, so (order, cumulative) dedups them."""

    __tablename__ = "trading_order_fills"
    __table_args__ = (
        UniqueConstraint("order_id", "cumulative_quantity"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("trading_orders.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int]
    cumulative_quantity: Mapped[int]
    price: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    commission: Mapped[Decimal] = mapped_column(Numeric(20, 6), default=Decimal(0))
    tax: Mapped[Decimal] = mapped_column(Numeric(20, 6), default=Decimal(0))
    source: Mapped[str] = mapped_column(String(16))  # paper, ccld (daily-ccld polling), notice (WebSocket)
    executed_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
