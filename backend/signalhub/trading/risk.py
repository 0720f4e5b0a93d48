"""Pre-trade risk rules (seeds 000, 002, 004): each compares one number with one limit, all are recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from signalhub.core import calendars
from signalhub.models.trading_settings import TradingSettings

KST = calendars.KST
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Candidate:
    """An order about to be placed: `price` is what it expects to pay (limit, or the signal's price)."""

    ticker: str
    side: str
    quantity: int
    price: Decimal | None
    reference_price: Decimal


@dataclass(frozen=True)
class Context:
    """Everything the rules look at, gathered once before they run."""

    now: datetime
    global_kill_switch: bool
    equity: Decimal
    cash: Decimal
    position_quantity: int
    sellable_quantity: int
    day_start_equity: Decimal
    orders_today: int
    recent_failures: int


@dataclass(frozen=True)
class Check:
    """One rule's verdict."""

    rule: str
    approved: bool
    value: Decimal | None
    limit: Decimal | None
    message: str


def parse_windows(spec: str) -> list[tuple[int | None, time, time]]:
    """Parse "HH:MM-HH:MM" or "fri HH:MM-HH:MM" entries (comma separated); ValueError on a bad one."""
    windows = []
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        day: int | None = None
        if " " in raw:
            name, raw = raw.split(None, 1)
            if name.lower()[:3] not in _WEEKDAYS:
                raise ValueError(f"unknown weekday {name!r} in blackout window")
            day = _WEEKDAYS.index(name.lower()[:3])
        start, end = (time.fromisoformat(t.strip()) for t in raw.split("-", 1))
        windows.append((day, start, end))
    return windows


def in_blackout(now: datetime, spec: str) -> str | None:
    """The blackout window (as written) that `now` falls in, KST, start inclusive and end exclusive."""
    local = now.astimezone(KST)
    for day, start, end in parse_windows(spec):
        if (day is None or local.weekday() == day) and start <= local.time() < end:
            return f"{_WEEKDAYS[day] + ' ' if day is not None else ''}{start:%H:%M}-{end:%H:%M}"
    return None


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * HUNDRED).quantize(Decimal("0.000001")) if whole > 0 else Decimal(0)


def evaluate(candidate: Candidate, ctx: Context, limits: TradingSettings, *, user_kill_switch: bool,
             blackout_spec: str) -> list[Check]:
    """Run every rule that applies to the candidate (sells skip the exposure rules: they reduce risk)."""
    checks: list[Check] = []

    def add(rule: str, approved: bool, value: Decimal | None, limit: Decimal | None, message: str) -> None:
        checks.append(Check(rule, approved, value, limit, message))

    add("global_kill_switch", not ctx.global_kill_switch, Decimal(int(ctx.global_kill_switch)), Decimal(0),
        "trading stopped by an administrator" if ctx.global_kill_switch else "global kill switch off")
    add("user_kill_switch", not user_kill_switch, Decimal(int(user_kill_switch)), Decimal(0),
        "your kill switch is on" if user_kill_switch else "kill switch off")
    exchange = calendars.exchange_for_ticker(candidate.ticker)
    is_open = calendars.is_open(exchange, ctx.now)
    add("market_hours", is_open, Decimal(int(is_open)), Decimal(1),
        f"{exchange} is {'open' if is_open else 'closed'}")
    window = in_blackout(ctx.now, blackout_spec)
    add("maintenance_window", window is None, Decimal(int(window is not None)), Decimal(0),
        f"inside blackout window {window} KST" if window else "outside blackout windows")
    count = Decimal(ctx.orders_today + 1)
    add("max_orders_per_day", count <= limits.max_orders_per_day, count, Decimal(limits.max_orders_per_day),
        f"order {count} of at most {limits.max_orders_per_day} today")
    failures = Decimal(ctx.recent_failures)
    add("failure_cooldown", failures < limits.failures_before_cooldown, failures,
        Decimal(limits.failures_before_cooldown),
        f"{failures} failed orders in the last {limits.failure_cooldown_minutes} min "
        f"(cool down at {limits.failures_before_cooldown})")
    if candidate.price is None:
        add("price_protection", True, Decimal(0), limits.price_protection_pct, "market order at the reference price")
    else:
        deviation = _pct(abs(candidate.price - candidate.reference_price), candidate.reference_price)
        add("price_protection", deviation <= limits.price_protection_pct, deviation, limits.price_protection_pct,
            f"{deviation}% from the reference price {candidate.reference_price}")
    if candidate.side == "SELL":
        add("position_available", candidate.quantity <= ctx.sellable_quantity, Decimal(candidate.quantity),
            Decimal(ctx.sellable_quantity), f"selling {candidate.quantity} of {ctx.sellable_quantity} sellable")
        return checks
    order_value = (candidate.price or candidate.reference_price) * candidate.quantity
    day_pnl = _pct(ctx.equity - ctx.day_start_equity, ctx.day_start_equity)
    add("daily_loss_limit", day_pnl >= -limits.daily_loss_limit_pct, day_pnl, -limits.daily_loss_limit_pct,
        f"today's P&L {day_pnl}% (limit -{limits.daily_loss_limit_pct}%)")
    size = _pct(order_value, ctx.equity)
    add("max_position_size", ctx.equity > 0 and size <= limits.max_position_size_pct, size,
        limits.max_position_size_pct, f"order is {size}% of equity {ctx.equity}")
    weight = _pct(candidate.reference_price * ctx.position_quantity + order_value, ctx.equity)
    add("max_symbol_weight", ctx.equity > 0 and weight <= limits.max_symbol_weight_pct, weight,
        limits.max_symbol_weight_pct, f"{candidate.ticker} would be {weight}% of equity")
    reserve = _pct(ctx.cash - order_value, ctx.equity)
    add("min_cash_reserve", ctx.equity > 0 and reserve >= limits.min_cash_reserve_pct, reserve,
        limits.min_cash_reserve_pct, f"cash after the order {reserve}% of equity")
    return checks
