"""SQL of the operations domain: cross-user aggregates for invariants, reports and the admin views."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from signalhub.models.notification import Notification
from signalhub.models.notification_delivery import NotificationDelivery
from signalhub.models.price_bar import PriceBar
from signalhub.models.signal import Signal
from signalhub.models.stock import Stock
from signalhub.models.system_flag import SystemFlag
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_risk_event import RiskEvent
from signalhub.models.user import User


def delivery_outcomes(session: Session, since: datetime) -> dict[str, tuple[int, int]]:
    """Per channel kind, (attempted, failed) deliveries whose last attempt was at or after `since`.

    Failed counts both deliveries failed for good and those waiting to retry after an error.
    """
    failed = case((NotificationDelivery.status == "failed", 1),
                  (NotificationDelivery.last_error.is_not(None) & (NotificationDelivery.status == "queued"), 1),
                  else_=0)
    stmt = (select(NotificationDelivery.channel_kind, func.count(), func.sum(failed))
            .where(NotificationDelivery.attempts > 0, NotificationDelivery.updated_at >= since,
                   NotificationDelivery.status.in_(("sent", "failed", "queued")))
            .group_by(NotificationDelivery.channel_kind))
    return {kind: (int(attempted), int(failures or 0)) for kind, attempted, failures in session.execute(stmt)}


def failed_delivery_count(session: Session, since: datetime) -> int:
    """Deliveries that failed for good since `since`."""
    return session.scalar(select(func.count()).select_from(NotificationDelivery)
                          .where(NotificationDelivery.status == "failed",
                                 NotificationDelivery.updated_at >= since)) or 0


def last_bar_per_exchange(session: Session) -> dict[tuple[str, str], datetime]:
    """Newest bar start per (exchange, interval)."""
    stmt = (select(Stock.exchange, PriceBar.interval, func.max(PriceBar.ts))
            .join(Stock, Stock.ticker == PriceBar.ticker).group_by(Stock.exchange, PriceBar.interval))
    return {(exchange, interval): ts for exchange, interval, ts in session.execute(stmt)}


def signals_received(session: Session, user_id: int, exchange: str, start: datetime,
                     end: datetime) -> list[tuple[Notification, Signal]]:
    """The user's signal notifications created in [start, end) about tickers on `exchange`, oldest first."""
    stmt = (select(Notification, Signal).join(Signal, Signal.id == Notification.signal_id)
            .join(Stock, Stock.ticker == Signal.ticker)
            .where(Notification.user_id == user_id, Stock.exchange == exchange,
                   Notification.created_at >= start, Notification.created_at < end)
            .order_by(Notification.id))
    return [(n, s) for n, s in session.execute(stmt).all()]


def users_with_signals(session: Session, exchange: str, start: datetime, end: datetime) -> set[int]:
    """Users notified of a signal on `exchange` in [start, end)."""
    stmt = (select(Notification.user_id).distinct().join(Signal, Signal.id == Notification.signal_id)
            .join(Stock, Stock.ticker == Signal.ticker)
            .where(Stock.exchange == exchange, Notification.created_at >= start, Notification.created_at < end))
    return set(session.scalars(stmt))


def active_user_ids(session: Session) -> list[int]:
    """Every active user, by id."""
    return list(session.scalars(select(User.id).where(User.is_active.is_(True)).order_by(User.id)))


def list_users(session: Session, limit: int, offset: int) -> tuple[list[User], int]:
    """Every user, oldest first, a page at a time."""
    total = session.scalar(select(func.count()).select_from(User)) or 0
    return list(session.scalars(select(User).order_by(User.id).limit(limit).offset(offset))), total


def get_delivery(session: Session, delivery_id: int) -> NotificationDelivery | None:
    """Any user's delivery by id (admin only)."""
    return session.get(NotificationDelivery, delivery_id)


def requeue_delivery(session: Session, delivery_id: int, now: datetime) -> int:
    """Put a failed delivery back in the queue, due now, with its attempts reset; returns rows changed."""
    stmt = (update(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status == "failed")
            .values(status="queued", attempts=0, next_attempt_at=now, last_error=None, updated_at=now))
    return session.execute(stmt).rowcount or 0


def orders_between(session: Session, user_id: int, exchange: str, start: datetime,
                   end: datetime) -> list[TradingOrder]:
    """The user's orders on `exchange` created or changed in [start, end), oldest first."""
    stmt = (select(TradingOrder).join(Stock, Stock.ticker == TradingOrder.ticker)
            .where(TradingOrder.user_id == user_id, Stock.exchange == exchange,
                   TradingOrder.updated_at >= start, TradingOrder.created_at < end)
            .order_by(TradingOrder.created_at, TradingOrder.id))
    return list(session.scalars(stmt))


def risk_events_between(session: Session, user_id: int, exchange: str, start: datetime,
                        end: datetime) -> list[RiskEvent]:
    """The user's risk decisions on `exchange` tickers in [start, end), oldest first."""
    stmt = (select(RiskEvent).join(Stock, Stock.ticker == RiskEvent.ticker)
            .where(RiskEvent.user_id == user_id, Stock.exchange == exchange,
                   RiskEvent.created_at >= start, RiskEvent.created_at < end)
            .order_by(RiskEvent.created_at, RiskEvent.id))
    return list(session.scalars(stmt))


def tickers_on(session: Session, exchange: str, tickers: list[str]) -> set[str]:
    """Those of `tickers` listed on `exchange`."""
    if not tickers:
        return set()
    return set(session.scalars(select(Stock.ticker).where(Stock.exchange == exchange, Stock.ticker.in_(tickers))))


def system_flags(session: Session) -> list[SystemFlag]:
    """Every platform-wide switch."""
    return list(session.scalars(select(SystemFlag).order_by(SystemFlag.key)))
