"""Portfolio rules: the trade ledger, positions by average cost, and the per-currency dashboard.

Flushes, never commits. `record_trade` and `positions` are the entry points other domains use (the
broker and paper engines record their fills through `record_trade`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.orm import Session

from signalhub.core import calendars
from signalhub.core.errors import ConflictError, NotFoundError, UnprocessableError
from signalhub.core.time import as_utc, utcnow
from signalhub.market_data import repository as market_repository
from signalhub.market_data import service as market_service
from signalhub.models.portfolio_transaction import PortfolioTransaction, TradeSide, TradeSource
from signalhub.models.stock import Stock
from signalhub.models.user import User
from signalhub.portfolios import repository
from signalhub.portfolios.ledger import ZERO, OversoldError, Position, Trade, amount, replay
from signalhub.portfolios.schemas import (
    Allocation,
    BuyCreate,
    CurrencyBlock,
    DashboardRead,
    HoldingValue,
    PortfolioRead,
    PositionRead,
    SellCreate,
    TransactionPage,
    TransactionRead,
)

EARLIEST_TRADE = datetime.combine(calendars.CALENDAR_START.date(), time(), tzinfo=UTC)
# Broker clocks run slightly ahead of ours now and then; a fill stamped a moment "in the future" is real.
CLOCK_SKEW = timedelta(minutes=5)
PRICE_STEP = Decimal("0.000001")  # scale of the price and fees columns
QUANTITY_STEP = Decimal("0.00000001")  # scale of the quantity column
# price_bars holds doubles (yfinance's are float32 values widened); 4 decimals drop that binary noise.
MARK_STEP = Decimal("0.0001")
PCT_STEP = Decimal("0.01")
MAX_QUANTITY = Decimal("1e15")
MAX_PRICE = Decimal("1e13")
UNKNOWN_SECTOR = "Unknown"
PRICE_BASIS = ("Close of the latest stored daily bar (price_bars, interval 1d) of each ticker at the time of the "
               "request; each holding names the session date of the bar used.")


# --- the ledger ----------------------------------------------------------------------------------------------

def _parse_side(side: str | TradeSide) -> TradeSide:
    try:
        return TradeSide(str(side).upper())
    except ValueError:
        raise UnprocessableError(f"side: must be one of {', '.join(TradeSide)}, not {side!r}") from None


def _parse_source(source: str | TradeSource) -> TradeSource:
    try:
        return TradeSource(str(source).lower())
    except ValueError:
        raise UnprocessableError(f"source: must be one of {', '.join(TradeSource)}, not {source!r}") from None


def _check_number(name: str, value: Decimal, *, allow_zero: bool, limit: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise UnprocessableError(f"{name}: must be a finite decimal number, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise UnprocessableError(f"{name}: must be {'0 or more' if allow_zero else 'greater than 0'}, not {value}")
    if value > limit:
        raise UnprocessableError(f"{name}: must be at most {limit}, not {value}")


def _check_executed_at(executed_at: datetime, field: str = "executed_at") -> datetime:
    at = as_utc(executed_at)
    if at > utcnow() + CLOCK_SKEW:
        raise UnprocessableError(f"{field}: {at.isoformat()} is in the future")
    if at < EARLIEST_TRADE:
        raise UnprocessableError(f"{field}: {at.date()} is before {EARLIEST_TRADE.date()}, where the platform's "
                                 "exchange calendars and price history begin")
    return at


def _oversold_message(error: OversoldError, new: Trade | None, ticker: str, source: TradeSource) -> str:
    sell = error.trade
    when = sell.executed_at.date().isoformat()
    if sell is new:
        return (f"quantity: cannot sell {sell.quantity.normalize():f} {ticker}; only {error.held.normalize():f} held "
                f"in source '{source}' on {when}")
    return (f"the sell #{sell.id} of {sell.quantity.normalize():f} {ticker} on {when} would then sell more than the "
            f"{error.held.normalize():f} held in source '{source}'")


def _replay_chain(ticker: str, source: TradeSource, currency: str, trades: Sequence[PortfolioTransaction],
                  new: PortfolioTransaction | None) -> None:
    """Replay a changed chain and store each sell's realised P&L; 4xx if any sell would exceed its holding."""
    try:
        result = replay(ticker, source, currency, trades)
    except OversoldError as exc:
        message = _oversold_message(exc, new, ticker, source)
        if exc.trade is new:
            raise UnprocessableError(message) from None
        raise ConflictError(f"quantity: {message}" if new is not None else message) from None
    for sell, realised in result.realised:
        if sell.realised_pnl is None or sell.realised_pnl != realised:
            sell.realised_pnl = realised


def record_trade(session: Session, user_id: int, *, ticker: str, side: str, quantity: Decimal, price: Decimal,
                 fees: Decimal, executed_at: datetime, source: str, external_ref: str | None = None,
                 ) -> PortfolioTransaction:
    """Record an executed trade in the user's ledger and return it; idempotent per (source, external_ref).

    Price and fees are rounded to 6 decimals; quantity may have at most 8. A sell stores its realised P&L by
    average cost; a trade dated before later ones re-derives the realised P&L of the sells after it. Raises
    422 naming the field for invalid input (including selling more than held in that source), 404 for an
    unknown ticker, 409 when `external_ref` was already recorded for a different trade.
    """
    trade_side, trade_source = _parse_side(side), _parse_source(source)
    _check_number("quantity", quantity, allow_zero=False, limit=MAX_QUANTITY)
    _check_number("price", price, allow_zero=False, limit=MAX_PRICE)
    _check_number("fees", fees, allow_zero=True, limit=MAX_PRICE)
    if quantity != quantity.quantize(QUANTITY_STEP):
        raise UnprocessableError(f"quantity: at most 8 decimal places, not {quantity}")
    price, fees = price.quantize(PRICE_STEP, ROUND_HALF_EVEN), fees.quantize(PRICE_STEP, ROUND_HALF_EVEN)
    if price == 0:
        raise UnprocessableError("price: rounds to 0 at 6 decimal places")
    at = _check_executed_at(executed_at)
    ref = external_ref.strip() if external_ref is not None else None
    if ref is not None and not 1 <= len(ref) <= 64:
        raise UnprocessableError("external_ref: must be 1 to 64 characters")
    stock = market_service.require_stock(session, ticker)

    repository.lock_ledger(session, user_id)
    if ref is not None:
        existing = repository.get_by_external_ref(session, user_id, trade_source, ref)
        if existing is not None:
            # Fees may be settled after the fill, so a replay only has to agree on what was traded.
            same = (existing.ticker, existing.side, existing.quantity, existing.price) == (
                stock.ticker, trade_side, quantity, price)
            if not same:
                raise ConflictError(f"external_ref: '{ref}' is already recorded in source '{trade_source}' for "
                                    f"transaction #{existing.id}, with a different trade")
            return existing

    transaction = PortfolioTransaction(
        user_id=user_id, ticker=stock.ticker, side=trade_side, quantity=quantity, price=price, fees=fees,
        currency=stock.currency, executed_at=at, source=trade_source, external_ref=ref)
    chain = repository.chain(session, user_id, stock.ticker, trade_source)
    _replay_chain(stock.ticker, trade_source, stock.currency, [*chain, transaction], transaction)
    return repository.add(session, transaction)


def _replay_all(transactions: Iterable[PortfolioTransaction]) -> list[Position]:
    chains: dict[tuple[str, TradeSource], list[PortfolioTransaction]] = defaultdict(list)
    for transaction in transactions:
        chains[(transaction.ticker, transaction.source)].append(transaction)
    found: list[Position] = []
    for (ticker, source), trades in sorted(chains.items()):
        found.extend(replay(ticker, source, trades[0].currency, trades).positions)
    return found


def positions(session: Session, user_id: int, source: str | None = None) -> list[Position]:
    """The user's positions per (ticker, source) by average cost, open and closed, by ticker, source and age."""
    wanted = _parse_source(source) if source is not None else None
    transactions, _ = repository.list_for_user(session, user_id, source=wanted)
    return _replay_all(transactions)


def require_transaction(session: Session, user_id: int, transaction_id: int) -> PortfolioTransaction:
    """The user's transaction, or 404 (also for another user's id)."""
    transaction = repository.get_for_user(session, user_id, transaction_id)
    if transaction is None:
        raise NotFoundError(f"Transaction {transaction_id} not found")
    return transaction


def delete_transaction(session: Session, user_id: int, transaction_id: int) -> None:
    """Delete a manual transaction if the ledger stays valid without it; 404 / 409 otherwise."""
    repository.lock_ledger(session, user_id)
    transaction = require_transaction(session, user_id, transaction_id)
    if transaction.source != TradeSource.MANUAL:
        raise ConflictError(f"Transaction {transaction_id} comes from source '{transaction.source}'; only manual "
                            "transactions can be deleted")
    chain = repository.chain(session, user_id, transaction.ticker, transaction.source)
    rest = [t for t in chain if t.id != transaction.id]
    try:
        _replay_chain(transaction.ticker, transaction.source, transaction.currency, rest, None)
    except ConflictError as exc:
        raise ConflictError(f"Cannot delete transaction {transaction_id}: {exc.message}; delete that sell first"
                            ) from None
    repository.delete(session, transaction)


# --- HTTP-facing operations ----------------------------------------------------------------------------------

def _trade_time(stock: Stock, value: datetime | date | None) -> tuple[datetime, list[str]]:
    """When a trade given by the API happened, checked against today on the stock's exchange, plus notes."""
    now = utcnow()
    if value is None:
        return now, []
    known_exchange = stock.exchange in calendars.EXCHANGES
    zone = calendars.get_calendar(stock.exchange).tz if known_exchange else UTC
    if isinstance(value, datetime):
        at = as_utc(value)
        if at > now:
            raise UnprocessableError(f"date: {at.isoformat()} is in the future")
        day = at.astimezone(zone).date()
    else:
        day = value
        if day > now.astimezone(zone).date():
            raise UnprocessableError(f"date: {day.isoformat()} is in the future")
        # Midnight UTC like a daily bar, but never later than now (Seoul's today starts before UTC's).
        at = min(datetime.combine(day, time(), tzinfo=UTC), now)
    _check_executed_at(at, "date")
    notes = []
    if known_exchange and not calendars.is_session(stock.exchange, day):
        notes.append(f"{day.isoformat()} was not a trading session on {stock.exchange} (weekend or holiday); "
                     "the trade is recorded as given")
    return at, notes


def _read(transaction: PortfolioTransaction, notes: list[str] | None = None) -> TransactionRead:
    return TransactionRead.model_validate(transaction).model_copy(update={"notes": notes or []})


def buy(session: Session, user: User, body: BuyCreate) -> TransactionRead:
    """Record a buy in the user's manual portfolio."""
    stock = market_service.require_stock(session, body.ticker)
    at, notes = _trade_time(stock, body.traded_at)
    transaction = record_trade(session, user.id, ticker=stock.ticker, side=TradeSide.BUY, quantity=body.quantity,
                               price=body.price, fees=body.fees, executed_at=at, source=TradeSource.MANUAL)
    return _read(transaction, notes)


def sell(session: Session, user: User, body: SellCreate) -> TransactionRead:
    """Sell part or all (no quantity) of the user's manual holding of a ticker."""
    stock = market_service.require_stock(session, body.ticker)
    at, notes = _trade_time(stock, body.traded_at)
    quantity = body.quantity
    if quantity is None:
        held = [p for p in positions(session, user.id, TradeSource.MANUAL) if p.ticker == stock.ticker and p.is_open]
        if not held:
            raise UnprocessableError(f"ticker: you hold no {stock.ticker} in your manual portfolio")
        quantity = held[0].quantity
    transaction = record_trade(session, user.id, ticker=stock.ticker, side=TradeSide.SELL, quantity=quantity,
                               price=body.price, fees=body.fees, executed_at=at, source=TradeSource.MANUAL)
    return _read(transaction, notes)


def list_transactions(session: Session, user: User, *, source: TradeSource | None, ticker: str | None,
                      side: TradeSide | None, limit: int, offset: int) -> TransactionPage:
    """One page of the user's transactions, oldest first."""
    symbol = market_service.normalise_ticker(ticker) if ticker else None
    items, total = repository.list_for_user(session, user.id, source=source, ticker=symbol, side=side,
                                            limit=limit, offset=offset)
    return TransactionPage(total=total, limit=limit, offset=offset, items=[_read(t) for t in items])


def get_transaction(session: Session, user: User, transaction_id: int) -> TransactionRead:
    """One of the user's transactions, or 404."""
    return _read(require_transaction(session, user.id, transaction_id))


def _position_read(position: Position) -> PositionRead:
    return PositionRead(
        ticker=position.ticker, source=TradeSource(position.source), status="open" if position.is_open else "closed",
        currency=position.currency, quantity=position.quantity, average_cost=position.average_cost,
        cost_basis=position.cost_basis, realised_pnl=position.realised_pnl, invested=position.invested,
        fees=position.fees, trades=position.trades, opened_at=position.opened_at, closed_at=position.closed_at)


def portfolio(session: Session, user: User, source: TradeSource | None = None) -> PortfolioRead:
    """The user's open and closed positions, each marked by source."""
    found = [_position_read(p) for p in positions(session, user.id, source)]
    return PortfolioRead(open=[p for p in found if p.status == "open"],
                         closed=[p for p in found if p.status == "closed"])


# --- dashboard -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mark:
    """The close used to value a ticker, and the session date of its bar."""

    price: Decimal
    session: date


def latest_closes(session: Session, tickers: Sequence[str]) -> dict[str, Mark]:
    """Close of the newest stored daily bar per ticker (tickers without bars are left out)."""
    if not tickers:
        return {}
    frame = market_repository.load_last_bars(session, list(tickers), calendars.DAILY, per_ticker=1)
    return {str(ticker): Mark(price=Decimal(repr(float(close))).quantize(MARK_STEP, ROUND_HALF_EVEN),
                              session=ts.date())
            for ticker, ts, close in zip(frame["ticker"], frame["ts"], frame["close"], strict=True)}


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole * 100).quantize(PCT_STEP, ROUND_HALF_EVEN) if whole != 0 else None


def _allocations(values: dict[str, Decimal], total: Decimal) -> list[Allocation]:
    if total <= 0:
        return []
    return [Allocation(name=name, market_value=value, weight_pct=_pct(value, total) or ZERO)
            for name, value in sorted(values.items(), key=lambda item: (-item[1], item[0]))]


def _cash_flows(transactions: Iterable[PortfolioTransaction]) -> dict[str, Decimal]:
    cash: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for t in transactions:
        gross = t.quantity * t.price
        cash[t.currency] += (-gross if t.side == TradeSide.BUY else gross) - t.fees
    return {currency: amount(value) for currency, value in cash.items()}


def dashboard(session: Session, user: User, source: TradeSource | None = None) -> DashboardRead:
    """Holdings at the latest stored close, P&L, return, allocation and cash, one block per currency."""
    transactions, _ = repository.list_for_user(session, user.id, source=source)
    found = _replay_all(transactions)
    held = [p for p in found if p.is_open]
    stocks = repository.stocks_by_ticker(session, (p.ticker for p in held))
    marks = latest_closes(session, sorted({p.ticker for p in held}))
    flows = _cash_flows(transactions)
    capital_currency = user.capital_currency
    currencies = sorted({capital_currency, *flows}, key=lambda c: (c != capital_currency, c))

    blocks = []
    for currency in currencies:
        mine = [p for p in found if p.currency == currency]
        initial = user.initial_capital if currency == capital_currency else ZERO
        holdings: list[HoldingValue] = []
        by_ticker: dict[str, Decimal] = defaultdict(lambda: ZERO)
        by_sector: dict[str, Decimal] = defaultdict(lambda: ZERO)
        market_value = priced_cost = ZERO
        unpriced: set[str] = set()
        for p in (p for p in mine if p.is_open):
            stock = stocks[p.ticker]
            sector = stock.sector or UNKNOWN_SECTOR
            mark = marks.get(p.ticker)
            value = amount(p.quantity * mark.price) if mark else None
            holdings.append(HoldingValue(
                ticker=p.ticker, name=stock.name, sector=sector, source=TradeSource(p.source), quantity=p.quantity,
                average_cost=p.average_cost, cost_basis=p.cost_basis, price=mark.price if mark else None,
                price_date=mark.session if mark else None, market_value=value,
                unrealised_pnl=value - p.cost_basis if value is not None else None,
                return_pct=_pct(value - p.cost_basis, p.cost_basis) if value is not None else None))
            if value is None:
                unpriced.add(p.ticker)
                continue
            market_value += value
            priced_cost += p.cost_basis
            by_ticker[p.ticker] += value
            by_sector[sector] += value
        unrealised = market_value - priced_cost
        realised = sum((p.realised_pnl for p in mine), ZERO)
        invested = sum((p.invested for p in mine), ZERO)
        cash = initial + flows.get(currency, ZERO)
        equity = cash + market_value
        is_capital = currency == capital_currency
        blocks.append(CurrencyBlock(
            currency=currency, is_capital_currency=is_capital, initial_capital=initial, cash=cash,
            market_value=market_value, cost_basis=priced_cost, unrealised_pnl=unrealised, realised_pnl=realised,
            total_pnl=realised + unrealised, invested=invested, return_pct=_pct(realised + unrealised, invested),
            equity=equity, equity_return_pct=_pct(equity - initial, initial) if is_capital else None,
            holdings=holdings, allocation_by_holding=_allocations(by_ticker, market_value),
            allocation_by_sector=_allocations(by_sector, market_value), unpriced=sorted(unpriced)))
    return DashboardRead(as_of=utcnow(), price_basis=PRICE_BASIS, source=source, currencies=blocks)
