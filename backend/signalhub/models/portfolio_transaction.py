"""The `portfolio_transactions` table: the ledger of every buy and sell each user made, per source."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base

# Precision of the money columns: quantities allow fractional shares, amounts keep sub-cent exactness
# so average-cost arithmetic never loses money to rounding in storage.
QUANTITY = Numeric(24, 8)
PRICE = Numeric(20, 6)
AMOUNT = Numeric(28, 8)


class TradeSide(enum.StrEnum):
    """Direction of a trade."""

    BUY = "BUY"
    SELL = "SELL"


class TradeSource(enum.StrEnum):
    """Where a trade comes from; positions are kept apart per source."""

    MANUAL = "manual"
    PAPER = "paper"
    KIS_PAPER = "kis_paper"
    KIS_REAL = "kis_real"


def _values(enum_class: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_class]


class PortfolioTransaction(Base):
    """One executed trade of one user; a sell stores its realised P&L (average cost) when recorded."""

    __tablename__ = "portfolio_transactions"
    __table_args__ = (
        # A broker fill delivered twice (retry, reconciliation) is stored once.
        UniqueConstraint("user_id", "source", "external_ref"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("fees >= 0", name="fees_not_negative"),
        CheckConstraint("side IN ('BUY', 'SELL')", name="side_valid"),
        CheckConstraint("source IN ('manual', 'paper', 'kis_paper', 'kis_real')", name="source_valid"),
        Index("ix_portfolio_transactions_ledger", "user_id", "ticker", "source", "executed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # RESTRICT: a ledger that lost its instrument could no longer be valued or replayed.
    ticker: Mapped[str] = mapped_column(String(32), ForeignKey("stocks.ticker", ondelete="RESTRICT"))
    side: Mapped[TradeSide] = mapped_column(
        Enum(TradeSide, name="trade_side", native_enum=False, length=4, values_callable=_values))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    price: Mapped[Decimal] = mapped_column(PRICE)
    fees: Mapped[Decimal] = mapped_column(PRICE, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    executed_at: Mapped[datetime]
    source: Mapped[TradeSource] = mapped_column(
        Enum(TradeSource, name="trade_source", native_enum=False, length=16, values_callable=_values))
    external_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    realised_pnl: Mapped[Decimal | None] = mapped_column(AMOUNT, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
