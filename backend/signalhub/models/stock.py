"""The `stocks` table: instruments the platform knows about."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class Stock(TimestampMixin, Base):
    """A listed instrument, keyed by its provider symbol (e.g. `AAPL`, `005930.KS`)."""

    __tablename__ = "stocks"

    ticker: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    exchange: Mapped[str] = mapped_column(String(8), index=True)  # calendar code: XKRX, XNYS
    currency: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str | None] = mapped_column(String(100), default=None)
    industry: Mapped[str | None] = mapped_column(String(100), default=None)
    market_cap: Mapped[Decimal | None] = mapped_column(Numeric(24, 2), default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
