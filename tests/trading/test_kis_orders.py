"""Orders through the KIS paper adapter against the loopback KIS fake: lost answers, ccld fills, notices."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_order_fill import TradingOrderFill
from signalhub.trading import execution
from tests.fakes.kis import FakeKis
from tests.helpers import auth_headers
from tests.trading.support import OPEN_AT, add_signal, add_stock, opt_in_direct, user_id


@pytest.fixture
def fake(env):
    with FakeKis() as kis:
        for name, value in kis.settings_env(kis.add_app(paper=True)).items():
            if name.endswith(("_BASE_URL", "_WS_URL")):
                env.setenv(name, value)
        kis.rates["paper"] = 1000  # this test is about orders, not the per-second bucket
        kis.set_price("005930", 70_000)
        yield kis


def _kis_user(client, fake) -> int:
    creds = fake.add_app(paper=True, cash=50_000_000)
    headers = auth_headers(client, "kisuser@example.com")
    body = {"environment": "paper", "app_key": creds.app_key, "app_secret": creds.app_secret,
            "account_no": creds.account_no, "product_code": creds.product_code, "hts_id": creds.hts_id}
    assert client.put("/api/v1/broker/credentials", json=body, headers=headers).status_code == 200
    uid = user_id("kisuser@example.com")
    opt_in_direct(uid)
    add_stock(close=70_000)
    return uid


def _order(order_id: int) -> TradingOrder:
    with session_scope() as session:
        order = session.get(TradingOrder, order_id)
        session.expunge(order)
        return order


def test_answer_lost_after_accept_is_reconciled_to_exactly_one_order(client, fake):
    uid = _kis_user(client, fake)
    fake.drop_response_after_accept(1)
    order_id = execution.place_for_signal(uid, add_signal(), OPEN_AT)
    order = _order(order_id)
    assert (order.state, order.outcome_unknown, order.broker_order_no) == ("SUBMITTED", True, None)
    assert len(fake.orders) == 1
    counts = execution.reconcile_all(utcnow())
    assert counts["linked"] == 1 and counts["resent"] == 0
    order = _order(order_id)
    assert order.broker_order_no == fake.orders[0].order_no and not order.outcome_unknown
    execution.reconcile_all(utcnow())  # nothing left in doubt: no second order
    assert len(fake.orders) == 1


def test_concurrent_submissions_of_one_signal_send_one_kis_order(client, fake):
    uid = _kis_user(client, fake)
    signal_id = add_signal()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = set(pool.map(lambda _: execution.place_for_signal(uid, signal_id, OPEN_AT), range(200)))
    assert len(results) == 1 and len(fake.orders) == 1
    assert _order(results.pop()).broker_order_no == fake.orders[0].order_no


def test_ccld_polling_partial_then_filled_and_notices_do_not_double_count(client, fake):
    uid = _kis_user(client, fake)
    order_id = execution.place_for_signal(uid, add_signal(), OPEN_AT)
    order = _order(order_id)
    # 50,000,000 x 10% x 0.9 = 4,500,000 -> 64 shares at 70,000.
    assert order.state == "SUBMITTED" and order.broker == "kis_paper" and order.quantity == 64
    fake.fill(order.broker_order_no, 5, 70_000)
    execution.poll_fills(utcnow())
    assert (_order(order_id).state, _order(order_id).filled_quantity) == ("PARTIALLY_FILLED", 5)
    fake.fill(order.broker_order_no, 59, 70_600)
    # The second fill arrives first as an encrypted notice; polling then finds nothing new.
    key, iv = fake.notice_cipher(paper=True)
    added = sum(execution.apply_notice_frame("kis_paper", frame, key, iv) for frame in fake.notice_frames)
    assert added == 1
    done = _order(order_id)
    assert (done.state, done.filled_quantity) == ("FILLED", 64)
    assert done.avg_fill_price == ((Decimal(70_000) * 5 + Decimal(70_600) * 59) / 64).quantize(Decimal("0.000001"))
    execution.poll_fills(utcnow())
    with session_scope() as session:
        fills = session.scalars(select(TradingOrderFill).order_by(TradingOrderFill.cumulative_quantity)).all()
        assert [(f.quantity, f.source) for f in fills] == [(5, "ccld"), (59, "notice")]
        assert session.scalar(select(func.count()).select_from(TradingOrderFill)) == 2
