"""The `alert_rules` table: which signals a user wants to hear about, where and when."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class AlertRule(TimestampMixin, Base):
    """Tickers (or the watchlist), strategies, minimum grade, channels, quiet hours, cooldown, digest."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    tickers: Mapped[list[str]] = mapped_column(JSON, default=list)
    use_watchlist: Mapped[bool] = mapped_column(default=False)
    strategies: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every strategy
    actions: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["BUY", "SELL"])
    min_grade: Mapped[str] = mapped_column(String(8), default="BUY")  # HOLD, BUY (plain or strong), STRONG
    channel_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    in_app: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5), default=None)  # "22:00", user's time zone
    quiet_end: Mapped[str | None] = mapped_column(String(5), default=None)  # "07:30"
    cooldown_minutes: Mapped[int] = mapped_column(default=0)
    digest_minutes: Mapped[int | None] = mapped_column(default=None)  # None: send each signal at once
    is_active: Mapped[bool] = mapped_column(default=True)
