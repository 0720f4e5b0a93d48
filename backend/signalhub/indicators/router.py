"""HTTP layer for stored indicators."""

from __future__ import annotations

from fastapi import APIRouter

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.indicators import repository
from signalhub.indicators.schemas import IndicatorPage, IndicatorRead
from signalhub.market_data import service as market_service
from signalhub.market_data.providers.base import Interval
from signalhub.market_data.router import ERRORS, End, Limit, Offset, Start, utc_range

router = APIRouter(prefix="/api/v1/stocks", tags=["indicators"])


@router.get("/{ticker}/indicators", response_model=IndicatorPage, responses=ERRORS)
def get_indicators(session: SessionDep, _: CurrentUser, ticker: str, interval: Interval = "1d",
                   start: Start = None, end: End = None, limit: Limit = 500, offset: Offset = 0) -> IndicatorPage:
    """A ticker's indicator values in [start, end), oldest first, paginated."""
    stock = market_service.require_stock(session, ticker)
    start, end = utc_range(start, end)
    rows, total = repository.get_indicators(session, stock.ticker, interval, start, end, limit, offset)
    return IndicatorPage(ticker=stock.ticker, interval=interval, total=total, limit=limit, offset=offset,
                         items=[IndicatorRead.model_validate(r) for r in rows])
