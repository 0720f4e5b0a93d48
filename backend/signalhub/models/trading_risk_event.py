"""The `risk_events` table: every pre-trade risk decision, approved or rejected, with its numbers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class RiskEvent(Base):
    """One rule's verdict on one order candidate (value against limit)."""

    __tablename__ = "risk_events"
    __table_args__ = (Index("ix_risk_events_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("trading_orders.id", ondelete="SET NULL"), default=None)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"), default=None)
    client_order_id: Mapped[str] = mapped_column(String(96))
    ticker: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    rule: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(8))  # APPROVED / REJECTED
    value: Mapped[Decimal | None] = mapped_column(Numeric(24, 6), default=None)
    limit_value: Mapped[Decimal | None] = mapped_column(Numeric(24, 6), default=None)
    message: Mapped[str] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
