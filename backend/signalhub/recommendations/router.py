"""HTTP layer for recommendations and patterns."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.market_data import service as market_service
from signalhub.market_data.providers.base import Interval
from signalhub.market_data.router import ERRORS
from signalhub.recommendations import service
from signalhub.recommendations.schemas import Pattern, Recommendation

router = APIRouter(prefix="/api/v1/ai", tags=["recommendations"])

PatternKind = Literal["oversold_cluster", "overbought_cluster", "band_squeeze", "correlation_shift"]


@router.get("/recommendations", response_model=list[Recommendation], responses=ERRORS)
def recommendations(session: SessionDep, _: CurrentUser, interval: Interval = "1d",
                    action: Literal["BUY", "SELL"] | None = None,
                    min_confidence: Annotated[float, Query(ge=0, le=100)] = 0,
                    ticker: str | None = None,
                    sort: Literal["confidence", "ticker", "as_of"] = "confidence",
                    order: Literal["asc", "desc"] = "desc",
                    limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[Recommendation]:
    """Per ticker: action, confidence 0-100, ATR-based target and stop, and why, from its latest signals."""
    symbol = market_service.normalise_ticker(ticker) if ticker else None
    return service.recommendations(session, interval, action, min_confidence, symbol, sort, order == "desc", limit)


@router.get("/patterns", response_model=list[Pattern], responses=ERRORS)
def patterns(session: SessionDep, _: CurrentUser, interval: Interval = "1d",
             kind: Annotated[list[PatternKind] | None, Query(description="Repeat to allow several")] = None
             ) -> list[Pattern]:
    """Patterns across tickers: oversold/overbought clusters, band squeezes, correlation shifts."""
    return service.patterns(session, interval, set(kind) if kind else None)
