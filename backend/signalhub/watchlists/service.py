"""Watchlist rules; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from signalhub.core.errors import ConflictError, NotFoundError
from signalhub.market_data import service as market_service
from signalhub.models.user import User
from signalhub.models.watchlist_item import WatchlistItem
from signalhub.watchlists import repository
from signalhub.watchlists.schemas import WatchlistEntry


def list_entries(session: Session, user: User) -> list[WatchlistEntry]:
    """The user's watchlist."""
    return [WatchlistEntry(ticker=item.ticker, name=stock.name, exchange=stock.exchange, currency=stock.currency,
                           added_at=item.created_at)
            for item, stock in repository.list_for_user(session, user.id)]


def add(session: Session, user: User, ticker: str) -> WatchlistEntry:
    """Follow a known ticker; 404 if unknown, 409 if already followed."""
    stock = market_service.require_stock(session, ticker)
    if repository.get_for_user(session, user.id, stock.ticker) is not None:
        raise ConflictError(f"'{stock.ticker}' is already on your watchlist")
    item = repository.add(session, WatchlistItem(user_id=user.id, ticker=stock.ticker))
    return WatchlistEntry(ticker=stock.ticker, name=stock.name, exchange=stock.exchange, currency=stock.currency,
                          added_at=item.created_at)


def remove(session: Session, user: User, ticker: str) -> None:
    """Stop following a ticker; 404 if it is not on the user's watchlist."""
    symbol = market_service.normalise_ticker(ticker)
    item = repository.get_for_user(session, user.id, symbol)
    if item is None:
        raise NotFoundError(f"'{symbol}' is not on your watchlist")
    repository.delete(session, item)
