"""Request and response bodies for alert rules."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM in your time zone")]
MinGrade = Literal["HOLD", "BUY", "STRONG"]
TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.\-=^]{0,31}$")


class _RuleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tickers: list[str] | None = Field(default=None, max_length=500)
    use_watchlist: bool | None = None
    strategies: list[str] | None = Field(default=None, max_length=20)
    actions: list[Literal["BUY", "SELL"]] | None = Field(default=None, min_length=1)
    min_grade: MinGrade | None = Field(default=None, description="HOLD: every signal; BUY: BUY/SELL or "
                                                                 "stronger; STRONG: only STRONG_BUY/STRONG_SELL")
    channel_ids: list[int] | None = Field(default=None, max_length=20)
    in_app: bool | None = None
    quiet_start: HHMM | None = None
    quiet_end: HHMM | None = None
    cooldown_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)
    digest_minutes: int | None = Field(default=None, ge=5, le=24 * 60)
    is_active: bool | None = None

    @field_validator("tickers")
    @classmethod
    def _tickers(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for raw in value:
            ticker = raw.strip().upper()
            if not TICKER.match(ticker):
                raise ValueError(f"'{raw}' is not a valid ticker symbol")
            out.append(ticker)
        return sorted(set(out))


class AlertRuleCreate(_RuleFields):
    """A new rule; give tickers or use_watchlist=true."""

    name: str = Field(min_length=1, max_length=100)
    tickers: list[str] = Field(default_factory=list, max_length=500)
    use_watchlist: bool = False
    strategies: list[str] = Field(default_factory=list, max_length=20)
    actions: list[Literal["BUY", "SELL"]] = Field(default_factory=lambda: ["BUY", "SELL"], min_length=1)
    min_grade: MinGrade = "BUY"
    channel_ids: list[int] = Field(default_factory=list, max_length=20)
    in_app: bool = True
    cooldown_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    is_active: bool = True


class AlertRuleUpdate(_RuleFields):
    """Fields to change; omitted ones stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=100)


class AlertRuleRead(BaseModel):
    """A rule as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    tickers: list[str]
    use_watchlist: bool
    strategies: list[str]
    actions: list[str]
    min_grade: str
    channel_ids: list[int]
    in_app: bool
    quiet_start: str | None
    quiet_end: str | None
    cooldown_minutes: int
    digest_minutes: int | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
