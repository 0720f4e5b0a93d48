"""Signal -> sizing -> risk -> order -> fills against the internal paper broker, on the real database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from signalhub.broker.paper import PaperBroker
from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.models.notification import Notification
from signalhub.models.paper_order import PaperOrder
from signalhub.models.portfolio_transaction import PortfolioTransaction
from signalhub.models.system_flag import SystemFlag
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_order_fill import TradingOrderFill
from signalhub.models.trading_risk_event import RiskEvent
from signalhub.models.trading_settings import TradingSettings
from signalhub.trading import execution, repository, service
from signalhub.trading.repository import GLOBAL_KILL_SWITCH
from tests.helpers import register
from tests.trading.support import OPEN_AT, TICKER, add_bar, add_signal, add_stock, opt_in_direct, user_id


def _user(client, email="trader@example.com", **limits) -> int:
    register(client, email)
    uid = user_id(email)
    opt_in_direct(uid, **limits)
    return uid


def _order(order_id: int) -> TradingOrder:
    with session_scope() as session:
        order = session.get(TradingOrder, order_id)
        assert order is not None
        session.expunge(order)
        return order


def _count(model, *where) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_strong_buy_signal_is_sized_checked_filled_and_booked(client):
    uid = _user(client)
    add_stock(close=70_000, volume=1_000_000)
    signal_id = add_signal(confidence=0.9)
    [order_id] = execution.orders_for_signals([signal_id], OPEN_AT)
    order = _order(order_id)
    # Seed 000: 10,000,000 x 10% x 0.9 strength = 900,000 -> 12 shares at 70,000 (capped at 10% size anyway).
    assert order.quantity == 12 and order.side == "BUY" and order.broker == "paper"
    assert order.state == "FILLED" and order.filled_quantity == 12
    slipped = Decimal("70070.000000")  # 70,000 + 10 bps adverse slippage
    assert order.avg_fill_price == slipped and order.broker_avg_price == slipped
    assert order.fees == (slipped * 12 * Decimal("0.00015")).quantize(Decimal("0.000001"))
    with session_scope() as session:
        events = session.scalars(select(RiskEvent).where(RiskEvent.order_id == order_id)).all()
        assert events and all(e.decision == "APPROVED" for e in events)
        assert {e.rule for e in events} >= {"daily_loss_limit", "max_symbol_weight", "min_cash_reserve",
                                            "max_orders_per_day", "market_hours", "global_kill_switch"}
        [trade] = session.scalars(select(PortfolioTransaction).where(PortfolioTransaction.user_id == uid)).all()
        assert (trade.source, trade.quantity, trade.price) == ("paper", Decimal(12), slipped)
        assert trade.external_ref.startswith("order-fill:")
        assert session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == uid, Notification.title.like("Order filled%"))) == 1
    # The same signal again (a redelivered task) changes nothing.
    assert execution.orders_for_signals([signal_id], OPEN_AT) == [order_id]
    assert _count(PaperOrder) == 1 and _count(TradingOrderFill) == 1


def test_sell_signal_sells_the_position_with_tax(client):
    _user(client)
    add_stock(close=70_000, volume=1_000_000)
    buy = execution.orders_for_signals([add_signal(confidence=0.9)], OPEN_AT)[0]
    sell_signal = add_signal(action="SELL", grade="STRONG_SELL", confidence=0.9,
                             bar_ts=datetime(2025, 1, 15, tzinfo=UTC))
    add_bar(TICKER, 71_000, 1_000_000, datetime(2025, 1, 15, 0, 30, tzinfo=UTC))
    [sell] = execution.orders_for_signals([sell_signal], OPEN_AT)
    order = _order(sell)
    assert order.side == "SELL" and order.quantity == _order(buy).quantity and order.state == "FILLED"
    price = Decimal("70929.000000")  # 71,000 - 10 bps
    gross = price * order.quantity
    expected = (gross * Decimal("0.00015")).quantize(Decimal("0.000001")) + (gross * Decimal("0.0015")).quantize(
        Decimal("0.000001"))
    assert order.fees == expected
    assert PaperBroker(order.user_id).balance().holdings == ()


def test_thousand_concurrent_submissions_of_one_signal_send_one_order(client):
    uid = _user(client)
    add_stock(close=70_000, volume=1_000_000)
    signal_id = add_signal()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: execution.place_for_signal(uid, signal_id, OPEN_AT), range(1000)))
    assert len(set(results)) == 1 and results[0] is not None
    assert _count(TradingOrder) == 1
    assert _count(PaperOrder) == 1  # the venue saw exactly one order
    assert _order(results[0]).state == "FILLED"
    assert _count(PortfolioTransaction) == 1


def test_partial_fills_then_filled_with_average_price(client):
    uid = _user(client)
    add_stock(close=70_000, volume=40)  # 10% participation: 4 shares per bar
    signal_id = add_signal(confidence=0.9)
    order_id = execution.place_for_signal(uid, signal_id, OPEN_AT)
    order = _order(order_id)
    assert order.quantity == 12 and order.state == "PARTIALLY_FILLED" and order.filled_quantity == 4
    add_bar(TICKER, 71_000, 40, datetime(2025, 1, 15, 0, 1, tzinfo=UTC))
    assert execution.poll_fills(OPEN_AT)["polled"] == 1
    assert _order(order_id).filled_quantity == 8 and _order(order_id).state == "PARTIALLY_FILLED"
    execution.poll_fills(OPEN_AT)  # no new bar: nothing new
    assert _order(order_id).filled_quantity == 8
    add_bar(TICKER, 72_000, 1000, datetime(2025, 1, 15, 0, 2, tzinfo=UTC))
    execution.poll_fills(OPEN_AT)
    order = _order(order_id)
    assert order.state == "FILLED" and order.filled_quantity == 12
    prices = [Decimal(70_070), Decimal(71_071), Decimal(72_072)]
    assert order.avg_fill_price == (sum(prices) * 4 / 12).quantize(Decimal("0.000001"))
    with session_scope() as session:
        fills = repository.fills_for_order(session, order_id)
        assert [f.cumulative_quantity for f in fills] == [4, 8, 12]
        positions = service.portfolio_service.positions(session, uid, "paper")
        assert positions[0].quantity == 12


def test_user_kill_switch_stops_queued_orders_within_one_cycle(client):
    uid = _user(client)
    add_stock()
    order_id = execution._decide_for_signal(uid, add_signal(), OPEN_AT)
    assert _order(order_id).state == "PENDING"
    with session_scope() as session:
        session.get(TradingSettings, uid).kill_switch = True
    assert execution.submit_order(order_id, OPEN_AT) == "killed"  # the next task run refuses to send it
    assert _order(order_id).state == "FAILED" and _count(PaperOrder) == 0
    # New signals are rejected by the rule and recorded.
    rejected = execution.place_for_signal(uid, add_signal(bar_ts=datetime(2025, 1, 15, tzinfo=UTC)), OPEN_AT)
    assert _order(rejected).state == "REJECTED" and "user_kill_switch" in _order(rejected).reason
    assert _count(RiskEvent, RiskEvent.rule == "user_kill_switch", RiskEvent.decision == "REJECTED") == 1


def test_global_kill_switch_stops_every_user(client):
    uid = _user(client)
    add_stock()
    order_id = execution._decide_for_signal(uid, add_signal(), OPEN_AT)
    with session_scope() as session:
        session.add(SystemFlag(key=GLOBAL_KILL_SWITCH, enabled=True, reason="test"))
    assert execution.submit_order(order_id, OPEN_AT) == "killed" and _count(PaperOrder) == 0
    rejected = execution.place_for_signal(uid, add_signal(bar_ts=datetime(2025, 1, 15, tzinfo=UTC)), OPEN_AT)
    assert "global_kill_switch" in _order(rejected).reason


def test_worker_dying_after_the_venue_accepted_is_reconciled_to_one_order(client):
    uid = _user(client)
    add_stock()
    order_id = execution._decide_for_signal(uid, add_signal(), OPEN_AT)
    claimed = utcnow()
    with session_scope() as session:
        assert repository.claim_for_submit(session, order_id, claimed)
        request = service.order_request(session.get(TradingOrder, order_id))
    PaperBroker(uid).submit(request)  # accepted; the worker dies before recording the answer
    # Within the claim lease nothing happens; after it, the venue's books settle it without a resend.
    assert execution.reconcile_all(claimed + timedelta(seconds=10))["linked"] == 0
    counts = execution.reconcile_all(claimed + timedelta(minutes=10))
    assert counts["linked"] == 1 and counts["resent"] == 0
    assert _count(PaperOrder) == 1 and _order(order_id).state == "FILLED"


def test_forgotten_pending_order_is_sent_by_reconciliation(client):
    uid = _user(client)
    add_stock()
    order_id = execution._decide_for_signal(uid, add_signal(), OPEN_AT)  # the submit task was never queued
    assert execution.reconcile_all(OPEN_AT)["sent"] == 1
    assert _order(order_id).state == "FILLED" and _count(PaperOrder) == 1


def test_resting_limit_order_is_cancelled(client):
    uid = _user(client)
    add_stock(close=70_000)
    with session_scope() as session:
        settings = repository.get_settings_row(session, uid)
        ctx_checks = []  # a limit far below the market never fills
        order = service.create_order(
            session, user_id=uid, client_order_id=f"u{uid}-m-limit", signal_id=None, broker="paper", ticker=TICKER,
            side="BUY", quantity=3, limit_price=Decimal(68_000), ref=Decimal(70_000), checks=ctx_checks,
            extra={}, now=OPEN_AT)
        assert settings is not None
        order_id = order.id
    assert execution.submit_order(order_id, OPEN_AT) == "submitted"
    assert _order(order_id).state == "SUBMITTED"
    assert execution.cancel_order(order_id, OPEN_AT) == "CANCELLED"
    with session_scope() as session:
        paper = session.scalars(select(PaperOrder)).one()
        assert paper.cancelled and paper.filled_quantity == 0


def test_broker_reject_is_recorded_and_counts_towards_cooldown(client):
    uid = _user(client, failures_before_cooldown=1)
    add_stock(close=70_000)
    with session_scope() as session:
        order = service.create_order(
            session, user_id=uid, client_order_id=f"u{uid}-m-sell", signal_id=None, broker="paper", ticker=TICKER,
            side="SELL", quantity=3, limit_price=None, ref=Decimal(70_000), checks=[], extra={}, now=OPEN_AT)
        order_id = order.id
    assert execution.submit_order(order_id, OPEN_AT) == "rejected"  # nothing to sell at the venue
    assert _order(order_id).state == "REJECTED" and _order(order_id).reason.startswith("broker:")
    rejected = execution.place_for_signal(uid, add_signal(), OPEN_AT)
    assert "failure_cooldown" in _order(rejected).reason


def test_an_order_s_log_lines_carry_its_signal_id(client):
    from tests.ops.test_logging import capture

    _user(client)
    add_stock(close=70_000, volume=1_000_000)
    signal_id = add_signal(confidence=0.9)
    with capture() as lines:
        [order_id] = execution.orders_for_signals([signal_id], OPEN_AT)
    timeline = [line for line in lines if line.get("order_id") == order_id]
    assert {"order decided for signal", "order submission: submitted"} <= {line["message"] for line in timeline}
    assert all(line["signal_id"] == signal_id for line in timeline)
