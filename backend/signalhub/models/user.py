"""The `users` table: accounts, roles and per-user preferences."""

from __future__ import annotations

import enum
from decimal import Decimal

from sqlalchemy import Enum, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class UserRole(enum.StrEnum):
    """What a user may do: ordinary user or platform administrator."""

    USER = "user"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    """A person using the platform."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(
        Enum(UserRole, name="user_role", native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]),
        default=UserRole.USER,
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    initial_capital: Mapped[Decimal] = mapped_column(Numeric(20, 4), default=Decimal("10000000"))
    capital_currency: Mapped[str] = mapped_column(String(3), default="KRW")
