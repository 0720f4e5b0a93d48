"""HTTP layer for the signed-in user's watchlist."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.watchlists import service
from signalhub.watchlists.schemas import WatchlistAdd, WatchlistEntry

router = APIRouter(prefix="/api/v1/stocks/watchlist", tags=["watchlist"])

ERRORS = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.get("", response_model=list[WatchlistEntry], responses=ERRORS)
def list_watchlist(session: SessionDep, user: CurrentUser) -> list[WatchlistEntry]:
    """Your watchlist."""
    return service.list_entries(session, user)


@router.post("", response_model=WatchlistEntry, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, 409: {"model": ErrorResponse}})
def add_to_watchlist(session: SessionDep, user: CurrentUser, body: WatchlistAdd) -> WatchlistEntry:
    """Follow a ticker the platform knows."""
    return service.add(session, user, body.ticker)


@router.delete("/{ticker}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=ERRORS)
def remove_from_watchlist(session: SessionDep, user: CurrentUser, ticker: str) -> Response:
    """Stop following a ticker."""
    service.remove(session, user, ticker)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
