"""The `notification_messages` table: rendered content, stored once and shared by every notification that says it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.core.time import utcnow
from signalhub.models.base import Base


class NotificationMessage(Base):
    """A title, a plain-text body and data (payload, HTML): one signal in one time zone, a digest or a notice."""

    __tablename__ = "notification_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "signal:42:zone:Asia/Seoul": a re-run of a fan-out finds the message it stored, not a second copy.
    key: Mapped[str] = mapped_column(String(250), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
