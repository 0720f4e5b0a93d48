"""The `broker_accounts` table: each user's KIS credentials, encrypted at rest, with masked hints for display."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class BrokerAccount(TimestampMixin, Base):
    """One user's KIS app key/secret, account (CANO + ACNT_PRDT_CD) and HTS ID; one account per user."""

    __tablename__ = "broker_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # "paper" (모의투자 keys, paper host) or "real" (실전 keys); KIS refuses keys on the other host.
    environment: Mapped[str] = mapped_column(String(8))
    # app_key, app_secret, account_no, product_code, hts_id as one Fernet token: never queried, never returned.
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    app_key_hint: Mapped[str] = mapped_column(String(32))
    account_hint: Mapped[str] = mapped_column(String(32))
    hts_id_hint: Mapped[str] = mapped_column(String(32))
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
