"""The `paper_accounts` table: the internal paper broker's simulated cash and holdings per user."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class PaperAccount(TimestampMixin, Base):
    """A user's simulated cash and holdings ({ticker: {"quantity": int, "avg_price": str}})."""

    __tablename__ = "paper_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    cash: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    holdings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
