"""Each risk rule approves exactly at its boundary and rejects just past it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from signalhub.models.trading_settings import TradingSettings
from signalhub.trading import risk

OPEN = datetime(2025, 1, 15, 1, 0, tzinfo=UTC)  # 10:00 KST, a Wednesday session


def limits(**overrides: object) -> TradingSettings:
    values = dict(daily_loss_limit_pct=Decimal(2), max_symbol_weight_pct=Decimal(20),
                  max_position_size_pct=Decimal(10), min_cash_reserve_pct=Decimal(20), max_orders_per_day=10,
                  failures_before_cooldown=3, failure_cooldown_minutes=30, price_protection_pct=Decimal(3))
    values.update(overrides)
    return TradingSettings(user_id=1, **values)


BASE_CTX = risk.Context(now=OPEN, global_kill_switch=False, equity=Decimal(1_000_000), cash=Decimal(1_000_000),
                        position_quantity=0, sellable_quantity=0, day_start_equity=Decimal(1_000_000),
                        orders_today=0, recent_failures=0)
# 10 shares at 1,000 = 10,000 = 1% of equity.
BASE = risk.Candidate(ticker="005930.KS", side="BUY", quantity=10, price=None, reference_price=Decimal(1000))


def verdict(rule: str, candidate: risk.Candidate = BASE, ctx: risk.Context = BASE_CTX,
            settings: TradingSettings | None = None, *, user_kill: bool = False,
            blackout: str = "15:20-15:30") -> risk.Check:
    checks = risk.evaluate(candidate, ctx, settings or limits(), user_kill_switch=user_kill, blackout_spec=blackout)
    return next(c for c in checks if c.rule == rule)


# (rule, at the boundary, just past it) as (candidate, context) changes.
CASES = [
    ("daily_loss_limit", {}, {"equity": Decimal(980_000), "cash": Decimal(980_000)},
     {"equity": Decimal("979999"), "cash": Decimal("979999")}),
    ("max_position_size", {"quantity": 100}, {}, {}),  # 100 x 1,000 = 10% exactly; 101 -> 10.1%
    ("max_symbol_weight", {}, {"position_quantity": 190}, {"position_quantity": 191}),
    ("min_cash_reserve", {}, {"cash": Decimal(210_000)}, {"cash": Decimal(209_999)}),
    ("max_orders_per_day", {}, {"orders_today": 9}, {"orders_today": 10}),
    ("failure_cooldown", {}, {"recent_failures": 2}, {"recent_failures": 3}),
    ("price_protection", {"price": Decimal(1030)}, {}, {}),
]


@pytest.mark.parametrize(("rule", "candidate_change", "at_boundary", "past"), CASES, ids=[c[0] for c in CASES])
def test_rule_boundaries(rule, candidate_change, at_boundary, past):
    candidate = replace(BASE, **candidate_change)
    at = verdict(rule, candidate, replace(BASE_CTX, **at_boundary))
    assert at.approved, at
    if rule == "max_position_size":
        beyond = verdict(rule, replace(candidate, quantity=101))
    elif rule == "price_protection":
        beyond = verdict(rule, replace(candidate, price=Decimal("1030.01")))
    else:
        beyond = verdict(rule, candidate, replace(BASE_CTX, **past))
    assert not beyond.approved, beyond
    assert beyond.value is not None and beyond.limit is not None


def test_price_protection_below_reference_too():
    assert verdict("price_protection", replace(BASE, price=Decimal(970))).approved
    assert not verdict("price_protection", replace(BASE, price=Decimal("969.99"))).approved


def test_position_available_for_sells():
    sell = replace(BASE, side="SELL", quantity=5)
    assert verdict("position_available", sell, replace(BASE_CTX, sellable_quantity=5)).approved
    assert not verdict("position_available", sell, replace(BASE_CTX, sellable_quantity=4)).approved
    rules = {c.rule for c in risk.evaluate(sell, BASE_CTX, limits(), user_kill_switch=False, blackout_spec="")}
    assert "max_symbol_weight" not in rules  # a sell only reduces exposure


def test_market_hours_open_inclusive_close_exclusive():
    open_ = datetime(2025, 1, 15, 0, 0, tzinfo=UTC)  # 09:00 KST
    close = datetime(2025, 1, 15, 6, 30, tzinfo=UTC)  # 15:30 KST
    assert verdict("market_hours", ctx=replace(BASE_CTX, now=open_)).approved
    assert not verdict("market_hours", ctx=replace(BASE_CTX, now=open_ - timedelta(seconds=1))).approved
    assert verdict("market_hours", ctx=replace(BASE_CTX, now=close - timedelta(seconds=1))).approved
    assert not verdict("market_hours", ctx=replace(BASE_CTX, now=close)).approved
    holiday = datetime(2025, 1, 29, 1, 0, tzinfo=UTC)  # Seollal
    assert not verdict("market_hours", ctx=replace(BASE_CTX, now=holiday)).approved


def test_maintenance_window_boundaries():
    start = datetime(2025, 1, 15, 6, 20, tzinfo=UTC)  # 15:20 KST
    assert not verdict("maintenance_window", ctx=replace(BASE_CTX, now=start)).approved
    assert verdict("maintenance_window", ctx=replace(BASE_CTX, now=start.replace(minute=19, second=59))).approved
    assert verdict("maintenance_window", ctx=replace(BASE_CTX, now=start.replace(minute=30))).approved
    friday_only = "fri 10:00-10:05"
    assert verdict("maintenance_window", blackout=friday_only).approved  # a Wednesday
    friday = datetime(2025, 1, 17, 1, 0, tzinfo=UTC)
    assert not verdict("maintenance_window", ctx=replace(BASE_CTX, now=friday), blackout=friday_only).approved


def test_kill_switches():
    assert verdict("user_kill_switch").approved
    assert not verdict("user_kill_switch", user_kill=True).approved
    assert verdict("global_kill_switch").approved
    assert not verdict("global_kill_switch", ctx=replace(BASE_CTX, global_kill_switch=True)).approved


def test_bad_blackout_spec_is_refused():
    with pytest.raises(ValueError, match="weekday"):
        risk.parse_windows("someday 10:00-11:00")
