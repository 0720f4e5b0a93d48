"""SQL of the KIS real-time consumer: which KRX tickers users' alert rules follow right now."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub.core.calendars import XKRX, exchange_for_ticker
from signalhub.models.alert_rule import AlertRule
from signalhub.models.stock import Stock
from signalhub.models.user import User
from signalhub.models.watchlist_item import WatchlistItem


def realtime_tickers(session: Session) -> list[str]:
    """KRX tickers of active rules of active users, plus the watchlists of those rules that use theirs; only
    tickers known as stocks (bars need one)."""
    rules = session.execute(
        select(AlertRule.user_id, AlertRule.tickers, AlertRule.use_watchlist)
        .join(User, User.id == AlertRule.user_id)
        .where(AlertRule.is_active.is_(True), User.is_active.is_(True)))
    tickers: set[str] = set()
    watchlist_users: set[int] = set()
    for user_id, rule_tickers, use_watchlist in rules:
        tickers.update(t.upper() for t in rule_tickers or [])
        if use_watchlist:
            watchlist_users.add(user_id)
    if watchlist_users:
        tickers.update(session.scalars(select(WatchlistItem.ticker).where(WatchlistItem.user_id.in_(watchlist_users))))
    krx = [t for t in tickers if exchange_for_ticker(t) == XKRX]
    if not krx:
        return []
    return sorted(session.scalars(select(Stock.ticker).where(Stock.ticker.in_(krx))))
