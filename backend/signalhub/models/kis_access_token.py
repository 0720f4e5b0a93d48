"""The `kis_access_tokens` table: the KIS access token of each app key, shared by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class KisAccessToken(TimestampMixin, Base):
    """One app key's cached token (encrypted), its KST-derived expiry, issuance throttle and issuing lease."""

    __tablename__ = "kis_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of "<paper|real>:<app key>": the app key itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    env: Mapped[str] = mapped_column(String(8))  # "real" or "paper"
    token_encrypted: Mapped[str | None] = mapped_column(Text, default=None)  # core.crypto.encrypt_json
    expires_at: Mapped[datetime | None] = mapped_column(default=None)  # from access_token_token_expired (KST)
    issued_at: Mapped[datetime | None] = mapped_column(default=None)
    # KIS issues one token a minute per key: no issuance request before this time.
    next_issue_at: Mapped[datetime | None] = mapped_column(default=None)
    # The process currently issuing (a lease, so a crashed issuer blocks the others only until lock_until).
    lock_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lock_until: Mapped[datetime | None] = mapped_column(default=None)
