"""Trading rules: credentials, opt-in, settings, kill switches, sizing, risk decisions and fills; never commits."""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signalhub.broker.adapters import BROKERS, KIS_PAPER, KIS_REAL, PAPER
from signalhub.broker.base import BrokerAdapter, BrokerExecution, BrokerOrderStatus, OrderRequest
from signalhub.broker.paper import fill_costs, latest_bar
from signalhub.core import calendars, metrics
from signalhub.core.config import get_settings
from signalhub.core.crypto import decrypt_json, encrypt_json
from signalhub.core.errors import ConflictError, NotFoundError, UnprocessableError
from signalhub.market_data import repository as market_repository
from signalhub.models.signal import Signal
from signalhub.models.system_flag import SystemFlag
from signalhub.models.trading_broker_account import BrokerAccount
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_order_fill import TradingOrderFill
from signalhub.models.trading_risk_event import RiskEvent
from signalhub.models.trading_settings import TradingSettings
from signalhub.models.user import User
from signalhub.notifications.service import notify_admins, notify_user
from signalhub.portfolios import service as portfolio_service
from signalhub.trading import repository, risk, states
from signalhub.trading.schemas import (
    CredentialsPut,
    GlobalKillSwitch,
    KillSwitch,
    ManualOrderCreate,
    OptIn,
    SettingsUpdate,
)
from signalhub.watchlists import repository as watchlist_repository

KST = calendars.KST
_PRICE_STEP = Decimal("0.000001")
GRADE_FACTOR = {"STRONG_BUY": Decimal("1"), "STRONG_SELL": Decimal("1"), "BUY": Decimal("0.6"),
                "SELL": Decimal("0.6")}


def to_price(value: Decimal) -> Decimal:
    """A price at the stored precision (6 decimals)."""
    return value.quantize(_PRICE_STEP, rounding=ROUND_HALF_UP)


# --- credentials ---------------------------------------------------------------------------------------
def mask(value: str, keep: int = 4) -> str:
    """Show only the last `keep` characters (fewer for short values) behind at most 8 stars (length hidden)."""
    keep = min(keep, len(value) // 3)
    stars = "*" * min(8, len(value) - keep)
    return stars + value[len(value) - keep:] if keep else stars


def put_credentials(session: Session, user: User, data: CredentialsPut) -> BrokerAccount:
    """Store (or replace) the user's KIS credentials, encrypted; only masked hints stay readable."""
    secret = {"app_key": data.app_key, "app_secret": data.app_secret, "account_no": data.account_no,
              "product_code": data.product_code, "hts_id": data.hts_id}
    settings = repository.get_settings_row(session, user.id)
    if (settings is not None and settings.opted_in and settings.mode == "real" and data.environment != "real"):
        # Real trading was confirmed for real keys; other keys would silently change where orders go.
        raise ConflictError("environment: opt out of real trading before replacing real credentials")
    account = repository.get_account(session, user.id)
    if account is None:
        account = BrokerAccount(user_id=user.id)
    account.environment = data.environment
    account.credentials_encrypted = encrypt_json(secret)
    account.app_key_hint = mask(data.app_key)
    account.account_hint = mask(f"{data.account_no}-{data.product_code}", 4)
    account.hts_id_hint = mask(data.hts_id, 2) if data.hts_id else ""
    session.add(account)
    session.flush()
    return account


def delete_credentials(session: Session, user: User) -> None:
    """Forget the user's KIS credentials; automatic trading falls back to the internal paper broker."""
    account = repository.get_account(session, user.id)
    if account is None:
        raise NotFoundError("No broker credentials stored")
    settings = repository.get_settings_row(session, user.id)
    if settings is not None and settings.opted_in and settings.mode == "real":
        raise ConflictError("mode: opt out of real trading before deleting the credentials it uses")
    session.delete(account)
    session.flush()


def credentials_for(session: Session, user_id: int) -> dict[str, str] | None:
    """The user's decrypted KIS credentials (workers only; never sent to a client)."""
    account = repository.get_account(session, user_id)
    return None if account is None else decrypt_json(account.credentials_encrypted)


# --- opt-in and settings -------------------------------------------------------------------------------
def broker_for(settings: TradingSettings, account: BrokerAccount | None) -> str:
    """Where the user's new orders go: KIS real, KIS paper with paper keys, otherwise the internal paper broker."""
    if settings.mode == "real":
        return KIS_REAL
    return KIS_PAPER if account is not None and account.environment == "paper" else PAPER


def opt_in(session: Session, user: User, data: OptIn) -> TradingSettings:
    """Turn automatic trading on: paper by default; real only with confirmation and real credentials."""
    settings = repository.get_or_create_settings(session, user.id)
    if data.mode == "real":
        if not data.confirm_real_trading:
            raise UnprocessableError("confirm_real_trading: must be true to trade with real money")
        account = repository.get_account(session, user.id)
        if account is None or account.environment != "real":
            raise UnprocessableError("mode: real trading needs credentials stored with environment 'real'")
    settings.opted_in = True
    settings.mode = data.mode
    session.flush()
    return settings


def opt_out(session: Session, user: User) -> TradingSettings:
    """Turn automatic trading off (orders already at the broker keep being tracked) and leave real mode."""
    settings = repository.get_or_create_settings(session, user.id)
    settings.opted_in = False
    settings.mode = "paper"
    session.flush()
    return settings


def get_settings_for(session: Session, user: User) -> TradingSettings:
    """The user's trading settings (defaults if never changed)."""
    return repository.get_or_create_settings(session, user.id)


def update_settings(session: Session, user: User, data: SettingsUpdate) -> TradingSettings:
    """Change risk limits and signal filters (validated by the schema)."""
    settings = repository.get_or_create_settings(session, user.id)
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise UnprocessableError(f"{field}: may not be null")
        setattr(settings, field, value)
    session.flush()
    return settings


def set_kill_switch(session: Session, user: User, data: KillSwitch) -> TradingSettings:
    """The user's own kill switch: no new orders while on."""
    settings = repository.get_or_create_settings(session, user.id)
    settings.kill_switch = data.enabled
    session.flush()
    return settings


def set_global_kill_switch(session: Session, admin: User, data: GlobalKillSwitch) -> SystemFlag:
    """The administrators' kill switch: no new orders for anyone while on; admins are told."""
    flag = repository.get_flag(session, repository.GLOBAL_KILL_SWITCH)
    if flag is None:
        flag = SystemFlag(key=repository.GLOBAL_KILL_SWITCH)
        session.add(flag)
    flag.enabled, flag.reason, flag.updated_by = data.enabled, data.reason, admin.id
    session.flush()
    state = "ON" if data.enabled else "OFF"
    notify_admins(session, dedup_key=f"trading-kill-switch:{uuid.uuid4().hex}",
                  title=f"Global trading kill switch {state}",
                  body=f"{admin.username} turned the global kill switch {state}: {data.reason or 'no reason given'}")
    return flag


# --- prices, context, sizing ---------------------------------------------------------------------------
def reference_price(session: Session, ticker: str) -> Decimal | None:
    """The newest stored close of the ticker (the reference for sizing, price protection and paper fills)."""
    bar = latest_bar(session, ticker)
    return None if bar is None else to_price(Decimal(str(bar.close)))


def kst_day_start(now: datetime) -> datetime:
    """Midnight KST of `now`'s Korean date, as an aware datetime."""
    local = now.astimezone(KST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Exposure:
    """The account as the broker reports it, valued at reference prices."""

    equity: Decimal
    cash: Decimal
    holdings: dict[str, int]


def exposure(session: Session, adapter: BrokerAdapter) -> Exposure:
    """Cash, holdings and equity (cash + holdings at the newest close, else at their average cost)."""
    balance = adapter.balance()
    equity = balance.cash
    for holding in balance.holdings:
        mark = reference_price(session, holding.ticker) or holding.avg_price
        equity += mark * holding.quantity
    return Exposure(equity=equity, cash=balance.cash, holdings={h.ticker: h.quantity for h in balance.holdings})


def _sellable(session: Session, user_id: int, broker: str, ticker: str, held: int) -> int:
    selling = sum(o.quantity - o.filled_quantity for o in repository.open_orders(session, user_id)
                  if o.broker == broker and o.ticker == ticker and o.side == "SELL")
    pending = sum(o.quantity for o in repository.pending_orders(session, user_id, ticker) if o.side == "SELL")
    return max(0, held - selling - pending)


def build_context(session: Session, settings: TradingSettings, broker: str, ticker: str, account: Exposure,
                  now: datetime) -> risk.Context:
    """Gather the numbers the rules need; the first check of a KST day fixes the day's starting equity."""
    today = now.astimezone(KST).date()
    if settings.day_start_date != today or settings.day_start_equity is None:
        settings.day_start_date, settings.day_start_equity = today, to_price(account.equity)
    held = account.holdings.get(ticker, 0)
    cooldown_since = now - timedelta(minutes=settings.failure_cooldown_minutes)
    return risk.Context(
        now=now, global_kill_switch=repository.global_kill_switch_on(session), equity=account.equity,
        cash=account.cash, position_quantity=held,
        sellable_quantity=_sellable(session, settings.user_id, broker, ticker, held),
        day_start_equity=settings.day_start_equity, orders_today=repository.orders_since(
            session, settings.user_id, kst_day_start(now)),
        recent_failures=repository.failures_since(session, settings.user_id, cooldown_since))


def size_for_signal(signal: Signal, settings: TradingSettings, ctx: risk.Context, price: Decimal) -> tuple[
        int, dict[str, str]]:
    """Shares to trade for a signal (seed 000): equity x position size x strength, within the risk limits.

    Buys are capped by the per-order size, the per-symbol weight and the cash reserve, so a sized order
    passes those rules; sells close the whole sellable position."""
    if signal.action == "SELL":
        return ctx.sellable_quantity, {"sellable": str(ctx.sellable_quantity)}
    strength = Decimal(str(signal.combined_confidence)) * GRADE_FACTOR.get(signal.grade, Decimal(0))
    hundred = Decimal(100)
    target = ctx.equity * settings.position_size_pct / hundred * strength
    caps = {
        "max_position_size": ctx.equity * settings.max_position_size_pct / hundred,
        "max_symbol_weight": ctx.equity * settings.max_symbol_weight_pct / hundred - price * ctx.position_quantity,
        "min_cash_reserve": ctx.cash - ctx.equity * settings.min_cash_reserve_pct / hundred,
    }
    value = min(target, *caps.values())
    quantity = max(0, math.floor(value / price)) if price > 0 else 0
    numbers = {"strength": str(strength), "target_value": str(to_price(target)), "sized_value": str(to_price(value)),
               **{f"cap_{k}": str(to_price(v)) for k, v in caps.items()}}
    return quantity, numbers


def trading_tickers(session: Session, settings: TradingSettings) -> set[str]:
    """The tickers a user's signals may trade: those listed in the settings, else the user's watchlist."""
    return set(settings.tickers or [item.ticker for item, _ in watchlist_repository.list_for_user(
        session, settings.user_id)])


def signal_matches(settings: TradingSettings, signal: Signal, tickers: Collection[str]) -> bool:
    """Whether a signal should trade for this user: its grade, and its ticker among `trading_tickers`."""
    if signal.grade not in GRADE_FACTOR or (settings.min_grade == "STRONG" and not signal.grade.startswith("STRONG")):
        return False
    return signal.ticker in tickers


def signal_client_order_id(user_id: int, signal_id: int, side: str) -> str:
    """The idempotency key of a signal's order for a user: one per (user, signal, side)."""
    return f"u{user_id}-s{signal_id}-{side}"


# --- orders --------------------------------------------------------------------------------------------
def record_risk_events(session: Session, user_id: int, client_order_id: str, signal_id: int | None, ticker: str,
                       side: str, checks: list[risk.Check], order_id: int | None, extra: dict[str, str],
                       now: datetime) -> None:
    """Store one risk event per rule verdict and count them."""
    for check in checks:
        decision = "APPROVED" if check.approved else "REJECTED"
        session.add(RiskEvent(user_id=user_id, order_id=order_id, signal_id=signal_id, client_order_id=client_order_id,
                              ticker=ticker, side=side, rule=check.rule, decision=decision, value=check.value,
                              limit_value=check.limit, message=check.message[:300], details=extra, created_at=now))
        metrics.RISK_EVENTS.labels(rule=check.rule, decision=decision).inc()


def create_order(session: Session, *, user_id: int, client_order_id: str, signal_id: int | None, broker: str,
                 ticker: str, side: str, quantity: int, limit_price: Decimal | None, ref: Decimal,
                 checks: list[risk.Check], extra: dict[str, str], now: datetime) -> TradingOrder:
    """Insert the order (PENDING if every rule approved, else REJECTED) and its risk events, idempotently.

    A concurrent insert of the same client order id wins; this call then returns that order unchanged."""
    failed = [c for c in checks if not c.approved]
    order = TradingOrder(user_id=user_id, client_order_id=client_order_id, signal_id=signal_id, broker=broker,
                         ticker=ticker, side=side, order_type="MARKET" if limit_price is None else "LIMIT",
                         quantity=quantity, limit_price=limit_price, reference_price=ref, state=states.PENDING,
                         filled_quantity=0, fees=Decimal(0), submit_attempts=0, outcome_unknown=False,
                         notice_filled_qty=0,
                         created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError:
        existing = repository.get_by_client_id(session, client_order_id)
        if existing is None:
            raise
        return existing
    metrics.ORDERS.labels(broker=broker, state=states.PENDING).inc()
    if failed:
        states.transition(order, states.REJECTED, now, reason="risk: " + "; ".join(
            f"{c.rule} ({c.message})" for c in failed))
        notify_order(session, order)
    record_risk_events(session, user_id, client_order_id, signal_id, ticker, side, checks, order.id, extra, now)
    session.flush()
    return order


def create_manual_order(session: Session, user: User, data: ManualOrderCreate, adapter: BrokerAdapter, broker: str,
                        now: datetime) -> TradingOrder:
    """A user's own order, through the same risk rules as signal orders (idempotent on client_order_id)."""
    settings = repository.get_settings_row(session, user.id)
    if settings is None or not settings.opted_in:
        raise ConflictError("opted_in: opt in to trading (POST /api/v1/trading/opt-in) before placing orders")
    key = f"u{user.id}-m-{data.client_order_id or uuid.uuid4().hex}"
    existing = repository.get_by_client_id(session, key)
    if existing is not None:
        return existing
    if market_repository.get_stock(session, data.ticker) is None:
        raise UnprocessableError(f"ticker: unknown ticker {data.ticker}")
    ref = reference_price(session, data.ticker)
    if ref is None:
        raise UnprocessableError(f"ticker: no price stored for {data.ticker}")
    ctx = build_context(session, settings, broker, data.ticker, exposure(session, adapter), now)
    candidate = risk.Candidate(ticker=data.ticker, side=data.side, quantity=data.quantity, price=data.limit_price,
                               reference_price=ref)
    checks = risk.evaluate(candidate, ctx, settings, user_kill_switch=settings.kill_switch,
                           blackout_spec=get_settings().trading_blackout_windows)
    return create_order(session, user_id=user.id, client_order_id=key, signal_id=None, broker=broker,
                        ticker=data.ticker, side=data.side, quantity=data.quantity, limit_price=data.limit_price,
                        ref=ref, checks=checks, extra={"source": "manual"}, now=now)


def order_request(order: TradingOrder) -> OrderRequest:
    """What the broker is asked for this order."""
    return OrderRequest(client_order_id=order.client_order_id, ticker=order.ticker, side=order.side,
                        quantity=order.quantity, limit_price=order.limit_price)


def require_order(session: Session, user: User, order_id: int) -> TradingOrder:
    """The user's order, or 404."""
    order = repository.get_order_for_user(session, user.id, order_id)
    if order is None:
        raise NotFoundError(f"No order {order_id}")
    return order


# --- broker reports ------------------------------------------------------------------------------------
def _ledger_source(broker: str) -> str:
    return broker if broker in BROKERS else PAPER


def add_fill(session: Session, order: TradingOrder, *, cumulative: int, price: Decimal, commission: Decimal,
             tax: Decimal, source: str, executed_at: datetime) -> TradingOrderFill | None:
    """Record the execution that brought the order to `cumulative` shares, once, and book it in the ledger.

    Polling reports cumulative totals and notices single executions; keying fills by the cumulative
    quantity they reach makes whichever source arrives second a no-op."""
    if cumulative <= order.filled_quantity or cumulative > order.quantity:
        return None
    quantity = cumulative - order.filled_quantity
    fill = TradingOrderFill(order_id=order.id, user_id=order.user_id, quantity=quantity, cumulative_quantity=cumulative,
                            price=to_price(price), commission=to_price(commission), tax=to_price(tax), source=source,
                            executed_at=executed_at)
    session.add(fill)
    session.flush()
    previous = (order.avg_fill_price or Decimal(0)) * order.filled_quantity
    order.filled_quantity = cumulative
    order.avg_fill_price = to_price((previous + fill.price * quantity) / cumulative)
    order.fees = to_price(order.fees + fill.commission + fill.tax)
    portfolio_service.record_trade(
        session, order.user_id, ticker=order.ticker, side=order.side, quantity=Decimal(quantity), price=fill.price,
        fees=fill.commission + fill.tax, executed_at=executed_at, source=_ledger_source(order.broker),
        external_ref=f"order-fill:{fill.id}")
    return fill


def _estimate_costs(order: TradingOrder, gross: Decimal) -> tuple[Decimal, Decimal]:
    # KIS ccld reports no per-fill costs: estimate with the configured commission and sell tax.
    return fill_costs(order.ticker, order.side, gross)


def apply_execution(session: Session, order: TradingOrder, execution: BrokerExecution, cumulative: int, source: str,
                    now: datetime) -> TradingOrderFill | None:
    """Apply one individually reported execution (a paper fill or a KIS notice)."""
    commission, tax = execution.commission, execution.tax
    if source == "notice":
        commission, tax = _estimate_costs(order, execution.price * execution.quantity)
    fill = add_fill(session, order, cumulative=cumulative, price=execution.price, commission=commission, tax=tax,
                    source=source, executed_at=execution.executed_at)
    if fill is not None:
        _advance(session, order, now)
    return fill


def apply_status(session: Session, order: TradingOrder, status: BrokerOrderStatus, now: datetime,
                 source: str) -> None:
    """Take in the broker's view of an order: its fields apart from ours, new fills, and the state that follows."""
    order.broker_order_no, order.broker_org_no = status.order_no, status.org_no
    order.broker_filled_qty, order.broker_avg_price = status.filled_qty, to_price(status.avg_price)
    order.broker_ordered_at, order.broker_raw, order.broker_updated_at = status.ordered_at, status.raw, now
    order.broker_status = ("cancelled" if status.cancelled else "filled" if status.remaining_qty == 0
                           and status.filled_qty >= status.ordered_qty else "partial" if status.filled_qty else "open")
    order.outcome_unknown = False
    if order.state == states.PENDING:
        order.submitted_at = order.submitted_at or now
        states.transition(order, states.SUBMITTED, now)
    if status.executions:
        cumulative = 0
        for execution in status.executions:
            cumulative += execution.quantity
            add_fill(session, order, cumulative=cumulative, price=execution.price, commission=execution.commission,
                     tax=execution.tax, source=source, executed_at=execution.executed_at)
    elif status.filled_qty > order.filled_quantity:
        # Only totals: the new shares cost what brings our average to the broker's.
        delta = status.filled_qty - order.filled_quantity
        paid = status.avg_price * status.filled_qty - (order.avg_fill_price or Decimal(0)) * order.filled_quantity
        price = paid / delta if paid > 0 else status.avg_price
        commission, tax = _estimate_costs(order, price * delta)
        add_fill(session, order, cumulative=status.filled_qty, price=price, commission=commission, tax=tax,
                 source=source, executed_at=now)
    _advance(session, order, now, cancelled=status.cancelled)


def _advance(session: Session, order: TradingOrder, now: datetime, *, cancelled: bool = False) -> None:
    before = order.state
    if order.filled_quantity >= order.quantity:
        states.transition(order, states.FILLED, now)
    elif cancelled:
        states.transition(order, states.CANCELLED, now,
                          reason=f"cancelled at the broker after {order.filled_quantity} of {order.quantity}")
    elif order.filled_quantity > 0:
        states.transition(order, states.PARTIALLY_FILLED, now)
    order.updated_at = now
    session.flush()
    if order.state != before:
        notify_order(session, order)


def notify_order(session: Session, order: TradingOrder) -> None:
    """Tell the user about fills, partial fills, cancellations, rejections and failures (once per state)."""
    if order.state in (states.PENDING, states.SUBMITTED):
        return
    verb = {states.FILLED: "filled", states.PARTIALLY_FILLED: "partially filled", states.CANCELLED: "cancelled",
            states.REJECTED: "rejected", states.FAILED: "failed"}[order.state]
    price = f" at {order.avg_fill_price}" if order.avg_fill_price is not None else ""
    body = f"{order.side} {order.quantity} {order.ticker}: {order.filled_quantity} filled{price}."
    if order.reason and order.state in (states.REJECTED, states.FAILED, states.CANCELLED):
        body += f" {order.reason}"
    key = f"order:{order.id}:{order.state}"
    if order.state == states.PARTIALLY_FILLED:
        key += f":{order.filled_quantity}"
    notify_user(session, order.user_id, dedup_key=key, title=f"Order {verb}: {order.side} {order.ticker}", body=body,
                data={"order_id": order.id, "state": order.state, "filled_quantity": order.filled_quantity})


def fail_order(session: Session, order: TradingOrder, reason: str, now: datetime, *, alert: bool) -> None:
    """Mark the order FAILED (or REJECTED by the broker), tell the user and, for failures, the admins."""
    new = states.REJECTED if reason.startswith("broker:") and not alert else states.FAILED
    states.transition(order, new, now, reason=reason)
    order.updated_at = now
    order.outcome_unknown = False
    session.flush()
    notify_order(session, order)
    if alert:
        notify_admins(session, dedup_key=f"order-failed:{order.id}", title=f"Order {order.id} failed",
                      body=f"User {order.user_id}, {order.side} {order.quantity} {order.ticker} via {order.broker}: "
                           f"{reason}")
