"""HTTP layer for the signed-in user's portfolio, its transaction ledger and the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.models.portfolio_transaction import TradeSide, TradeSource
from signalhub.portfolios import service
from signalhub.portfolios.schemas import (
    AVERAGE_COST,
    BuyCreate,
    DashboardRead,
    PortfolioRead,
    SellCreate,
    TransactionPage,
    TransactionRead,
)

router = APIRouter(prefix="/api/v1/users", tags=["portfolio"])

ERRORS = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
WRITE_ERRORS = {**ERRORS, 409: {"model": ErrorResponse}}
SourceFilter = Annotated[TradeSource | None, Query(description="Only this source; default: all sources")]


@router.post("/portfolio", response_model=TransactionRead, status_code=status.HTTP_201_CREATED,
             responses=WRITE_ERRORS,
             description="Record a buy in your manual portfolio; an unknown ticker is 404, a future date 422. "
                         + AVERAGE_COST)
def record_buy(session: SessionDep, user: CurrentUser, body: BuyCreate) -> TransactionRead:
    """Record a buy in your manual portfolio (ticker, quantity, price, fees, date)."""
    return service.buy(session, user, body)


@router.put("/portfolio/sell", response_model=TransactionRead, responses=WRITE_ERRORS,
            description="Sell part or all (omit `quantity`) of a manual holding; the realised P&L is stored with "
                        "the sell. Selling more than held in the manual portfolio is refused (422). " + AVERAGE_COST)
def record_sell(session: SessionDep, user: CurrentUser, body: SellCreate) -> TransactionRead:
    """Sell part or all of a manual holding."""
    return service.sell(session, user, body)


@router.get("/portfolio", response_model=PortfolioRead, responses=ERRORS,
            description="Open and closed positions per (ticker, source): manual entries, paper trading and KIS "
                        "fills side by side. " + AVERAGE_COST)
def read_portfolio(session: SessionDep, user: CurrentUser, source: SourceFilter = None) -> PortfolioRead:
    """Your positions, open and closed, each marked by source."""
    return service.portfolio(session, user, source)


@router.get("/portfolio/transactions", response_model=TransactionPage, responses=ERRORS)
def list_transactions(
    session: SessionDep, user: CurrentUser, source: SourceFilter = None,
    ticker: Annotated[str | None, Query(max_length=32)] = None, side: TradeSide | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
) -> TransactionPage:
    """Your transactions, oldest first."""
    return service.list_transactions(session, user, source=source, ticker=ticker, side=side, limit=limit,
                                     offset=offset)


@router.get("/portfolio/transactions/{transaction_id}", response_model=TransactionRead, responses=ERRORS)
def get_transaction(session: SessionDep, user: CurrentUser, transaction_id: int) -> TransactionRead:
    """One of your transactions."""
    return service.get_transaction(session, user, transaction_id)


@router.delete("/portfolio/transactions/{transaction_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response, responses=WRITE_ERRORS,
               description="Only manual transactions can be deleted, and only when every later sell in that "
                           "ticker still sells no more than was held (409 otherwise). The realised P&L of the "
                           "remaining sells is re-derived.")
def delete_transaction(session: SessionDep, user: CurrentUser, transaction_id: int) -> Response:
    """Delete one of your manual transactions."""
    service.delete_transaction(session, user.id, transaction_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/dashboard", response_model=DashboardRead, responses=ERRORS,
            description="Holdings valued at the close of the latest stored daily bar (each names its session "
                        "date), market value, unrealised and realised P&L, return %, allocation by holding and by "
                        "sector, and cash (initial capital − buys + sells − fees). One block per currency: KRW "
                        "and USD are never added together; cash in a currency other than your capital currency "
                        "starts at 0. " + AVERAGE_COST)
def read_dashboard(session: SessionDep, user: CurrentUser, source: SourceFilter = None) -> DashboardRead:
    """Your holdings, P&L, allocation and cash, per currency."""
    return service.dashboard(session, user, source)
