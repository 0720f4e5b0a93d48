"""All SQL for portfolios; every read of a ledger is scoped to its user here."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub.models.portfolio_transaction import PortfolioTransaction, TradeSide, TradeSource
from signalhub.models.stock import Stock
from signalhub.models.user import User

_CHRONOLOGICAL = (PortfolioTransaction.executed_at, PortfolioTransaction.id)


def lock_ledger(session: Session, user_id: int) -> None:
    """Serialise ledger writes of one user (row lock on the user; SQLite serialises writers itself)."""
    # Validation reads the whole chain: two concurrent sells must not both see the same holding.
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def get_for_user(session: Session, user_id: int, transaction_id: int) -> PortfolioTransaction | None:
    """The user's transaction with this id, or None (also when it belongs to someone else)."""
    return session.scalar(select(PortfolioTransaction).where(PortfolioTransaction.id == transaction_id,
                                                             PortfolioTransaction.user_id == user_id))


def get_by_external_ref(session: Session, user_id: int, source: TradeSource,
                        external_ref: str) -> PortfolioTransaction | None:
    """The user's transaction already recorded for this broker reference, or None."""
    return session.scalar(select(PortfolioTransaction).where(
        PortfolioTransaction.user_id == user_id, PortfolioTransaction.source == source,
        PortfolioTransaction.external_ref == external_ref))


def chain(session: Session, user_id: int, ticker: str, source: TradeSource) -> list[PortfolioTransaction]:
    """The user's transactions in one (ticker, source), oldest first."""
    return list(session.scalars(
        select(PortfolioTransaction)
        .where(PortfolioTransaction.user_id == user_id, PortfolioTransaction.ticker == ticker,
               PortfolioTransaction.source == source)
        .order_by(*_CHRONOLOGICAL)))


def list_for_user(session: Session, user_id: int, *, source: TradeSource | None = None,
                  ticker: str | None = None, side: TradeSide | None = None,
                  limit: int | None = None, offset: int = 0) -> tuple[list[PortfolioTransaction], int]:
    """The user's transactions, oldest first, optionally filtered and paged; with the unpaged count."""
    stmt = select(PortfolioTransaction).where(PortfolioTransaction.user_id == user_id)
    if source is not None:
        stmt = stmt.where(PortfolioTransaction.source == source)
    if ticker is not None:
        stmt = stmt.where(PortfolioTransaction.ticker == ticker)
    if side is not None:
        stmt = stmt.where(PortfolioTransaction.side == side)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(*_CHRONOLOGICAL).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt)), total


def stocks_by_ticker(session: Session, tickers: Iterable[str]) -> dict[str, Stock]:
    """The stocks for these tickers (reference data for valuing holdings)."""
    wanted = sorted(set(tickers))
    if not wanted:
        return {}
    return {stock.ticker: stock for stock in session.scalars(select(Stock).where(Stock.ticker.in_(wanted)))}


def add(session: Session, transaction: PortfolioTransaction) -> PortfolioTransaction:
    """Stage a transaction."""
    session.add(transaction)
    session.flush()
    return transaction


def delete(session: Session, transaction: PortfolioTransaction) -> None:
    """Remove a transaction."""
    session.delete(transaction)
    session.flush()
