"""The internal paper broker: a simulated venue with its own books in the database (seed 004).

Orders fill against the newest stored bar of the ticker: market orders at the close moved against the
trader by PAPER_SLIPPAGE_BPS, limit orders only when that price is within the limit. One bar fills at most
PAPER_VOLUME_PARTICIPATION of its volume, so large orders fill partially over several bars. Commission
(0.015 %) on every fill, sell tax on KRX sells. Each call runs in its own transaction, like a remote venue:
what it accepted stays accepted whatever happens to the caller's transaction.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signalhub.broker.base import (
    BrokerAck,
    BrokerAdapter,
    BrokerBalance,
    BrokerExecution,
    BrokerHolding,
    BrokerOrderStatus,
    BrokerRejectedError,
    OrderRequest,
)
from signalhub.core import calendars
from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.models.paper_account import PaperAccount
from signalhub.models.paper_order import PaperOrder
from signalhub.models.price_bar import PriceBar

KST = calendars.KST
_CENT = Decimal("0.000001")


def fill_costs(ticker: str, side: str, gross: Decimal, commission_rate: Decimal | None = None,
               sell_tax_rate: Decimal | None = None) -> tuple[Decimal, Decimal]:
    """Commission on every fill and the KRX sell tax on sells (rates default to the PAPER_* settings)."""
    settings = get_settings()
    if commission_rate is None:
        commission_rate = Decimal(str(settings.paper_commission_rate))
    if sell_tax_rate is None:
        sell_tax_rate = Decimal(str(settings.paper_sell_tax_rate))
    is_krx = calendars.exchange_for_ticker(ticker) == calendars.XKRX
    return gross * commission_rate, gross * sell_tax_rate if side == "SELL" and is_krx else Decimal(0)


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def latest_bar(session: Session, ticker: str) -> PriceBar | None:
    """The newest stored bar of a ticker, whatever its interval (the reference price of the simulation)."""
    return session.scalar(select(PriceBar).where(PriceBar.ticker == ticker)
                          .order_by(PriceBar.ts.desc(), PriceBar.interval).limit(1))


class PaperBroker(BrokerAdapter):
    """The internal paper broker for one user."""

    name = "paper"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        settings = get_settings()
        self.slippage = Decimal(str(settings.paper_slippage_bps)) / Decimal(10_000)
        self.commission_rate = Decimal(str(settings.paper_commission_rate))
        self.sell_tax_rate = Decimal(str(settings.paper_sell_tax_rate))
        self.participation = settings.paper_volume_participation
        self.initial_cash = Decimal(str(settings.paper_initial_cash))

    # --- account --------------------------------------------------------------------------------------
    def _account(self, session: Session) -> PaperAccount:
        account = session.scalar(select(PaperAccount).where(PaperAccount.user_id == self.user_id)
                                 .with_for_update())
        if account is None:
            try:
                with session.begin_nested():
                    account = PaperAccount(user_id=self.user_id, cash=self.initial_cash, holdings={})
                    session.add(account)
            except IntegrityError:
                # Opened concurrently by another call: use that one.
                account = session.scalar(select(PaperAccount).where(PaperAccount.user_id == self.user_id)
                                         .with_for_update())
                assert account is not None
        return account

    def _open_orders(self, session: Session, ticker: str | None = None) -> list[PaperOrder]:
        stmt = select(PaperOrder).where(PaperOrder.user_id == self.user_id, PaperOrder.cancelled.is_(False),
                                        PaperOrder.filled_quantity < PaperOrder.quantity)
        if ticker is not None:
            stmt = stmt.where(PaperOrder.ticker == ticker)
        return list(session.scalars(stmt.order_by(PaperOrder.id)))

    # --- matching -------------------------------------------------------------------------------------
    def _fill_price(self, order: PaperOrder, close: Decimal) -> Decimal | None:
        price = close * (1 + self.slippage) if order.side == "BUY" else close * (1 - self.slippage)
        if order.limit_price is not None:
            if order.side == "BUY" and price > order.limit_price:
                return None
            if order.side == "SELL" and price < order.limit_price:
                return None
        return _money(price)

    def _match(self, session: Session, order: PaperOrder, account: PaperAccount, now: datetime) -> None:
        bar = latest_bar(session, order.ticker)
        if bar is None or (order.last_bar_ts is not None and bar.ts <= order.last_bar_ts):
            return
        order.last_bar_ts = bar.ts
        price = self._fill_price(order, Decimal(str(bar.close)))
        quantity = min(order.quantity - order.filled_quantity, math.floor(bar.volume * self.participation))
        if price is None or quantity <= 0:
            return
        gross = price * quantity
        commission, tax = (_money(cost) for cost in fill_costs(order.ticker, order.side, gross,
                                                                self.commission_rate, self.sell_tax_rate))
        holdings = dict(account.holdings)
        held = holdings.get(order.ticker, {"quantity": 0, "avg_price": "0"})
        held_qty, held_avg = int(held["quantity"]), Decimal(held["avg_price"])
        if order.side == "BUY":
            account.cash = _money(account.cash - gross - commission)
            new_qty = held_qty + quantity
            holdings[order.ticker] = {"quantity": new_qty,
                                      "avg_price": str(_money((held_avg * held_qty + gross) / new_qty))}
        else:
            account.cash = _money(account.cash + gross - commission - tax)
            if held_qty - quantity > 0:
                holdings[order.ticker] = {"quantity": held_qty - quantity, "avg_price": str(held_avg)}
            else:
                holdings.pop(order.ticker, None)
        account.holdings = holdings  # a new dict, so the JSON column is written
        previous = (order.avg_price or Decimal(0)) * order.filled_quantity
        order.filled_quantity += quantity
        order.avg_price = _money((previous + gross) / order.filled_quantity)
        order.executions = [*order.executions, {
            "quantity": quantity, "price": str(price), "commission": str(commission), "tax": str(tax),
            "executed_at": now.isoformat(), "bar_ts": bar.ts.isoformat()}]

    def match_open_orders(self, session: Session, now: datetime) -> None:
        """Let resting orders trade against bars stored since they last looked."""
        orders = self._open_orders(session)
        if orders:
            account = self._account(session)
            for order in orders:
                self._match(session, order, account, now)
        session.flush()

    # --- adapter --------------------------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> BrokerAck:
        """Accept (idempotently, by client order id) and try to fill at once against the newest bar."""
        try:
            with session_scope() as session:
                existing = self._by_client_id(session, request.client_order_id)
                if existing is not None:
                    return self._ack(existing)
                order = self._accept(session, request)
                return self._ack(order)
        except IntegrityError:
            # A concurrent submit with the same client order id won; the venue keeps one order.
            with session_scope() as session:
                existing = self._by_client_id(session, request.client_order_id)
                if existing is None:
                    raise
                return self._ack(existing)

    def _accept(self, session: Session, request: OrderRequest) -> PaperOrder:
        bar = latest_bar(session, request.ticker)
        if bar is None:
            raise BrokerRejectedError(f"no price for {request.ticker}", code="PAPER_NO_PRICE")
        account = self._account(session)
        if request.side == "BUY":
            price = request.limit_price or Decimal(str(bar.close)) * (1 + self.slippage)
            needed = price * request.quantity * (1 + self.commission_rate)
            if needed > account.cash:
                raise BrokerRejectedError(f"insufficient cash: {_money(needed)} needed, {account.cash} available",
                                          code="PAPER_NO_CASH")
        else:
            held = int(account.holdings.get(request.ticker, {}).get("quantity", 0))
            selling = sum(o.quantity - o.filled_quantity for o in self._open_orders(session, request.ticker)
                          if o.side == "SELL")
            if request.quantity > held - selling:
                raise BrokerRejectedError(f"insufficient holdings: {held - selling} sellable, {request.quantity} "
                                          "ordered", code="PAPER_NO_HOLDINGS")
        order = PaperOrder(order_no=f"P{uuid.uuid4().hex[:15].upper()}", client_order_id=request.client_order_id,
                           user_id=self.user_id, ticker=request.ticker, side=request.side,
                           quantity=request.quantity, limit_price=request.limit_price, filled_quantity=0,
                           cancelled=False, executions=[])
        session.add(order)
        session.flush()
        self._match(session, order, account, utcnow())
        session.flush()
        return order

    def _by_client_id(self, session: Session, client_order_id: str) -> PaperOrder | None:
        return session.scalar(select(PaperOrder).where(PaperOrder.client_order_id == client_order_id,
                                                       PaperOrder.user_id == self.user_id))

    @staticmethod
    def _ack(order: PaperOrder) -> BrokerAck:
        return BrokerAck(order_no=order.order_no, org_no="PAPER", accepted_at=order.created_at)

    def cancel(self, *, order_no: str, org_no: str, ticker: str, quantity: int) -> BrokerAck:
        """Cancel the unfilled remainder."""
        with session_scope() as session:
            order = session.scalar(select(PaperOrder).where(PaperOrder.order_no == order_no,
                                                            PaperOrder.user_id == self.user_id))
            if order is None:
                raise BrokerRejectedError(f"no order {order_no}", code="PAPER_NO_ORDER")
            if order.filled_quantity >= order.quantity:
                raise BrokerRejectedError(f"order {order_no} is already filled", code="PAPER_FILLED")
            order.cancelled = True
            return BrokerAck(order_no=order.order_no, org_no=org_no, accepted_at=utcnow())

    def daily_orders(self, day: date, *, ticker: str | None = None) -> list[BrokerOrderStatus]:
        """The day's orders (KST), after resting orders had their chance against new bars."""
        with session_scope() as session:
            self.match_open_orders(session, utcnow())
            start = datetime(day.year, day.month, day.day, tzinfo=KST)
            end = datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=KST)
            stmt = select(PaperOrder).where(PaperOrder.user_id == self.user_id, PaperOrder.created_at >= start,
                                            PaperOrder.created_at < end)
            if ticker is not None:
                stmt = stmt.where(PaperOrder.ticker == ticker)
            return [self._status(o) for o in session.scalars(stmt.order_by(PaperOrder.id))]

    def find_submitted(self, request: OrderRequest, since: datetime,
                       exclude: frozenset[str] = frozenset()) -> BrokerOrderStatus | None:
        """The venue knows our client order id, so an unknown outcome is resolved exactly."""
        with session_scope() as session:
            self.match_open_orders(session, utcnow())
            order = self._by_client_id(session, request.client_order_id)
            return None if order is None else self._status(order)

    def order_status(self, order_no: str) -> BrokerOrderStatus | None:
        """One order by number (any day)."""
        with session_scope() as session:
            self.match_open_orders(session, utcnow())
            order = session.scalar(select(PaperOrder).where(PaperOrder.order_no == order_no,
                                                            PaperOrder.user_id == self.user_id))
            return None if order is None else self._status(order)

    @staticmethod
    def _status(order: PaperOrder) -> BrokerOrderStatus:
        executions = tuple(
            BrokerExecution(quantity=int(e["quantity"]), price=Decimal(e["price"]),
                            executed_at=datetime.fromisoformat(e["executed_at"]),
                            commission=Decimal(e["commission"]), tax=Decimal(e["tax"]))
            for e in order.executions)
        remaining = 0 if order.cancelled else order.quantity - order.filled_quantity
        raw: dict[str, Any] = {"order_no": order.order_no, "client_order_id": order.client_order_id,
                               "filled_quantity": order.filled_quantity, "cancelled": order.cancelled}
        return BrokerOrderStatus(order_no=order.order_no, org_no="PAPER", ticker=order.ticker, side=order.side,
                                 ordered_qty=order.quantity, filled_qty=order.filled_quantity,
                                 remaining_qty=remaining, avg_price=order.avg_price or Decimal(0),
                                 cancelled=order.cancelled, ordered_at=order.created_at, executions=executions,
                                 raw=raw)

    def balance(self) -> BrokerBalance:
        """Simulated cash and holdings."""
        with session_scope() as session:
            account = self._account(session)
            holdings = tuple(BrokerHolding(ticker=t, quantity=int(h["quantity"]), avg_price=Decimal(h["avg_price"]))
                             for t, h in sorted(account.holdings.items()))
            return BrokerBalance(cash=account.cash, holdings=holdings)
