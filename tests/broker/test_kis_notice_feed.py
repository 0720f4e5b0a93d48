"""Users' KIS fill notices through the real-time leader, against the fake KIS WebSocket: fills reach orders
and the ledger, only opted-in KIS users with an HTS ID are subscribed, drops resubscribe, opt-outs close."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from signalhub.broker.kis.client import KisClient, KisCredentials
from signalhub.broker.kis.leader import FileLease
from signalhub.broker.kis.notice_feed import NoticeFeed
from signalhub.broker.kis.realtime import RealtimeConsumer
from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.models.portfolio_transaction import PortfolioTransaction
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_order_fill import TradingOrderFill
from signalhub.trading import execution
from tests.broker.test_kis_realtime import Running, wait_until
from tests.fakes.kis import FakeKis
from tests.helpers import auth_headers
from tests.trading.support import OPEN_AT, add_signal, add_stock, opt_in_direct, user_id

NOTICE = "H0STCNI9"


@pytest.fixture
def notice_env(kis_env, fake: FakeKis):
    """Fast refresh/reconnect timings; KIS answers as fast as the orders are sent."""
    for name, value in {"REALTIME_SYMBOLS_REFRESH_SECONDS": "0.3", "REALTIME_POLL_SECONDS": "0.3",
                        "REALTIME_RECONNECT_SECONDS": "0.3", "KIS_PAPER_REQUESTS_PER_SECOND": "1000"}.items():
        kis_env.setenv(name, value)
    get_settings.cache_clear()
    fake.rates["paper"] = 1000
    fake.set_price("005930", 70_000)
    add_stock(close=70_000)
    return kis_env


def _kis_user(client, fake: FakeKis, email: str, *, hts_id: bool = True, opted_in: bool = True) -> tuple[
        int, KisCredentials, dict[str, str]]:
    creds = fake.add_app(paper=True, cash=50_000_000)
    headers = auth_headers(client, email)
    body = {"environment": "paper", "app_key": creds.app_key, "app_secret": creds.app_secret,
            "account_no": creds.account_no, "product_code": creds.product_code,
            "hts_id": creds.hts_id if hts_id else ""}
    assert client.put("/api/v1/broker/credentials", json=body, headers=headers).status_code == 200
    uid = user_id(email)
    if opted_in:
        opt_in_direct(uid)
    return uid, creds, headers


def _leader(fake: FakeKis, tmp_path) -> tuple[Running, KisClient]:
    """The real-time process as the leader: the platform market feed plus the users' notice feed."""
    platform = KisClient(fake.add_app(paper=True))
    consumer = RealtimeConsumer(platform, lease=FileLease(tmp_path / "leader.lock", 3),
                                enqueue_evaluation=lambda bars, interval: None, notice_feed=NoticeFeed())
    return Running(consumer), platform


def _order(order_id: int) -> TradingOrder:
    with session_scope() as session:
        order = session.get(TradingOrder, order_id)
        assert order is not None
        session.expunge(order)
        return order


def test_a_fill_arrives_through_the_notice_subscription(notice_env, fake, client, tmp_path):
    uid, creds, _ = _kis_user(client, fake, "kisuser@example.com")
    running, platform = _leader(fake, tmp_path)
    try:
        wait_until(lambda: fake.subscriptions(True) == {(NOTICE, creds.hts_id)}, what="the notice subscription")
        order_id = execution.place_for_signal(uid, add_signal(), OPEN_AT)
        assert order_id is not None
        order = _order(order_id)
        assert (order.state, order.broker, order.quantity) == ("SUBMITTED", "kis_paper", 64)
        fake.fill(order.broker_order_no, 5, 70_000)
        wait_until(lambda: _order(order_id).state == "PARTIALLY_FILLED", what="the partial fill")
        fake.fill(order.broker_order_no, 59, 70_600)
        wait_until(lambda: _order(order_id).state == "FILLED", what="the final fill")
    finally:
        running.close()
        platform.close()
    done = _order(order_id)
    assert done.filled_quantity == 64
    assert done.avg_fill_price == ((Decimal(70_000) * 5 + Decimal(70_600) * 59) / 64).quantize(Decimal("0.000001"))
    with session_scope() as session:
        fills = session.scalars(select(TradingOrderFill).order_by(TradingOrderFill.cumulative_quantity)).all()
        assert [(f.quantity, f.source) for f in fills] == [(5, "notice"), (59, "notice")]
        trades = session.scalars(select(PortfolioTransaction).where(PortfolioTransaction.user_id == uid)
                                 .order_by(PortfolioTransaction.id)).all()
        assert [(t.ticker, t.quantity, t.price) for t in trades] == [
            ("005930.KS", Decimal(5), Decimal(70_000)), ("005930.KS", Decimal(59), Decimal(70_600))]
        assert [t.external_ref for t in trades] == [f"order-fill:{f.id}" for f in fills]


def test_only_opted_in_kis_users_with_an_hts_id_are_subscribed_and_opt_out_closes(notice_env, fake, client,
                                                                                    tmp_path):
    _, alice, alice_headers = _kis_user(client, fake, "alice@example.com")
    _kis_user(client, fake, "bob@example.com", opted_in=False)
    _kis_user(client, fake, "carol@example.com", hts_id=False)
    running, platform = _leader(fake, tmp_path)
    try:
        wait_until(lambda: fake.subscriptions(True) == {(NOTICE, alice.hts_id)}, what="alice's subscription")
        time.sleep(1.0)  # three refresh cycles: nobody else joins
        assert fake.subscriptions(True) == {(NOTICE, alice.hts_id)}
        assert fake.live_sessions(True) == 2  # the market feed and alice: no link for bob (opted out) or carol
        subscribed_keys = {key for _, _, _, tr_id, key in fake.subscribe_log if tr_id == NOTICE}
        assert subscribed_keys == {alice.hts_id}  # neither bob (opted out) nor carol (no HTS ID)
        assert client.post("/api/v1/trading/opt-out", headers=alice_headers).status_code == 200
        wait_until(lambda: fake.subscriptions(True) == set() and fake.live_sessions(True) == 1,
                   what="alice's link closing after the opt-out")
        assert client.post("/api/v1/trading/opt-in", json={"mode": "paper"}, headers=alice_headers).status_code == 200
        wait_until(lambda: fake.subscriptions(True) == {(NOTICE, alice.hts_id)}, what="the subscription again")
    finally:
        running.close()
        platform.close()


def test_a_dropped_connection_resubscribes_and_later_fills_still_arrive(notice_env, fake, client, tmp_path):
    uid, creds, _ = _kis_user(client, fake, "kisuser@example.com")
    running, platform = _leader(fake, tmp_path)
    try:
        wait_until(lambda: (NOTICE, creds.hts_id) in fake.subscriptions(True), what="the notice subscription")
        connects = fake.ws_connects
        assert fake.drop_websockets() == 2  # the market feed and the notice link
        wait_until(lambda: fake.ws_connects >= connects + 2 and fake.subscriptions(True) == {(NOTICE, creds.hts_id)},
                   what="resubscription after the drop")
        order_id = execution.place_for_signal(uid, add_signal(), OPEN_AT)
        assert order_id is not None
        order = _order(order_id)
        fake.fill(order.broker_order_no, order.quantity, 70_000)
        wait_until(lambda: _order(order_id).state == "FILLED", what="the fill after the reconnect")
    finally:
        running.close()
        platform.close()
    notice_subscribes = [entry for entry in fake.subscribe_log if entry[3] == NOTICE and entry[2] == "1"]
    assert len(notice_subscribes) == 2 and len({sid for sid, *_ in notice_subscribes}) == 2


def test_a_standby_instance_holds_no_notice_subscription(notice_env, fake, client, tmp_path):
    _, creds, _ = _kis_user(client, fake, "kisuser@example.com")
    leader, platform = _leader(fake, tmp_path)
    try:
        wait_until(lambda: fake.subscriptions(True) == {(NOTICE, creds.hts_id)}, what="the leader's subscription")
        standby, standby_platform = _leader(fake, tmp_path)  # same lock file: waits as a standby
        try:
            time.sleep(1.0)
            assert not standby.consumer.is_leader
            notice_sessions = {sid for sid, _, _, tr_id, _ in fake.subscribe_log if tr_id == NOTICE}
            assert len(notice_sessions) == 1 and fake.live_sessions(True) == 2
        finally:
            standby.close()
            standby_platform.close()
    finally:
        leader.close()
        platform.close()
