"""All SQL for watchlists; every per-user read is scoped to the user here."""

from __future__ import annotations

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from signalhub.models.stock import Stock
from signalhub.models.watchlist_item import WatchlistItem


def list_for_user(session: Session, user_id: int) -> list[Row[tuple[WatchlistItem, Stock]]]:
    """The user's watchlist with each stock, ordered by ticker."""
    stmt = (select(WatchlistItem, Stock).join(Stock, Stock.ticker == WatchlistItem.ticker)
            .where(WatchlistItem.user_id == user_id).order_by(WatchlistItem.ticker))
    return list(session.execute(stmt).all())


def get_for_user(session: Session, user_id: int, ticker: str) -> WatchlistItem | None:
    """The user's watchlist entry for `ticker`, or None."""
    return session.scalar(select(WatchlistItem).where(WatchlistItem.user_id == user_id,
                                                      WatchlistItem.ticker == ticker))


def add(session: Session, item: WatchlistItem) -> WatchlistItem:
    """Stage a watchlist entry."""
    session.add(item)
    session.flush()
    return item


def delete(session: Session, item: WatchlistItem) -> None:
    """Remove a watchlist entry."""
    session.delete(item)
    session.flush()


def watched_tickers(session: Session, exchange: str | None = None) -> list[str]:
    """Tickers on at least one user's watchlist (optionally on one exchange)."""
    stmt = select(WatchlistItem.ticker).join(Stock, Stock.ticker == WatchlistItem.ticker).distinct()
    if exchange:
        stmt = stmt.where(Stock.exchange == exchange)
    return sorted(session.scalars(stmt))
