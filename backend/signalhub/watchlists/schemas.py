"""Bodies of the watchlist endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class WatchlistAdd(BaseModel):
    """A ticker to follow."""

    model_config = ConfigDict(extra="forbid")

    ticker: str = Field(min_length=1, max_length=32)


class WatchlistEntry(BaseModel):
    """A followed ticker."""

    ticker: str
    name: str
    exchange: str
    currency: str
    added_at: datetime
