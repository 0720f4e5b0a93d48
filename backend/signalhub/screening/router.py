"""HTTP layer for analysis, screens and correlation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.market_data.providers.base import Interval
from signalhub.market_data.router import ERRORS, End, Start, utc_range
from signalhub.screening import service
from signalhub.screening.schemas import Analysis, Correlation, ScreenResult

router = APIRouter(prefix="/api/v1/stocks", tags=["screening"])

Sort = Annotated[Literal["rsi_14", "stoch_k", "percent_b", "close", "ticker"], Query(description="Sort field")]
Order = Annotated[Literal["asc", "desc"], Query(description="Sort direction")]
Threshold = Annotated[float, Query(ge=0, le=100)]
OptionalThreshold = Annotated[float | None, Query(ge=0, le=100)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/screen/oversold", response_model=ScreenResult, responses=ERRORS)
def screen_oversold(session: SessionDep, _: CurrentUser, interval: Interval = "1d", rsi_below: Threshold = 30,
                    stoch_below: OptionalThreshold = None, below_lower_band: bool = False,
                    sort: Sort = "rsi_14", order: Order = "asc", limit: Limit = 100) -> ScreenResult:
    """Tickers whose latest RSI(14) is below `rsi_below` (and, optionally, %K low / close under the band)."""
    return service.screen(session, "oversold", interval, rsi_below, stoch_below, below_lower_band, sort,
                          order == "desc", limit)


@router.get("/screen/overbought", response_model=ScreenResult, responses=ERRORS)
def screen_overbought(session: SessionDep, _: CurrentUser, interval: Interval = "1d", rsi_above: Threshold = 70,
                      stoch_above: OptionalThreshold = None, above_upper_band: bool = False,
                      sort: Sort = "rsi_14", order: Order = "desc", limit: Limit = 100) -> ScreenResult:
    """Tickers whose latest RSI(14) is above `rsi_above` (and, optionally, %K high / close over the band)."""
    return service.screen(session, "overbought", interval, rsi_above, stoch_above, above_upper_band, sort,
                          order == "desc", limit)


@router.get("/correlation", response_model=Correlation, responses=ERRORS)
def correlation(session: SessionDep, _: CurrentUser,
                tickers: Annotated[str, Query(description="Comma-separated tickers, e.g. AAPL,MSFT,NVDA",
                                              min_length=1, max_length=2000)],
                interval: Interval = "1d", start: Start = None, end: End = None) -> Correlation:
    """Correlation matrix of the tickers' close-to-close returns over their shared bars."""
    start, end = utc_range(start, end)
    symbols = [t for t in (part.strip() for part in tickers.split(",")) if t]
    return service.correlation(session, symbols, interval, start, end)


@router.get("/{ticker}/analysis", response_model=Analysis, responses=ERRORS)
def analysis(session: SessionDep, _: CurrentUser, ticker: str, interval: Interval = "1d") -> Analysis:
    """Latest indicator values with a plain-language reading: overbought/oversold, trend, band position."""
    return service.analyse(session, ticker, interval)
