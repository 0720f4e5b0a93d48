"""The `notification_channels` table: the ways each user can be reached (config encrypted at rest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class NotificationChannel(TimestampMixin, Base):
    """One e-mail address, webhook, push subscription, Telegram chat, Slack webhook or phone of a user."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # email, webpush, webhook, telegram, slack, sms
    name: Mapped[str] = mapped_column(String(100))
    # The whole per-user config (addresses, URLs, secrets) as a Fernet token: none of it is needed in queries.
    config_encrypted: Mapped[str] = mapped_column(Text)
    destination_hint: Mapped[str] = mapped_column(String(200))  # masked, for display
    is_active: Mapped[bool] = mapped_column(default=True)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    last_failure_at: Mapped[datetime | None] = mapped_column(default=None)
