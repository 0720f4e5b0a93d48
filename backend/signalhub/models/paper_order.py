"""The `paper_orders` table: the internal paper broker's order book (its truth, not ours)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class PaperOrder(TimestampMixin, Base):
    """An order on the simulated exchange; executions accumulate as the market (stored bars) moves."""

    __tablename__ = "paper_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    # The simulated exchange refuses a second order with the same client id, like a FIX venue would.
    client_order_id: Mapped[str] = mapped_column(String(96), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    ticker: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int]
    limit_price: Mapped[Decimal | None] = mapped_column(Numeric(20, 6), default=None)
    filled_quantity: Mapped[int] = mapped_column(default=0)
    avg_price: Mapped[Decimal | None] = mapped_column(Numeric(20, 6), default=None)
    cancelled: Mapped[bool] = mapped_column(default=False)
    # Each bar can fill the order once (volume participation); this is the newest bar already used.
    last_bar_ts: Mapped[datetime | None] = mapped_column(default=None)
    executions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
