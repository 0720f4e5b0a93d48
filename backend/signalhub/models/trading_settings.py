"""The `trading_settings` table: per-user opt-in, broker mode, kill switch and risk limits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin

PCT = Numeric(8, 4)
MONEY = Numeric(24, 4)


class TradingSettings(TimestampMixin, Base):
    """Whether a user trades automatically, where (internal paper, KIS paper, KIS real), and the risk limits."""

    __tablename__ = "trading_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    opted_in: Mapped[bool] = mapped_column(default=False)
    # "paper" (default) or "real"; real needs an explicit confirmation and real-environment credentials.
    mode: Mapped[str] = mapped_column(String(8), default="paper")
    kill_switch: Mapped[bool] = mapped_column(default=False)
    # Which signals trade: grades at or above min_grade, on these tickers (empty: the user's watchlist).
    min_grade: Mapped[str] = mapped_column(String(16), default="STRONG")  # STRONG, or ANY (plain BUY/SELL too)
    tickers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Sizing (seed 000): equity x position_size_pct x signal strength, capped by the limits below.
    position_size_pct: Mapped[Decimal] = mapped_column(PCT, default=Decimal("10"))
    # Risk rules, each with a safe default.
    daily_loss_limit_pct: Mapped[Decimal] = mapped_column(PCT, default=Decimal("2"))
    max_symbol_weight_pct: Mapped[Decimal] = mapped_column(PCT, default=Decimal("20"))
    max_position_size_pct: Mapped[Decimal] = mapped_column(PCT, default=Decimal("10"))
    min_cash_reserve_pct: Mapped[Decimal] = mapped_column(PCT, default=Decimal("20"))
    max_orders_per_day: Mapped[int] = mapped_column(default=10)
    failures_before_cooldown: Mapped[int] = mapped_column(default=3)
    failure_cooldown_minutes: Mapped[int] = mapped_column(default=30)
    price_protection_pct: Mapped[Decimal] = mapped_column(PCT, default=Decimal("3"))
    # Equity at the first check of the trading day (KST), the base of the daily loss limit.
    day_start_date: Mapped[date | None] = mapped_column(Date, default=None)
    day_start_equity: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
