"""Request and response bodies for users."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

from signalhub.core.time import is_valid_timezone
from signalhub.models.user import UserRole

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64,
                                            pattern=r"^[A-Za-z0-9_.-]+$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Currency = Annotated[Literal["KRW", "USD"], BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)]
Capital = Annotated[Decimal, Field(ge=0, le=Decimal("1e15"), max_digits=20, decimal_places=4)]


def _check_timezone(value: str | None) -> str | None:
    if value is not None and not is_valid_timezone(value):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Seoul'")
    return value


class UserCreate(BaseModel):
    """Registration form."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    username: Username
    password: Password
    timezone: str = "Asia/Seoul"
    initial_capital: Capital = Decimal("10000000")
    capital_currency: Currency = "KRW"

    _tz = field_validator("timezone")(_check_timezone)


class UserUpdate(BaseModel):
    """Fields a user may change on their own profile; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    username: Username | None = None
    password: Password | None = None
    timezone: str | None = None
    initial_capital: Capital | None = None
    capital_currency: Currency | None = None

    _tz = field_validator("timezone")(_check_timezone)


# Money as a plain decimal string without trailing zeros, whether it came from the request or the database.
Money = Annotated[Decimal, PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str)]


class UserRead(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: EmailStr
    username: str
    role: UserRole
    is_active: bool
    timezone: str
    initial_capital: Money
    capital_currency: str
    created_at: datetime
