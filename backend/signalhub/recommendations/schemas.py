"""Response bodies for recommendations and patterns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Recommendation(BaseModel):
    """What to do with a ticker now, from its strongest latest signal."""

    ticker: str
    name: str
    action: str
    grade: str
    confidence: float  # 0-100
    price: float
    target_price: float | None
    stop_price: float | None
    as_of: datetime
    strategies: list[str]
    technical_only: bool
    model_direction: str | None
    reason: str
    signal_id: int


class Pattern(BaseModel):
    """A pattern found across tickers."""

    kind: str
    title: str
    tickers: list[str]
    confidence: float  # 0-100
    as_of: datetime | None
    details: dict[str, float | str | list[str] | None]
