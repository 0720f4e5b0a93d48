"""Request and response bodies for stocks and prices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from signalhub.market_data.providers.base import Interval

TickerList = Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(min_length=1,
                                                                                         max_length=500)]


class StockRead(BaseModel):
    """A known instrument."""

    model_config = ConfigDict(from_attributes=True)

    ticker: str
    name: str
    exchange: str
    currency: str
    sector: str | None
    industry: str | None
    market_cap: Decimal | None


class BarRead(BaseModel):
    """One OHLCV bar; `ts` is the bar start in UTC."""

    model_config = ConfigDict(from_attributes=True)

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    source: str


class PricePage(BaseModel):
    """A page of a ticker's bars, oldest first."""

    ticker: str
    interval: str
    total: int
    limit: int
    offset: int
    items: list[BarRead]


class UpdateRequest(BaseModel):
    """Which range to fetch; by default, from the newest stored bar to now."""

    model_config = ConfigDict(extra="forbid")

    interval: Interval = "1d"
    start: datetime | None = None
    end: datetime | None = None


class BatchUpdateRequest(UpdateRequest):
    """Several tickers fetched in one provider batch."""

    tickers: TickerList


class JobAccepted(BaseModel):
    """A queued background job; poll `status_url` for its state."""

    task_id: str
    kind: str
    status_url: str


class GapRead(BaseModel):
    """A run of bars the calendar expects but storage lacks (`missing`), or has but the calendar does not."""

    kind: Literal["missing", "unexpected"]
    start: datetime
    end: datetime
    count: int
    before: datetime | None
    after: datetime | None


class FreshnessRead(BaseModel):
    """Whether the newest bar is as recent as the exchange calendar says it should be now."""

    stale: bool
    market_open: bool
    last_bar: datetime | None
    expected_last_bar: datetime | None
    overdue_since: datetime | None
    lag_seconds: float


class DataQuality(BaseModel):
    """Gap report and freshness of one ticker's stored bars."""

    ticker: str
    exchange: str
    interval: str
    bars: int
    first: datetime | None
    last: datetime | None
    calendar_sessions: int | None = None
    missing_runs: int
    missing_bars: int
    unexpected_runs: int
    unexpected_bars: int
    largest_missing_run: int
    last_missing: GapRead | None
    missing: list[GapRead]
    unexpected: list[GapRead]
    truncated: bool
    freshness: FreshnessRead
