"""All SQL of the trading domain; per-user reads are scoped here, once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from signalhub.models.signal import Signal
from signalhub.models.system_flag import SystemFlag
from signalhub.models.trading_broker_account import BrokerAccount
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_order_fill import TradingOrderFill
from signalhub.models.trading_risk_event import RiskEvent
from signalhub.models.trading_settings import TradingSettings
from signalhub.models.user import User
from signalhub.trading import states

GLOBAL_KILL_SWITCH = "trading.kill_switch"


# --- settings, credentials, flags ------------------------------------------------------------------------
def get_settings_row(session: Session, user_id: int) -> TradingSettings | None:
    """The user's trading settings row, or None before the first change."""
    return session.get(TradingSettings, user_id)


def get_or_create_settings(session: Session, user_id: int) -> TradingSettings:
    """The user's trading settings, created with the safe defaults on first use."""
    row = session.get(TradingSettings, user_id)
    if row is None:
        row = TradingSettings(user_id=user_id, opted_in=False, mode="paper", kill_switch=False, tickers=[])
        session.add(row)
        session.flush()
    return row


def opted_in_settings(session: Session) -> list[TradingSettings]:
    """Settings of every active user who opted in to trading."""
    stmt = (select(TradingSettings).join(User, User.id == TradingSettings.user_id)
            .where(TradingSettings.opted_in.is_(True), User.is_active.is_(True)).order_by(TradingSettings.user_id))
    return list(session.scalars(stmt))


def get_account(session: Session, user_id: int) -> BrokerAccount | None:
    """The user's stored broker credentials, or None."""
    return session.scalar(select(BrokerAccount).where(BrokerAccount.user_id == user_id))


def get_flag(session: Session, key: str) -> SystemFlag | None:
    """A system flag by key."""
    return session.get(SystemFlag, key)


def global_kill_switch_on(session: Session) -> bool:
    """Whether an administrator stopped all trading."""
    flag = session.get(SystemFlag, GLOBAL_KILL_SWITCH)
    return bool(flag and flag.enabled)


def get_signals(session: Session, signal_ids: Sequence[int]) -> list[Signal]:
    """Signals by id, in id order."""
    return list(session.scalars(select(Signal).where(Signal.id.in_(list(signal_ids))).order_by(Signal.id)))


# --- orders --------------------------------------------------------------------------------------------
def list_orders(session: Session, user_id: int, state: str | None, limit: int, offset: int) -> tuple[
        list[TradingOrder], int]:
    """The user's orders, newest first, with the total count."""
    stmt = select(TradingOrder).where(TradingOrder.user_id == user_id)
    if state is not None:
        stmt = stmt.where(TradingOrder.state == state)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(TradingOrder.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def get_order_for_user(session: Session, user_id: int, order_id: int) -> TradingOrder | None:
    """The user's order with this id, or None (another user's order is None too)."""
    return session.scalar(select(TradingOrder).where(TradingOrder.id == order_id, TradingOrder.user_id == user_id))


def get_order(session: Session, order_id: int, *, lock: bool = False) -> TradingOrder | None:
    """Any order by id (workers), optionally locked for update."""
    stmt = select(TradingOrder).where(TradingOrder.id == order_id)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def get_by_client_id(session: Session, client_order_id: str) -> TradingOrder | None:
    """The order with this idempotency key, or None."""
    return session.scalar(select(TradingOrder).where(TradingOrder.client_order_id == client_order_id))


def claim_for_submit(session: Session, order_id: int, now: datetime) -> bool:
    """Atomically claim a PENDING, unclaimed order for one submitter; False if someone else has it."""
    result = session.execute(
        update(TradingOrder)
        .where(TradingOrder.id == order_id, TradingOrder.state == states.PENDING, TradingOrder.claimed_at.is_(None))
        .values(claimed_at=now, submit_attempts=TradingOrder.submit_attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


def release_claim(session: Session, order_id: int, claimed_at: datetime) -> bool:
    """Give back a claim we hold (compare-and-set on the claim time), so the order can be sent again."""
    result = session.execute(
        update(TradingOrder)
        .where(TradingOrder.id == order_id, TradingOrder.state == states.PENDING,
               TradingOrder.claimed_at == claimed_at)
        .values(claimed_at=None, outcome_unknown=False)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


def orders_to_reconcile(session: Session, claimed_before: datetime, limit: int = 500) -> list[TradingOrder]:
    """Orders whose submission outcome is in doubt: unknown outcomes, stale claims, and unclaimed PENDING."""
    stmt = select(TradingOrder).where(or_(
        TradingOrder.outcome_unknown.is_(True),
        (TradingOrder.state == states.PENDING) & (TradingOrder.claimed_at.is_(None)),
        (TradingOrder.state == states.PENDING) & (TradingOrder.claimed_at < claimed_before),
    ))
    return list(session.scalars(stmt.order_by(TradingOrder.id).limit(limit)))


def open_orders(session: Session, user_id: int | None = None) -> list[TradingOrder]:
    """Orders at a broker that may still fill (SUBMITTED / PARTIALLY_FILLED with a broker order number)."""
    stmt = select(TradingOrder).where(TradingOrder.state.in_(states.OPEN), TradingOrder.broker_order_no.is_not(None))
    if user_id is not None:
        stmt = stmt.where(TradingOrder.user_id == user_id)
    return list(session.scalars(stmt.order_by(TradingOrder.user_id, TradingOrder.id)))


def linked_broker_orders(session: Session, user_id: int, broker: str) -> set[str]:
    """Broker order numbers already linked to one of the user's orders at this broker."""
    stmt = select(TradingOrder.broker_order_no).where(TradingOrder.user_id == user_id, TradingOrder.broker == broker,
                                                      TradingOrder.broker_order_no.is_not(None))
    return {no for no in session.scalars(stmt) if no}


def orders_since(session: Session, user_id: int, since: datetime) -> int:
    """How many of the user's orders since `since` count towards the daily limit (risk rejects do not)."""
    stmt = select(func.count()).select_from(TradingOrder).where(
        TradingOrder.user_id == user_id, TradingOrder.created_at >= since, TradingOrder.state != states.REJECTED)
    stmt_broker_rejects = select(func.count()).select_from(TradingOrder).where(
        TradingOrder.user_id == user_id, TradingOrder.created_at >= since, TradingOrder.state == states.REJECTED,
        TradingOrder.reason.like("broker:%"))
    return int(session.scalar(stmt) or 0) + int(session.scalar(stmt_broker_rejects) or 0)


def failures_since(session: Session, user_id: int, since: datetime) -> int:
    """Orders of the user that failed or were refused by the broker since `since`."""
    stmt = select(func.count()).select_from(TradingOrder).where(
        TradingOrder.user_id == user_id, TradingOrder.updated_at >= since,
        or_(TradingOrder.state == states.FAILED,
            (TradingOrder.state == states.REJECTED) & TradingOrder.reason.like("broker:%")))
    return int(session.scalar(stmt) or 0)


# --- fills and risk events -----------------------------------------------------------------------------
def fills_for_order(session: Session, order_id: int) -> list[TradingOrderFill]:
    """An order's fills in execution order."""
    return list(session.scalars(select(TradingOrderFill).where(TradingOrderFill.order_id == order_id)
                                .order_by(TradingOrderFill.cumulative_quantity)))


def list_risk_events(session: Session, user_id: int, *, order_id: int | None, decision: str | None, limit: int,
                     offset: int) -> tuple[list[RiskEvent], int]:
    """The user's risk events, newest first, with the total count."""
    stmt = select(RiskEvent).where(RiskEvent.user_id == user_id)
    if order_id is not None:
        stmt = stmt.where(RiskEvent.order_id == order_id)
    if decision is not None:
        stmt = stmt.where(RiskEvent.decision == decision)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return list(session.scalars(stmt.order_by(RiskEvent.id.desc()).limit(limit).offset(offset))), total


def pending_orders(session: Session, user_id: int, ticker: str) -> list[TradingOrder]:
    """The user's orders on a ticker not yet confirmed at a broker (PENDING, or SUBMITTED without a number)."""
    stmt = select(TradingOrder).where(
        TradingOrder.user_id == user_id, TradingOrder.ticker == ticker,
        or_(TradingOrder.state == states.PENDING,
            (TradingOrder.state == states.SUBMITTED) & TradingOrder.broker_order_no.is_(None)))
    return list(session.scalars(stmt))


def orders_by_broker_no(session: Session, broker: str, order_no: str) -> list[TradingOrder]:
    """Orders at a broker with this broker order number (numbers repeat across accounts), locked."""
    stmt = select(TradingOrder).where(TradingOrder.broker == broker, TradingOrder.broker_order_no == order_no)
    return list(session.scalars(stmt.with_for_update()))
