"""The `notifications` table: one row per event and user (the in-app inbox), unique by dedup key."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ForeignKey, Index, ScalarSelect, String, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column, relationship

from signalhub.core.time import utcnow
from signalhub.models.base import Base
from signalhub.models.notification_message import NotificationMessage


def _from_message(column: InstrumentedAttribute[str]) -> hybrid_property[str]:
    """A notification attribute read from its message: the value on an instance, a subquery in SQL."""

    def value(notification: Notification) -> str:
        return cast(str, getattr(notification.message, column.key))

    def expression(cls: type[Notification]) -> ScalarSelect[str]:
        return select(column).where(NotificationMessage.id == cls.message_id).scalar_subquery()

    return hybrid_property(value, expr=expression)


class Notification(Base):
    """What a user was told: a signal, a digest of signals, or a notice about their account."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),
                      Index("ix_notifications_rule_ticker", "rule_id", "ticker", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # e.g. "signal:42:user:7": processing a signal twice, or a redelivered task, cannot notify twice.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # signal, digest, notice
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"), default=None)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"), default=None)
    ticker: Mapped[str | None] = mapped_column(String(32), default=None)
    # What it says lives once per distinct message: 10,000 users told of one signal share a handful of rows.
    # No index: messages are reached from notifications, never the other way round, and are never deleted.
    message_id: Mapped[int] = mapped_column(ForeignKey("notification_messages.id"))
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[NotificationMessage] = relationship(lazy="joined", innerjoin=True)
    # The message's title and body read as the notification's own, in Python and in queries alike.
    title = _from_message(NotificationMessage.title)
    body = _from_message(NotificationMessage.body)

    @property
    def data(self) -> dict[str, Any]:
        """The message's data: `payload` (structured) and `html`."""
        return self.message.data
