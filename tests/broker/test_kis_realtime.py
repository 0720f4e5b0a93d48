"""The real-time consumer against the fake KIS WebSocket: symbols follow alert rules, ticks become bars,
reconnects resubscribe, REST polling covers outages and overflow, one leader at a time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from signalhub.broker.kis.client import KisClient
from signalhub.broker.kis.leader import FileLease, RedisLease
from signalhub.broker.kis.realtime import RealtimeConsumer, parse_trade_frame
from signalhub.broker.kis.tasks import evaluate_realtime_bars
from signalhub.core.config import PROJECT_ROOT, get_settings
from signalhub.core.ratelimit import get_redis
from signalhub.models import AlertRule, PriceBar, Stock, User, WatchlistItem
from tests.fakes.kis import KST, FakeKis, Trade

STOCKS = ("005930.KS", "000660.KS", "035420.KS")


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` until it is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Running:
    """A consumer running on its own event loop in a thread, stopped on close()."""

    def __init__(self, consumer: RealtimeConsumer) -> None:
        self.consumer = consumer
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        self._ready.wait(5)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self.consumer.run(self._stop)

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        assert not self._thread.is_alive()


@pytest.fixture
def realtime_env(kis_env):
    """Fast timings for the consumer."""
    for name, value in {"REALTIME_SYMBOLS_REFRESH_SECONDS": "0.3", "REALTIME_POLL_SECONDS": "0.3",
                        "REALTIME_RECONNECT_SECONDS": "0.3", "KIS_PAPER_REQUESTS_PER_SECOND": "20",
                        "INTRADAY_INTERVAL": "1m"}.items():
        kis_env.setenv(name, value)
    get_settings.cache_clear()
    return kis_env


@pytest.fixture
def paper(fake: FakeKis):
    """A paper credential on the fake, with a REST limit matching the consumer's."""
    fake.rates["paper"] = 20
    return fake.add_app(paper=True)


def _user(db_session, name: str) -> User:
    user = User(email=f"{name}@example.com", username=name, password_hash="x")
    db_session.add(user)
    db_session.flush()
    return user


def _arrange(db_session) -> tuple[User, User]:
    for ticker in (*STOCKS, "AAPL"):
        db_session.add(Stock(ticker=ticker, name=ticker, exchange="XNYS" if ticker == "AAPL" else "XKRX",
                             currency="USD" if ticker == "AAPL" else "KRW"))
    alice, bob = _user(db_session, "alice"), _user(db_session, "bob")
    db_session.add(AlertRule(user_id=alice.id, name="samsung", tickers=["005930.KS", "AAPL"]))
    db_session.add(AlertRule(user_id=bob.id, name="my watchlist", tickers=[], use_watchlist=True))
    db_session.add(AlertRule(user_id=bob.id, name="paused", tickers=["035420.KS"], is_active=False))
    db_session.add(WatchlistItem(user_id=bob.id, ticker="000660.KS"))
    db_session.commit()
    return alice, bob


def _bar(db_session, ticker: str, ts: datetime) -> PriceBar | None:
    db_session.expire_all()
    return db_session.get(PriceBar, (ticker, "1m", ts))


def _trades(*items: tuple[int, int, int, float, int]) -> list[Trade]:
    return [Trade(price, volume, datetime(2026, 3, 9, h, m, s, tzinfo=KST)) for h, m, s, price, volume in items]


def test_trade_frames_hold_count_records_of_46_fields():
    record = ["005930", "093005", "70100"] + ["0"] * 9 + ["15"] + ["0"] * 20 + ["20260309"] + ["0"] * 12
    extra = ["005930", "093006", "70200"] + ["0"] * 9 + ["7"] + ["0"] * 20 + ["20260309"] + ["0"] * 12
    ticks = parse_trade_frame("0|H0STCNT0|002|" + "^".join(record + extra))
    assert [(t.code, t.price, t.volume) for t in ticks] == [("005930", 70100.0, 15.0), ("005930", 70200.0, 7.0)]
    assert ticks[0].at == datetime(2026, 3, 9, 0, 30, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_trade_frame("0|H0STCNT0|002|" + "^".join(record))


def test_symbols_follow_rules_and_ticks_become_bars(realtime_env, fake, paper, db_session, tmp_path):
    alice, _bob = _arrange(db_session)
    fake.ping_seconds = 0.2
    evaluated: list[dict[str, str]] = []

    def evaluate(bars: dict[str, str], interval: str) -> None:
        evaluated.append(bars)
        evaluate_realtime_bars(bars, interval)  # the real task, run inline

    client = KisClient(paper)
    running = Running(RealtimeConsumer(client, ws_url=fake.ws_url(True), lease=FileLease(tmp_path / "l", 3),
                                       enqueue_evaluation=evaluate))
    try:
        wanted = {("H0STCNT0", "005930"), ("H0STCNT0", "000660")}
        wait_until(lambda: fake.subscriptions(True) == wanted, what="subscriptions from the rules")
        # One batched frame with three trades in the 10:00 KST minute.
        assert fake.push_trades("005930", _trades((10, 0, 5, 70_000, 10), (10, 0, 30, 70_500, 20),
                                                  (10, 0, 59, 69_900, 5))) == 1
        bar_ts = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
        wait_until(lambda: _bar(db_session, "005930.KS", bar_ts) is not None, what="the 10:00 bar")
        bar = _bar(db_session, "005930.KS", bar_ts)
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.source) == (
            70_000, 70_500, 69_900, 69_900, 35, "kis")
        assert evaluated == []
        # The next minute's first trade completes the 10:00 bar: evaluated once, however many ticks follow.
        fake.push_trades("005930", _trades((10, 1, 2, 70_100, 3)))
        fake.push_trades("005930", _trades((10, 1, 40, 70_200, 4)))
        wait_until(lambda: evaluated, what="evaluation of the completed bar")
        wait_until(lambda: (_bar(db_session, "005930.KS", datetime(2026, 3, 9, 1, 1, tzinfo=UTC)) or PriceBar()
                            ).volume == 7, what="the 10:01 bar")
        time.sleep(1.2)
        assert evaluated == [{"005930.KS": bar_ts.isoformat()}]

        # Alice drops her rule, Bob re-activates his paused one: the subscriptions follow.
        for rule in db_session.scalars(select(AlertRule)):
            rule.is_active = rule.user_id != alice.id
        db_session.commit()
        wait_until(lambda: fake.subscriptions(True) == {("H0STCNT0", "000660"), ("H0STCNT0", "035420")},
                   what="subscriptions after the rules changed")
        assert any(entry[2:] == ("2", "H0STCNT0", "005930") for entry in fake.subscribe_log)  # unsubscribed
        wait_until(lambda: fake.pingpong_echoes >= 1, what="PINGPONG echoed")
        assert fake.ws_connects == 1
    finally:
        running.close()
        client.close()


def test_dropped_websocket_reconnects_and_resubscribes_the_same_set(realtime_env, fake, paper, db_session, tmp_path):
    _arrange(db_session)
    client = KisClient(paper)
    consumer = RealtimeConsumer(client, ws_url=fake.ws_url(True), lease=FileLease(tmp_path / "l", 3),
                                enqueue_evaluation=lambda bars, interval: None)
    running = Running(consumer)
    try:
        wait_until(lambda: len(fake.subscriptions(True)) == 2, what="first subscriptions")
        before = fake.subscriptions(True)
        approvals = len(fake.approval_keys)
        assert fake.drop_websockets() == 1
        wait_until(lambda: fake.ws_connects == 2 and fake.subscriptions(True) == before, what="resubscription")
        assert len(fake.approval_keys) == approvals + 1  # a fresh approval key per connection
        fake.push_trades("000660", _trades((11, 5, 0, 200_000, 9)))
        wait_until(lambda: _bar(db_session, "000660.KS", datetime(2026, 3, 9, 2, 5, tzinfo=UTC)) is not None,
                   what="a tick after the reconnect")
    finally:
        running.close()
        client.close()


def test_websocket_failure_falls_back_to_rest_polling(realtime_env, fake, paper, db_session, tmp_path):
    _arrange(db_session)
    fake.set_price("005930", 71_000, volume=1000)
    fake.set_price("000660", 201_000, volume=500)
    fake.refuse_websockets = True
    client = KisClient(paper)
    consumer = RealtimeConsumer(client, ws_url=fake.ws_url(True), lease=FileLease(tmp_path / "l", 3),
                                enqueue_evaluation=lambda bars, interval: None, poll_only_when_open=False)
    running = Running(consumer)
    try:
        wait_until(lambda: REGISTRY.get_sample_value("signalhub_realtime_fallback_active") == 1, what="fallback")
        wait_until(lambda: db_session.scalars(select(PriceBar).where(PriceBar.ticker == "005930.KS")).first(),
                   what="a bar from REST polling")
        polled = {r["query"]["FID_INPUT_ISCD"] for r in fake.requests if "inquire-price" in r["path"]}
        assert polled == {"005930", "000660"}
        fake.refuse_websockets = False
        wait_until(lambda: REGISTRY.get_sample_value("signalhub_realtime_connected") == 1, what="reconnection")
        assert REGISTRY.get_sample_value("signalhub_realtime_fallback_active") == 0
        # Connected again: nothing left to poll.
        time.sleep(0.5)
        count = len([r for r in fake.requests if "inquire-price" in r["path"]])
        time.sleep(1.0)
        assert len([r for r in fake.requests if "inquire-price" in r["path"]]) == count
    finally:
        running.close()
        client.close()


def test_symbols_beyond_the_cap_or_refused_are_polled(realtime_env, fake, paper, db_session, tmp_path, caplog):
    _arrange(db_session)
    rule = db_session.scalars(select(AlertRule).where(AlertRule.name == "paused")).one()
    rule.is_active = True
    db_session.commit()
    for code in ("005930", "000660", "035420"):
        fake.set_price(code, 50_000)
    realtime_env.setenv("KIS_WS_MAX_SUBSCRIPTIONS", "2")
    get_settings.cache_clear()
    fake.max_subscriptions = 1  # the server refuses the second one (OPSP0008)
    client = KisClient(paper)
    consumer = RealtimeConsumer(client, ws_url=fake.ws_url(True), lease=FileLease(tmp_path / "l", 3),
                                enqueue_evaluation=lambda bars, interval: None, poll_only_when_open=False)
    running = Running(consumer)
    try:
        wait_until(lambda: consumer.refused, what="the refused subscription")
        assert fake.subscriptions(True) == {("H0STCNT0", "000660")}
        assert consumer.refused == {"005930"}
        # 035420 is beyond our cap of 2, 005930 refused by the server: both polled, 000660 not.
        wait_until(lambda: {r["query"]["FID_INPUT_ISCD"] for r in fake.requests if "inquire-price" in r["path"]}
                   == {"005930", "035420"}, what="polling of the overflow")
        assert "more KRX symbols than WebSocket subscriptions" in caplog.text
    finally:
        running.close()
        client.close()


def test_file_lease_allows_one_holder_per_host(tmp_path: Path):
    first, second = FileLease(tmp_path / "leader.lock", 3), FileLease(tmp_path / "leader.lock", 3)
    assert first.acquire() and not second.acquire()
    assert first.renew()
    first.release()
    assert second.acquire() and not first.acquire()
    second.release()


needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")


@needs_redis
def test_redis_lease_is_exclusive_and_only_the_holder_renews():
    client = get_redis()
    a, b = RedisLease(client, 1.0, key="signalhub:test:lease"), RedisLease(client, 1.0, key="signalhub:test:lease")
    assert a.acquire() and not b.acquire() and not b.renew()
    b.release()  # not the holder: nothing happens
    assert a.renew()
    time.sleep(1.2)  # a stopped renewing
    assert b.acquire() and not a.renew()
    b.release()


_LEADER = """
from signalhub.broker.kis.realtime import run_forever
run_forever()
"""


@needs_redis
def test_leader_dies_and_another_instance_takes_over_within_the_ttl(realtime_env, fake, paper, db_session, tmp_path):
    _arrange(db_session)
    ttl = 2.0
    env = {**os.environ, **fake.settings_env(paper), "REALTIME_LEADER_TTL_SECONDS": str(ttl),
           "REALTIME_SYMBOLS_REFRESH_SECONDS": "0.3", "KIS_PAPER_REQUESTS_PER_SECOND": "20",
           "REALTIME_METRICS_PORT": "0", "PYTHONPATH": f"{PROJECT_ROOT / 'backend'}:{PROJECT_ROOT}"}
    leader = subprocess.Popen([sys.executable, "-m", "signalhub.cli", "realtime"], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = KisClient(paper)
    running = None
    try:
        wait_until(lambda: len(fake.subscriptions(True)) == 2, timeout=30, what="the first leader's subscriptions")
        standby = RealtimeConsumer(client, ws_url=fake.ws_url(True), lease=RedisLease(get_redis(), ttl),
                                   enqueue_evaluation=lambda bars, interval: None)
        running = Running(standby)
        time.sleep(ttl)  # the standby keeps trying while the leader renews
        assert not standby.is_leader and fake.live_sessions(True) == 1
        leader.send_signal(signal.SIGKILL)  # dies without releasing the lock
        leader.wait(10)
        died = time.monotonic()
        wait_until(lambda: standby.is_leader and len(fake.subscriptions(True)) == 2, timeout=ttl + 5,
                   what="the standby taking over")
        took = time.monotonic() - died
        print(f"takeover after {took:.2f}s (ttl {ttl}s)")
        assert took <= ttl + ttl / 3 + 1.0, took  # the TTL, one retry period, and the connection
        assert fake.ws_connects == 2
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(10)
        if running is not None:
            running.close()
        client.close()


def test_realtime_command_needs_a_kis_credential(env):
    from typer.testing import CliRunner

    from signalhub.cli import app

    env.delenv("KIS_APP_KEY", raising=False)
    assert CliRunner().invoke(app, ["realtime"]).exit_code == 2


def test_run_starts_the_consumer_only_with_a_kis_key(env):
    from signalhub.cli import _process_specs

    env.delenv("KIS_APP_KEY", raising=False)
    assert "realtime" not in dict(_process_specs("127.0.0.1", 8000, 8001))
    env.setenv("KIS_APP_KEY", "PSkey")
    get_settings.cache_clear()
    assert dict(_process_specs("127.0.0.1", 8000, 8001))["realtime"][-2:] == ["signalhub.cli", "realtime"]
