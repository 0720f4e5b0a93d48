"""HTTP layer for stocks, prices and price updates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.core.jobs import start_job
from signalhub.core.time import as_utc
from signalhub.market_data import repository, service, tasks
from signalhub.market_data.providers.base import Interval
from signalhub.market_data.schemas import (
    BarRead,
    BatchUpdateRequest,
    DataQuality,
    JobAccepted,
    PricePage,
    StockRead,
    UpdateRequest,
)
from signalhub.models.background_job import BackgroundJob
from signalhub.models.stock import Stock

router = APIRouter(prefix="/api/v1/stocks", tags=["stocks"])

ERRORS = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
Limit = Annotated[int, Query(ge=1, le=5000, description="Page size")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip")]
Start = Annotated[datetime | None, Query(description="Inclusive start (ISO 8601; UTC if no offset)")]
End = Annotated[datetime | None, Query(description="Exclusive end (ISO 8601; UTC if no offset)")]


def utc_range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Normalise a query range to UTC and reject reversed ranges."""
    start, end = (as_utc(start) if start else None), (as_utc(end) if end else None)
    service.check_range(start, end)
    return start, end


def _accepted(job: BackgroundJob) -> JobAccepted:
    return JobAccepted(task_id=job.id, kind=job.kind, status_url=f"/api/v1/tasks/{job.id}")


@router.get("", response_model=list[StockRead], responses=ERRORS)
def list_stocks(session: SessionDep, _: CurrentUser, exchange: str | None = None) -> list[Stock]:
    """List the instruments the platform knows, optionally for one exchange (XKRX, XNYS)."""
    return repository.list_stocks(session, exchange=exchange)


@router.post("/update/{ticker}", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED,
             responses={**ERRORS, 503: {"model": ErrorResponse}})
def update_ticker(session: SessionDep, user: CurrentUser, ticker: str,
                  body: UpdateRequest | None = None) -> JobAccepted:
    """Queue a price update for one ticker; poll the returned task for its result."""
    body = body or UpdateRequest()
    symbol = service.normalise_ticker(ticker)
    start, end = utc_range(body.start, body.end)
    kwargs = {"tickers": [symbol], "interval": body.interval, "start": start and start.isoformat(),
              "end": end and end.isoformat()}
    return _accepted(start_job(session, user.id, tasks.update_prices, "update_prices", kwargs))


@router.post("/update-batch", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED,
             responses={**ERRORS, 503: {"model": ErrorResponse}})
def update_batch(session: SessionDep, user: CurrentUser, body: BatchUpdateRequest) -> JobAccepted:
    """Queue a price update for several tickers, fetched in provider batches."""
    symbols = list(dict.fromkeys(service.normalise_ticker(t) for t in body.tickers))
    start, end = utc_range(body.start, body.end)
    kwargs = {"tickers": symbols, "interval": body.interval, "start": start and start.isoformat(),
              "end": end and end.isoformat()}
    return _accepted(start_job(session, user.id, tasks.update_prices, "update_prices", kwargs))


@router.get("/{ticker}/prices", response_model=PricePage, responses=ERRORS)
def get_prices(session: SessionDep, _: CurrentUser, ticker: str, interval: Interval = "1d",
               start: Start = None, end: End = None, limit: Limit = 500, offset: Offset = 0) -> PricePage:
    """A ticker's bars in [start, end), oldest first, paginated."""
    stock = service.require_stock(session, ticker)
    start, end = utc_range(start, end)
    bars, total = repository.get_bars(session, stock.ticker, interval, start, end, limit, offset)
    return PricePage(ticker=stock.ticker, interval=interval, total=total, limit=limit, offset=offset,
                     items=[BarRead.model_validate(b) for b in bars])


@router.get("/{ticker}/quality", response_model=DataQuality, responses=ERRORS)
def get_quality(session: SessionDep, _: CurrentUser, ticker: str, interval: Interval = "1d",
                start: Start = None, end: End = None) -> DataQuality:
    """Gaps in a ticker's bars against its exchange calendar, and whether its newest bar is late."""
    start, end = utc_range(start, end)
    return DataQuality.model_validate(service.data_quality(session, ticker, interval, start, end))
